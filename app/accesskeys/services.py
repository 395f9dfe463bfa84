"""SecureCloud access keys: add, list, edit roles, remove (Global Admins), and the one lookup
the verifier makes per request.

Rules (seed 001, reference §4.5): the name is unique among the tenant's keys and never
changes; a key has one or more distinct roles; the Cloud Account Viewer needs "All accounts"
or at least one account of the key's own tenant ("All" is stored as a flag, never expanded, so
it covers accounts added later); the expiry is a preset of 1, 3, 6 or 12 calendar months or a
custom number of days, and the JWT's ``exp`` is exactly the stored ``expires_at``. The JWT is
returned once, by ``create_access_key``; nothing stores it.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from flask import current_app
from sqlalchemy import DateTime, Row, and_, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from app.accesskeys.models import (
    KEY_ROLES,
    NAME_MAX_LENGTH,
    ROLE_LABELS,
    SELECTING_ROLE,
    AccessKey,
    AccessKeyAccount,
    AccessKeyRole,
)
from app.audit.services import SYSTEM, Caller, record
from app.clock import rfc3339
from app.config import ConfigurationError
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db, execute_count
from app.identity.grants import granted_permissions
from app.identity.models import Family, User
from app.identity.roles import permissions_for
from app.jwtprofile import JWTProfile
from app.resources import services as resources

# The access-key JWT: its own type, key and algorithm (reference C2, T10).
PROFILE = JWTProfile("ak+jwt", "HS256", "ACCESS_KEY_JWT_KEY", claims=("sub", "tid", "jti"))
MANAGE = "access_keys.manage"
# Expiry presets: calendar months (reference D6, T32).
PRESETS = {"1m": 1, "3m": 3, "6m": 6, "12m": 12}
PRESET_LABELS = {"1m": "1 month", "3m": "3 months", "6m": "6 months", "12m": "12 months"}

Accounts = Literal["all"] | tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class RoleGrant:
    """One role of a key and the accounts it reaches: "all" (the global roles always, the Cloud
    Account Viewer when "All accounts" was chosen) or the chosen account ids."""

    role: str
    accounts: Accounts

    def describe(self) -> dict[str, Any]:
        accounts = self.accounts
        return {
            "role": self.role,
            "accounts": accounts if accounts == "all" else [str(a) for a in accounts],
        }

    @property
    def label(self) -> str:
        return ROLE_LABELS[self.role]


@dataclass(frozen=True)
class KeyWithRoles:
    key: AccessKey
    roles: list[RoleGrant]

    def describe(self) -> dict[str, Any]:
        """The access-key JSON (schemas.AccessKeyOut), never the token."""
        return {
            "id": str(self.key.id),
            "name": self.key.name,
            "roles": [grant.describe() for grant in self.roles],
            "created_at": rfc3339(self.key.created_at),
            "expires_at": rfc3339(self.key.expires_at),
        }

    def expired_at(self, now: datetime) -> bool:
        return self.key.expires_at <= now


@dataclass(frozen=True)
class NewAccessKey(KeyWithRoles):
    token: str  # the JWT: returned by this call only


# --- configuration -------------------------------------------------------------------------


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse to start with settings no key could be created with."""
    if config["ACCESS_KEY_DEFAULT_EXPIRATION"] not in PRESETS:
        raise ConfigurationError(
            f"ACCESS_KEY_DEFAULT_EXPIRATION must be one of {', '.join(PRESETS)}"
        )
    days = config["ACCESS_KEY_MAX_CUSTOM_DAYS"]
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ConfigurationError("ACCESS_KEY_MAX_CUSTOM_DAYS must be a whole number of days >= 1")


def max_custom_days() -> int:
    return int(current_app.config["ACCESS_KEY_MAX_CUSTOM_DAYS"])


def default_expiration() -> str:
    return str(current_app.config["ACCESS_KEY_DEFAULT_EXPIRATION"])


# --- who may manage keys -------------------------------------------------------------------


def may_manage(user: User) -> bool:
    """Whether the user holds ``access_keys.manage`` (the Global Admin role), read live."""
    return MANAGE in permissions_for(user.role) or MANAGE in granted_permissions(user.id)


