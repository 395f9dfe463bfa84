"""Families (tenants), users and roles: password sign-in, browser sessions, second factors
(mfa), devices and invite codes."""
