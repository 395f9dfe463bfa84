"""Python ports of the Dart code in Sure's Flutter client (we-promise/sure, mobile/lib/, read at
commit 0252787d) that turns our answers into the app's objects, and of the parts of its
services that build requests. Faithful, including where the Dart code is lenient: what the Dart
code would throw, these raise (``DartTypeError`` for a failed ``as`` cast, ``FormatException``
for Dart's FormatException); what it would accept, they accept.

Dart's ``jsonDecode`` gives ``int`` for a JSON integer and ``double`` for a JSON number with a
fraction or exponent; Python's ``json`` the same (``int`` / ``float``), except that a JSON
``true`` is a Python ``bool``, which is an ``int`` subclass, so the ports test ``bool`` first.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class DartTypeError(TypeError):
    """Dart's TypeError: a failed ``value as T`` cast."""


class FormatException(ValueError):
    """Dart's FormatException."""


def dart_to_string(value: Any) -> str:
    """``value.toString()`` for what jsonDecode yields (null included: ``"null"``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"  # Dart prints 2.0, not 2
    return str(value)


def as_string(value: Any) -> str:
    """``value as String``."""
    if not isinstance(value, str):
        raise DartTypeError(f"type '{type(value).__name__}' is not a subtype of type 'String'")
    return value


def as_nullable_string(value: Any) -> str | None:
    """``value as String?``."""
    return None if value is None else as_string(value)


def as_map(value: Any) -> dict[str, Any]:
    """A ``Map<String, dynamic>`` parameter receiving ``value``."""
    if not isinstance(value, dict):
        raise DartTypeError(f"type '{type(value).__name__}' is not a subtype of type 'Map'")
    return value


def as_list(value: Any) -> list[Any]:
    """``value as List``."""
    if not isinstance(value, list):
        raise DartTypeError(f"type '{type(value).__name__}' is not a subtype of type 'List'")
    return value


_DART_INT = re.compile(r"^\s*[+-]?(\d+|0x[0-9a-fA-F]+)\s*$")


def dart_int_parse(text: str) -> int:
    """``int.parse(text)``: decimal (or 0x hex) digits with an optional sign."""
    if not _DART_INT.match(text):
        raise FormatException(f"Invalid radix-10 number: {text!r}")
    return int(text.strip(), 0) if "x" in text.lower() else int(text.strip())


def dart_int_try_parse(text: str) -> int | None:
    try:
        return dart_int_parse(text)
    except FormatException:
        return None


def dart_datetime_try_parse(text: str) -> datetime | None:
    """``DateTime.tryParse``: ISO 8601 (the subset our answers use), else null."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


# --- mobile/lib/utils/json_parsing.dart ---------------------------------------------------------


class JsonParsing:
    @staticmethod
    def parse_string(value: Any) -> str | None:  # json_parsing.dart:2-5
        return None if value is None else dart_to_string(value)

    @staticmethod
    def parse_required_string(value: Any, field_name: str) -> str:  # json_parsing.dart:7-13
        parsed = JsonParsing.parse_string(value)
        if parsed is None:
            raise FormatException(f"Missing {field_name}")
        return parsed

    @staticmethod
    def parse_int(value: Any) -> int | None:  # json_parsing.dart:15-19
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return dart_int_try_parse(dart_to_string(value))

    @staticmethod
    def parse_datetime(value: Any) -> datetime | None:  # json_parsing.dart:21-24
        return None if value is None else dart_datetime_try_parse(dart_to_string(value))


# --- mobile/lib/models/auth_tokens.dart ---------------------------------------------------------


