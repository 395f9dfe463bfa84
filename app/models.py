"""Every model module, imported in one place so the metadata is complete (migrations, tests)."""

from app.audit.models import AuditEvent
from app.identity.models import Family, User
from app.oauth2.models import AuthorizationCode, OAuthClient, OAuthToken

__all__ = ["AuditEvent", "AuthorizationCode", "Family", "OAuthClient", "OAuthToken", "User"]