# --- expiry --------------------------------------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus calendar months, the day clamped to the target month's last day
    (31 January + 1 month = 28 or 29 February)."""
    years, month_index = divmod(moment.month - 1 + months, 12)
    year, month = moment.year + years, month_index + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def expiry(
    now: datetime, *, expiration: Any = None, custom_days: Any = None
) -> tuple[datetime | None, list[str]]:
    """The expiry of a key made at ``now`` (whole seconds) from a preset or a custom number of
    days (exclusive; neither = the configured default), or the reasons it cannot be."""
    if expiration is not None and custom_days is not None:
        return None, ["Give either an expiration preset or custom_days, not both"]
    if custom_days is not None:
        limit = max_custom_days()
        if isinstance(custom_days, bool) or not isinstance(custom_days, int):
            return None, [f"custom_days must be a whole number of days from 1 to {limit}"]
        if not 1 <= custom_days <= limit:
            return None, [f"custom_days must be from 1 to {limit}"]
        return now + timedelta(days=custom_days), []
    preset = default_expiration() if expiration is None else expiration
    if not isinstance(preset, str) or preset not in PRESETS:
        return None, [f"expiration must be one of {', '.join(PRESETS)}"]
    return add_months(now, PRESETS[preset]), []


# --- roles ---------------------------------------------------------------------------------


def _account_ids(value: Any) -> tuple[list[uuid.UUID], bool]:
    """Parsed ids (duplicates dropped, order kept), and whether every one was well-formed."""
    ids: list[uuid.UUID] = []
    well_formed = isinstance(value, list)
    for item in value if isinstance(value, list) else []:
        try:
            parsed = uuid.UUID(item) if isinstance(item, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            well_formed = False
        elif parsed not in ids:
            ids.append(parsed)
    return ids, well_formed


def grants_from(family_id: uuid.UUID, roles: Any) -> tuple[list[RoleGrant], list[str]]:
    """Validate ``roles`` (``[{"role": ..., "accounts": "all" | [ids]}]``) for a key of
    ``family_id``: the grants in catalogue order, or the reasons they are refused."""
    if not isinstance(roles, list) or not roles:
        return [], ["Assign at least one role"]
    errors: list[str] = []
    wanted: dict[str, Any] = {}
    for item in roles:
        role = item.get("role") if isinstance(item, Mapping) else None
        if not isinstance(role, str) or role not in KEY_ROLES:
            errors.append(f"Unknown role {role!r}; roles: {', '.join(KEY_ROLES)}")
        elif role in wanted:
            errors.append(f"The role {role} is given twice")
        else:
            wanted[role] = item.get("accounts")
    grants: list[RoleGrant] = []
    for role in KEY_ROLES:
        if role not in wanted:
            continue
        accounts = wanted[role]
        if role != SELECTING_ROLE:
            # The global roles reach every account; only "all" (or nothing) fits them.
            if accounts not in (None, "all"):
                errors.append(f"{ROLE_LABELS[role]} covers all accounts; do not select accounts")
            grants.append(RoleGrant(role, "all"))
            continue
        if accounts == "all":
            grants.append(RoleGrant(role, "all"))
            continue
        ids, well_formed = _account_ids(accounts)
        if not well_formed:
            errors.append('accounts must be "all" or a list of cloud account ids')
        elif not ids:
            errors.append("Cloud Account Viewer needs All accounts or at least one account")
        else:
            known = resources.existing_cloud_account_ids(family_id, ids)
            unknown = [str(i) for i in ids if i not in known]
            if unknown:
                errors.append(f"Unknown cloud accounts: {', '.join(unknown)}")
            grants.append(RoleGrant(role, tuple(sorted(ids, key=str))))
    return grants, errors


def _invalid(errors: list[str]) -> ValidationFailed:
    return ValidationFailed(errors[0], extra={"errors": errors})


def _store_roles(key_id: uuid.UUID, grants: Sequence[RoleGrant]) -> None:
    for grant in grants:
        db.session.add(
            AccessKeyRole(
                key_id=key_id,
                role=grant.role,
                all_accounts=grant.accounts == "all",
            )
        )
    db.session.flush()  # the roles before the accounts that refer to them
    for grant in grants:
        if grant.accounts != "all":
            for account_id in grant.accounts:
                db.session.add(
                    AccessKeyAccount(key_id=key_id, role=grant.role, account_id=account_id)
                )


def _roles_of(key_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[RoleGrant]]:
    """Every key's grants, in catalogue order, in one query."""
    if not key_ids:
        return {}
    rows = db.session.execute(
        select(
            AccessKeyRole.key_id,
            AccessKeyRole.role,
            AccessKeyRole.all_accounts,
            AccessKeyAccount.account_id,
        )
        .outerjoin(
            AccessKeyAccount,
            and_(
                AccessKeyAccount.key_id == AccessKeyRole.key_id,
                AccessKeyAccount.role == AccessKeyRole.role,
            ),
        )
        .where(AccessKeyRole.key_id.in_(list(key_ids)))
    ).all()
    return _grants_by_key(rows)