def _parse_to_int(value: Any) -> int:
    """AuthTokens._parseToInt (auth_tokens.dart:27-35): an int, or a String int.parse takes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return dart_int_parse(value)
    raise FormatException(f"Cannot parse {dart_to_string(value)} to int")


@dataclass(frozen=True)
class AuthTokens:
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    created_at: int

    @classmethod
    def from_json(cls, json: Any) -> AuthTokens:
        """AuthTokens.fromJson (auth_tokens.dart:16-24): the three strings are ``as String``
        casts (null or another type throws); the two ints go through _parseToInt."""
        json = as_map(json)
        return cls(
            access_token=as_string(json.get("access_token")),  # :18
            refresh_token=as_string(json.get("refresh_token")),  # :19
            token_type=as_string(json.get("token_type")),  # :20
            expires_in=_parse_to_int(json.get("expires_in")),  # :21
            created_at=_parse_to_int(json.get("created_at")),  # :22
        )

    def to_json(self) -> dict[str, Any]:  # auth_tokens.dart:37-45 (what the app stores)
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "created_at": self.created_at,
        }

    @property
    def is_expired(self) -> bool:  # auth_tokens.dart:47-52: seconds since the epoch
        return time.time() > self.created_at + self.expires_in


# --- mobile/lib/models/user.dart ----------------------------------------------------------------


def _coerce_ui_layout(value: Any) -> str:  # user.dart:31-37
    if isinstance(value, str) and value.strip():
        return value.strip()
    return "dashboard"


def _coerce_bool(value: Any, *, default_value: bool) -> bool:  # user.dart:39-60
    if value is None:
        return default_value
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "1", "yes"):
            return True
        if word in ("false", "0", "no"):
            return False
    return default_value


@dataclass(frozen=True)
class User:
    id: str
    email: str
    first_name: str | None
    last_name: str | None
    ui_layout: str
    ai_enabled: bool

    @classmethod
    def from_json(cls, json: Any) -> User:
        """User.fromJson (user.dart:20-29)."""
        json = as_map(json)
        ui_layout = json.get("ui_layout")
        ai_enabled = json.get("ai_enabled")
        return cls(
            id=dart_to_string(json.get("id")),  # :22 toString(): never throws
            email=as_string(json.get("email")),  # :23
            first_name=as_nullable_string(json.get("first_name")),  # :24
            last_name=as_nullable_string(json.get("last_name")),  # :25
            # :26-27 ``json['ui_layout'] ?? json['uiLayout']``
            ui_layout=_coerce_ui_layout(
                ui_layout if ui_layout is not None else json.get("uiLayout")
            ),
            ai_enabled=_coerce_bool(
                ai_enabled if ai_enabled is not None else json.get("aiEnabled"),
                default_value=False,
            ),
        )

    def to_json(self) -> dict[str, Any]:  # user.dart:80-89
        return {
            "id": self.id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "ui_layout": self.ui_layout,
            "ai_enabled": self.ai_enabled,
        }


def parse_response_user(response_data: dict[str, Any]) -> User | None:
    """AuthService._parseResponseUser (auth_service.dart:66-72): no ``user`` -> null."""
    raw_user = response_data.get("user")
    return None if raw_user is None else User.from_json(raw_user)


# --- mobile/lib/models/account.dart -------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    balance: str
    balance_cents: int | None
    cash_balance: str | None
    cash_balance_cents: int | None
    currency: str
    classification: str | None
    account_type: str
    subtype: str | None
    status: str | None
    institution_name: str | None
    institution_domain: str | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_json(cls, json: Any) -> Account:
        """Account.fromJson (account.dart:38-65): name, balance, currency and account_type are
        required (FormatException 'Missing ...'); the rest is parsed leniently."""
        json = as_map(json)
        p = JsonParsing
        return cls(
            id=dart_to_string(json.get("id")),  # :40
            name=p.parse_required_string(json.get("name"), "account name"),  # :41
            balance=p.parse_required_string(json.get("balance"), "account balance"),  # :42-45
            balance_cents=p.parse_int(json.get("balance_cents")),  # :46
            cash_balance=p.parse_string(json.get("cash_balance")),  # :47
            cash_balance_cents=p.parse_int(json.get("cash_balance_cents")),  # :48
            currency=p.parse_required_string(json.get("currency"), "account currency"),  # :49-52
            classification=p.parse_string(json.get("classification")),  # :53
            account_type=p.parse_required_string(json.get("account_type"), "account type"),  # :54
            subtype=p.parse_string(json.get("subtype")),  # :58
            status=p.parse_string(json.get("status")),  # :59
            institution_name=p.parse_string(json.get("institution_name")),  # :60
            institution_domain=p.parse_string(json.get("institution_domain")),  # :61
            created_at=p.parse_datetime(json.get("created_at")),  # :62
            updated_at=p.parse_datetime(json.get("updated_at")),  # :63
        )

    @property
    def is_asset(self) -> bool:  # account.dart:67
        return self.classification == "asset"

    @property
    def is_liability(self) -> bool:  # account.dart:68
        return self.classification == "liability"

    @property
    def balance_as_double(self) -> float:
        """account.dart:70-78: strip everything but digits, dots and minus signs; 0.0 when
        double.parse fails."""
        cleaned = re.sub(r"[^\d.-]", "", self.balance)
        try:
            return float(cleaned)  # only digits, "." and "-" are left: the grammars agree
        except ValueError:
            return 0.0


def parse_accounts(response_data: Any) -> tuple[list[Account], Any]:
    """AccountsService.getAccounts on a 200 (accounts_service.dart:23-33):
    ``(responseData['accounts'] as List).map((json) => Account.fromJson(json))``."""
    accounts = as_list(as_map(response_data).get("accounts"))
    return [Account.from_json(item) for item in accounts], response_data.get("pagination")
