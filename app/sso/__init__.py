"""Sign-in through external OpenID Connect providers (Authlib's client): providers, identities
linked to users by (issuer, subject), the web flow, and the mobile/desktop SSO of Sure."""