def _grants_by_key(rows: Iterable[Row[*tuple[Any, ...]]]) -> dict[uuid.UUID, list[RoleGrant]]:
    collected: dict[uuid.UUID, dict[str, tuple[bool, set[uuid.UUID]]]] = {}
    for row in rows:
        if row.role is None:
            continue
        roles = collected.setdefault(row.key_id, {})
        _, ids = roles.setdefault(row.role, (bool(row.all_accounts), set()))
        if row.account_id is not None:
            ids.add(row.account_id)
    return {
        key_id: [
            RoleGrant(
                role,
                "all"
                if role != SELECTING_ROLE or roles[role][0]
                else tuple(sorted(roles[role][1], key=str)),
            )
            for role in KEY_ROLES
            if role in roles
        ]
        for key_id, roles in collected.items()
    }


def _grants_audit(grants: Iterable[RoleGrant]) -> list[dict[str, Any]]:
    return [grant.describe() for grant in grants]


# --- managing keys -------------------------------------------------------------------------


def create_access_key(
    creator: User,
    *,
    name: Any,
    roles: Any,
    expiration: Any = None,
    custom_days: Any = None,
    now: datetime,
    caller: Caller = SYSTEM,
) -> NewAccessKey:
    """Add a key to the creator's tenant and return it with its JWT (the only time the JWT
    exists outside the caller). 422 for a bad name, roles or expiry; 409 if the name is taken
    (also when a concurrent creation takes it first: the unique index decides). Commits."""
    now = now.replace(microsecond=0)  # exp is in whole seconds; expires_at matches it
    errors: list[str] = []
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        errors.append("Name can't be blank")
    elif len(name) > NAME_MAX_LENGTH:
        errors.append(f"Name is too long (maximum is {NAME_MAX_LENGTH} characters)")
    grants, role_errors = grants_from(creator.family_id, roles)
    expires_at, expiry_errors = expiry(now, expiration=expiration, custom_days=custom_days)
    errors += role_errors + expiry_errors
    if errors or expires_at is None:
        raise _invalid(errors)

    if _name_in_use(creator.family_id, name):
        raise _name_taken()
    key = AccessKey(
        id=uuid.uuid4(),
        family_id=creator.family_id,
        name=name,
        created_at=now,
        expires_at=expires_at,
        created_by_user_id=creator.id,
    )
    db.session.add(key)
    try:
        db.session.flush()
        _store_roles(key.id, grants)
        record(
            "access_key.created",
            now=now,
            caller=caller,
            actor_user_id=creator.id,
            family_id=creator.family_id,
            access_key_id=str(key.id),
            name=name,
            roles=_grants_audit(grants),
            expires_at=rfc3339(expires_at),
        )
        db.session.commit()
    except IntegrityError as exc:
        # Lost a race: the name was taken meanwhile (the unique index), or a chosen account
        # was deleted meanwhile (its foreign key).
        db.session.rollback()
        raise (_name_taken() if _name_in_use(creator.family_id, name) else _changed()) from exc
    token = PROFILE.encode(
        {"sub": str(key.id), "tid": str(key.family_id), "jti": str(key.id)},
        now=now,
        expires_at=expires_at,
    )
    return NewAccessKey(key=key, roles=grants, token=token)


def _name_in_use(family_id: uuid.UUID, name: str) -> bool:
    return (
        db.session.scalar(
            select(AccessKey.id).where(
                AccessKey.family_id == family_id,
                AccessKey.name == name,
                AccessKey.removed_at.is_(None),
            )
        )
        is not None
    )


def _name_taken() -> Conflict:
    return Conflict("Name has already been taken", error="name_taken")


def _changed() -> Conflict:
    return Conflict("The chosen accounts changed while saving; try again")


def list_access_keys(family_id: uuid.UUID) -> list[KeyWithRoles]:
    """The tenant's keys that were not removed (expired ones too: the list shows their
    expiration date), newest first."""
    keys = db.session.scalars(
        select(AccessKey)
        .where(AccessKey.family_id == family_id, AccessKey.removed_at.is_(None))
        .order_by(AccessKey.created_at.desc(), AccessKey.name)
    ).all()
    roles = _roles_of([key.id for key in keys])
    return [KeyWithRoles(key, roles.get(key.id, [])) for key in keys]


