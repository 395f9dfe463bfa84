"""The verifier protocol and the per-application registry of verifiers.

A credential feature registers one verifier per credential kind at start-up; the gate asks
them in the documented order and never imports a credential feature itself.
"""

from __future__ import annotations

from typing import Literal, Protocol

from flask import Flask, current_app

from app.gate.principal import Principal

Slot = Literal["master_key", "bearer", "api_key"]
EXTENSION_KEY = "tollgate.gate.verifiers"


class CredentialRejected(Exception):
    """A verifier recognised the credential but refuses it; ``message`` is client-facing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Verifier(Protocol):
    slot: Slot

    def accepts(self, credential: str) -> bool:
        """Whether this verifier is the one for this value (usually: by its prefix)."""

    def verify(self, credential: str) -> Principal:
        """The principal, or CredentialRejected. Database errors propagate (503)."""


def register_verifier(app: Flask, verifier: Verifier) -> None:
    app.extensions.setdefault(EXTENSION_KEY, []).append(verifier)


def verifiers(slot: Slot) -> list[Verifier]:
    return [v for v in current_app.extensions.get(EXTENSION_KEY, []) if v.slot == slot]
