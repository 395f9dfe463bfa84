"""Every model module, imported in one place so the metadata is complete (migrations, tests)."""

from app.accesskeys.models import AccessKey, AccessKeyAccount, AccessKeyRole
from app.apikeys.models import ApiKey
from app.audit.models import AuditEvent
from app.firstparty.models import FamilyResetJob
from app.identity.models import (
    BackupCode,
    Device,
    Family,
    Invitation,
    InviteCode,
    User,
    UserRole,
    WebSession,
)
from app.mail.models import OutboxMessage
from app.oauth2.models import AuthorizationCode, OAuthClient, OAuthToken
from app.oauth2.oidc.models import SigningKey
from app.partners.models import OrgAdminToken, PartnerAssertion
from app.ratelimit import rate_limit_counters
from app.resources.models import (
    Account,
    CloudAccount,
    Scan,
    Sync,
    Tag,
    Task,
    Transaction,
    Valuation,
    transaction_tags,
)
from app.secretkeys.models import RevealLink, SecretKey, SecretKeyToken, UserIpRestriction
from app.sso.models import SsoCode, SsoIdentity, SsoProvider

__all__ = [
    "AccessKey",
    "AccessKeyAccount",
    "AccessKeyRole",
    "Account",
    "ApiKey",
    "AuditEvent",
    "AuthorizationCode",
    "BackupCode",
    "CloudAccount",
    "Device",
    "Family",
    "FamilyResetJob",
    "Invitation",
    "InviteCode",
    "OAuthClient",
    "OAuthToken",
    "OrgAdminToken",
    "OutboxMessage",
    "PartnerAssertion",
    "RevealLink",
    "Scan",
    "SecretKey",
    "SecretKeyToken",
    "SigningKey",
    "SsoCode",
    "SsoIdentity",
    "SsoProvider",
    "Sync",
    "Tag",
    "Task",
    "Transaction",
    "User",
    "UserIpRestriction",
    "UserRole",
    "Valuation",
    "WebSession",
    "rate_limit_counters",
    "transaction_tags",
]