def _find(family_id: uuid.UUID, key_id: str, *, lock: bool = False) -> AccessKey:
    """A key of the tenant that was not removed; anything else is a 404."""
    try:
        key_uuid = uuid.UUID(str(key_id))
    except ValueError as exc:
        raise NotFound() from exc
    query = select(AccessKey).where(
        AccessKey.id == key_uuid,
        AccessKey.family_id == family_id,
        AccessKey.removed_at.is_(None),
    )
    key = db.session.scalar(query.with_for_update() if lock else query)
    if key is None:
        raise NotFound()
    return key


def get_access_key(family_id: uuid.UUID, key_id: str) -> KeyWithRoles:
    key = _find(family_id, key_id)
    return KeyWithRoles(key, _roles_of([key.id]).get(key.id, []))


def update_roles(
    actor: User, key_id: str, *, roles: Any, now: datetime, caller: Caller = SYSTEM
) -> KeyWithRoles:
    """Replace a key's roles (and account selection). The JWT already issued carries no role,
    so the change applies to its next request. Commits."""
    key = _find(actor.family_id, key_id, lock=True)
    grants, errors = grants_from(actor.family_id, roles)
    if errors:
        db.session.rollback()
        raise _invalid(errors)
    before = _roles_of([key.id]).get(key.id, [])
    db.session.execute(delete(AccessKeyAccount).where(AccessKeyAccount.key_id == key.id))
    db.session.execute(delete(AccessKeyRole).where(AccessKeyRole.key_id == key.id))
    try:
        _store_roles(key.id, grants)
        record(
            "access_key.updated",
            now=now,
            caller=caller,
            actor_user_id=actor.id,
            family_id=actor.family_id,
            access_key_id=str(key.id),
            name=key.name,
            roles_before=_grants_audit(before),
            roles=_grants_audit(grants),
        )
        db.session.commit()
    except IntegrityError as exc:  # a chosen account was deleted meanwhile
        db.session.rollback()
        raise _changed() from exc
    return KeyWithRoles(key, grants)


def remove_access_key(
    actor: User, key_id: str, *, now: datetime, caller: Caller = SYSTEM
) -> AccessKey:
    """Remove a key: its JWT is refused from the next request on. Commits."""
    key = _find(actor.family_id, key_id)
    removed = execute_count(
        update(AccessKey)
        .where(AccessKey.id == key.id, AccessKey.removed_at.is_(None))
        .values(removed_at=now)
        .execution_options(synchronize_session=False)
    )
    if removed != 1:  # removed concurrently
        db.session.rollback()
        raise NotFound()
    record(
        "access_key.removed",
        now=now,
        caller=caller,
        actor_user_id=actor.id,
        family_id=actor.family_id,
        access_key_id=str(key.id),
        name=key.name,
    )
    db.session.commit()
    key.removed_at = now
    return key


# --- verification (every request with an access-key JWT) ------------------------------------

# Built once: the key (alive at ``now``) and its roles and accounts, one row per account.
_LOOKUP = (
    select(
        AccessKey.id.label("key_id"),
        AccessKey.family_id,
        Family.region,
        AccessKeyRole.role,
        AccessKeyRole.all_accounts,
        AccessKeyAccount.account_id,
    )
    .select_from(AccessKey)
    .join(Family, Family.id == AccessKey.family_id)
    .outerjoin(AccessKeyRole, AccessKeyRole.key_id == AccessKey.id)
    .outerjoin(
        AccessKeyAccount,
        and_(
            AccessKeyAccount.key_id == AccessKeyRole.key_id,
            AccessKeyAccount.role == AccessKeyRole.role,
        ),
    )
    .where(
        AccessKey.id == bindparam("key_id"),
        AccessKey.removed_at.is_(None),
        AccessKey.expires_at > bindparam("now", type_=DateTime()),
    )
)


@dataclass(frozen=True)
class LiveKey:
    key_id: uuid.UUID
    family_id: uuid.UUID
    roles: list[RoleGrant]
    region: str  # the tenant's: the key works only on instances of that region


def find_live_key(key_id: uuid.UUID, *, now: datetime) -> LiveKey | None:
    """The key with this id if it is neither removed nor expired at ``now``, with its roles as
    they are now: one query, no write."""
    rows = db.session.execute(_LOOKUP, {"key_id": key_id, "now": now}).all()
    if not rows:
        return None
    grants = _grants_by_key(rows).get(key_id, [])
    return LiveKey(key_id=key_id, family_id=rows[0].family_id, roles=grants, region=rows[0].region)
