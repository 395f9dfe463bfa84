"""Families (tenants), users and their roles, second factors."""
