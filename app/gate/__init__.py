"""The gate: every protected request asks it who is calling.

It resolves the request to a Principal through verifiers that credential features register at
start-up (it imports none of them), then enforces what the view declared with ``require``.
"""

from app.gate.decorators import (
    FeatureDisabled,
    MfaRequired,
    TenantForbidden,
    current_principal,
    current_principal_user,
    require,
)
from app.gate.principal import Principal, RateLimitPolicy
from app.gate.registry import CredentialRejected, Slot, Verifier, register_verifier

__all__ = [
    "CredentialRejected",
    "FeatureDisabled",
    "MfaRequired",
    "Principal",
    "RateLimitPolicy",
    "Slot",
    "TenantForbidden",
    "Verifier",
    "current_principal",
    "current_principal_user",
    "register_verifier",
    "require",
]
