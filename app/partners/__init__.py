"""Surfsight partner organisations: partners create organisations (tenants they own but do not
join), sign HS256 assertions with each organisation's derived ssoSecret, and exchange them for
24-hour organisation admin tokens bound to the organisation and the region that issued them."""
