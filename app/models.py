"""Every model module, imported in one place so the metadata is complete (migrations, tests)."""

from app.apikeys.models import ApiKey
from app.audit.models import AuditEvent
from app.firstparty.models import FamilyResetJob
from app.identity.models import (
    BackupCode,
    Device,
    Family,
    InviteCode,
    User,
    UserRole,
    WebSession,
)
from app.oauth2.models import AuthorizationCode, OAuthClient, OAuthToken
from app.ratelimit import rate_limit_counters
from app.resources.models import Account, Sync, Tag, Transaction, Valuation, transaction_tags

__all__ = [
    "Account",
    "ApiKey",
    "AuditEvent",
    "AuthorizationCode",
    "BackupCode",
    "Device",
    "Family",
    "FamilyResetJob",
    "InviteCode",
    "OAuthClient",
    "OAuthToken",
    "Sync",
    "Tag",
    "Transaction",
    "User",
    "UserRole",
    "Valuation",
    "WebSession",
    "rate_limit_counters",
    "transaction_tags",
]
