"""The OpenID Provider (OpenID Connect Core 1.0 on Authlib's ``authlib.oidc.core``): signing
keys and their rotation (``keys``), the claims about a user (``claims``), ID tokens
(``id_tokens``), the Authlib grant extensions (``extensions``) and RP-initiated logout
(``logout``). Services: no request, session or templates here."""
