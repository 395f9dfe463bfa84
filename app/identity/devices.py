"""The devices a user signs in from on Sure's mobile apps."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update

from app.extensions import db
from app.identity.models import DEVICE_TYPES, Device, User

DEVICE_FIELDS = ("device_id", "device_name", "device_type", "os_version", "app_version")


def valid_device(data: object) -> dict[str, str] | None:
    """Sure's rule: all five fields present and non-blank, device_type ios|android|web."""
    if not isinstance(data, dict):
        return None
    values: dict[str, str] = {}
    for key in DEVICE_FIELDS:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            return None
        values[key] = value
    if values["device_type"] not in DEVICE_TYPES:
        return None
    if any(len(value) > 255 for value in values.values()):
        return None
    return {key: value.strip() for key, value in values.items()}


def upsert_device(user: User, info: dict[str, str], *, now: datetime) -> Device:
    """Find the user's device by device_id or create it; overwrite its details and
    last_seen_at. Part of the caller's unit of work."""
    device = db.session.scalar(
        select(Device).where(Device.user_id == user.id, Device.device_id == info["device_id"])
    )
    if device is None:
        device = Device(user_id=user.id, device_id=info["device_id"], created_at=now)
        db.session.add(device)
    device.device_name = info["device_name"]
    device.device_type = info["device_type"]
    device.os_version = info["os_version"]
    device.app_version = info["app_version"]
    device.last_seen_at = now
    db.session.flush()
    return device


def touch_device(user_id: uuid.UUID, device_id: str, *, now: datetime) -> None:
    db.session.execute(
        update(Device)
        .where(Device.user_id == user_id, Device.device_id == device_id)
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )
