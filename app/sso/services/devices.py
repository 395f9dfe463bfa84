"""The device Sure's app announces when it starts a mobile SSO sign-in (contract §2.6), and
the token it gets for that device once the sign-in is done.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.audit.services import Caller
from app.extensions import db
from app.firstparty import tokens
from app.firstparty.services import mobile_user
from app.identity import devices
from app.identity.models import DEVICE_TYPES, User

# The device fields the app sends to /auth/mobile/<provider>; the first three are required.
DEVICE_FIELDS = ("device_id", "device_name", "device_type", "os_version", "app_version")
REQUIRED_DEVICE_FIELDS = DEVICE_FIELDS[:3]
DEVICE_FIELD_MAX = {"os_version": 50, "app_version": 50}  # the table's widths


def start_device(params: Mapping[str, object]) -> dict[str, str | None] | None:
    """The device the app announced at ``/auth/mobile/<provider>``: the five fields (the
    last two optional), or None when device_id, device_name or device_type is missing or
    blank (Sure's presence check; the type is judged when the device is saved) or a field is
    longer than any device field can be."""
    device: dict[str, str | None] = {}
    for key in DEVICE_FIELDS:
        value = params.get(key)
        device[key] = value.strip() if isinstance(value, str) and value.strip() else None
    if any(device[key] is None for key in REQUIRED_DEVICE_FIELDS):
        return None
    # The session cookie carries the device until the callback: nothing longer than the
    # devices table takes goes into it.
    if any(value is not None and len(value) > 255 for value in device.values()):
        return None
    return device


def saveable_device(device: object) -> dict[str, str] | None:
    """The device as the devices table takes it, or None when it cannot be saved (Sure's
    ``MobileDevice`` validations: the three required fields, device_type ios|android|web)."""
    if not isinstance(device, dict):
        return None
    info: dict[str, Any] = {key: device.get(key) for key in DEVICE_FIELDS}
    for key in REQUIRED_DEVICE_FIELDS:
        value = info[key]
        if not isinstance(value, str) or not value.strip() or len(value) > 255:
            return None
    if info["device_type"] not in DEVICE_TYPES:
        return None
    for key, limit in DEVICE_FIELD_MAX.items():
        value = info[key]
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            return None
    return info


def lock_user(user_id: uuid.UUID | None) -> User | None:
    """The user, row-locked on PostgreSQL: token issuance per user is serialised."""
    if user_id is None:
        return None
    return db.session.scalar(select(User).where(User.id == user_id).with_for_update())


def issue_token(
    user: User, device: dict[str, str], *, now: datetime, caller: Caller
) -> dict[str, Any]:
    """Sure's mobile login after the first factor: the device upserted, one live token per
    device (its earlier tokens revoked), the shared first-party client. No commit."""
    saved = devices.upsert_device(user, device, now=now)
    token = tokens.issue_device_token(user, saved.id, now=now, caller=caller)
    return {**token, "user": mobile_user(user)}
