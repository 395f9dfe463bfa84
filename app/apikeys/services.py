"""Personal API keys: create (one active per user and source), list, revoke, verify."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import DateTime, Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from app import crypto
from app.apikeys.models import SCOPES, SOURCES, TIERS, ApiKey
from app.apikeys.schemas import ApiKeyOut
from app.audit.services import SYSTEM, Caller, record
from app.clock import rfc3339
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db, execute_count, lookup
from app.identity.models import User


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    key: str  # plaintext, returned once


def _invalid(messages: list[str]) -> ValidationFailed:
    return ValidationFailed(messages[0], extra={"errors": messages})


def create_api_key(
    user: User,
    *,
    name: str,
    scope: str,
    source: str = "web",
    tier: str = "standard",
    expires_at: datetime | None = None,
    now: datetime,
    caller: Caller = SYSTEM,
    created_by_client_id: str | None = None,
    created_by_lineage_id: uuid.UUID | None = None,
    created_by: User | None = None,
) -> NewApiKey:
    """Create a key; an active key of the same source is revoked in the same transaction.
    A partial unique index makes two concurrent creations for one source impossible to both
    stay active: the loser gets a 409. ``created_by_client_id`` / ``created_by_lineage_id``:
    the OAuth client and token lineage the request came through, so that revoking the
    user's authorization of that client takes the key with it. ``created_by``: a tenant
    admin making the key for ``user`` (RedCloud), the audit event's actor. Commits."""
    name = (name or "").strip()
    errors = []
    if not name:
        errors.append("Name can't be blank")
    elif len(name) > 100:
        errors.append("Name is too long (maximum is 100 characters)")
    if scope not in SCOPES:
        errors.append("Scopes must be either 'read' or 'read_write'")
    if source not in SOURCES:
        errors.append(f"Source must be one of: {', '.join(SOURCES)}")
    if tier not in TIERS:
        errors.append(f"Tier must be one of: {', '.join(TIERS)}")
    if expires_at is not None and expires_at <= now:
        errors.append("Expires at must be in the future")
    if errors:
        raise _invalid(errors)

    active = (ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
    # Expired keys are retired here, so they never block a new key's source or name.
    db.session.execute(
        update(ApiKey)
        .where(*active, ApiKey.expires_at <= now)
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    replaced = db.session.scalars(select(ApiKey.id).where(*active, ApiKey.source == source)).all()
    if replaced:
        db.session.execute(
            update(ApiKey)
            .where(ApiKey.id.in_(replaced))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
    if db.session.scalar(select(ApiKey.id).where(*active, ApiKey.name == name)):
        db.session.rollback()
        raise _invalid(["Name has already been taken"])

    key = crypto.new_token(current_app.config["API_KEY_PREFIX"])
    api_key = ApiKey(
        id=uuid.uuid4(),  # known now: the audit event names it before the row is flushed
        user_id=user.id,
        family_id=user.family_id,
        name=name,
        scope=scope,
        source=source,
        tier=tier,
        key_digest=crypto.digest(key),
        display_prefix=key[:12],
        created_at=now,
        expires_at=expires_at,
        created_by_client_id=created_by_client_id,
        created_by_lineage_id=created_by_lineage_id,
    )
    db.session.add(api_key)
    record(
        "api_key.created",
        now=now,
        caller=caller,
        actor_user_id=(created_by or user).id,
        family_id=user.family_id,
        user_id=str(user.id) if created_by is not None else None,
        client_id=created_by_client_id,
        api_key_id=str(api_key.id),
        source=source,
        scope=scope,
        replaced=[str(r) for r in replaced] or None,
    )
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            "Another key was created for this source at the same time; retry", error="conflict"
        ) from exc
    return NewApiKey(api_key=api_key, key=key)


def list_api_keys(user: User, *, now: datetime) -> list[ApiKey]:
    """The user's active keys: not revoked, not expired."""
    return list(
        db.session.scalars(
            select(ApiKey)
            .where(ApiKey.user_id == user.id, ApiKey.active_at(now))
            .order_by(ApiKey.created_at.desc())
        )
    )


def revoke_api_key(
    user: User, key_id: str, *, now: datetime, caller: Caller, revoked_by: User | None = None
) -> ApiKey:
    """Revoke one of the user's own keys; anyone else's (or an unknown id) is a 404.
    ``revoked_by``: a tenant admin revoking ``user``'s key, the audit event's actor."""
    try:
        key_uuid = uuid.UUID(key_id)
    except ValueError as exc:
        raise NotFound() from exc
    api_key = db.session.scalar(
        select(ApiKey).where(
            ApiKey.id == key_uuid, ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None)
        )
    )
    if api_key is None:
        raise NotFound()
    api_key.revoked_at = now
    record(
        "api_key.revoked",
        now=now,
        caller=caller,
        actor_user_id=(revoked_by or user).id,
        family_id=user.family_id,
        user_id=str(user.id) if revoked_by is not None else None,
        api_key_id=str(api_key.id),
    )
    db.session.commit()
    return api_key


# Built once: every request with a key runs it. ``key_active`` is ApiKey.active_at at the
# bound ``now``.
_LOOKUP = (
    select(
        ApiKey.id,
        ApiKey.name,
        ApiKey.scope,
        ApiKey.source,
        ApiKey.tier,
        ApiKey.display_prefix,
        ApiKey.created_at,
        ApiKey.expires_at,
        ApiKey.revoked_at,
        ApiKey.last_used_at,
        ApiKey.active_at(bindparam("now", type_=DateTime())).label("key_active"),
        User.id.label("user_id"),
        User.family_id,
        User.role,
        User.active,
        User.region,
    )
    .join(User, User.id == ApiKey.user_id)
    .where(ApiKey.key_digest == bindparam("digest"))
)


def find_for_verification(key: str, *, now: datetime) -> Row[*tuple[Any, ...]] | None:
    """The key's columns (and whether it is active at ``now``) and its owner's, in one round
    trip, by digest (every request)."""
    return lookup(_LOOKUP, {"digest": crypto.digest(key), "now": now})


def touch(key_id: uuid.UUID, last_used_at: datetime | None, *, now: datetime) -> datetime:
    """Record use without a write per request: ``last_used_at`` moves only when it is older
    than API_KEY_LAST_USED_PRECISION seconds (at most one write per key per interval).
    Returns the value now stored."""
    precision = timedelta(seconds=current_app.config["API_KEY_LAST_USED_PRECISION"])
    if last_used_at is not None and now - last_used_at < precision:
        return last_used_at
    db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return now


_API_KEY_OUT = ApiKeyOut()


def describe(api_key: ApiKey | Row[*tuple[Any, ...]]) -> dict[str, Any]:
    """The API-key JSON (ApiKeyOut) of a key or of a find_for_verification row."""
    described: dict[str, Any] = _API_KEY_OUT.dump(api_key)
    return described


def describe_time(moment: datetime | None) -> str | None:
    """A time of the API-key JSON (as ApiKeyOut shows it)."""
    return None if moment is None else rfc3339(moment)


def revoke_created_by_client(
    user_id: uuid.UUID | None, client_id: str, *, now: datetime
) -> list[uuid.UUID]:
    """The active keys created through ``client_id`` — one user's, or (``user_id`` None)
    everybody's — revoked in one statement; returns their ids. Part of the caller's unit of
    work (the caller commits)."""
    statement = update(ApiKey).where(
        ApiKey.created_by_client_id == client_id, ApiKey.revoked_at.is_(None)
    )
    if user_id is not None:
        statement = statement.where(ApiKey.user_id == user_id)
    return list(
        db.session.scalars(
            statement.values(revoked_at=now)
            .returning(ApiKey.id)
            .execution_options(synchronize_session=False)
        )
    )


def revoke_all_for_user(user_id: uuid.UUID, *, now: datetime) -> int:
    """Every active key of the user, in one statement. The caller commits."""
    return execute_count(
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
