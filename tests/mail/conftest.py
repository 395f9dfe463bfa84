"""Fixtures for outgoing mail: a real SMTP server (aiosmtpd) on loopback that keeps what it
receives, and an app configured to deliver to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from tests.support.servers import free_port


@dataclass
class Received:
    """One message as the server got it: the envelope recipients and the parsed message."""

    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Collector:
    """aiosmtpd handler: keeps every message; refuses every @reject.example recipient."""

    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.endswith("@reject.example"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    port: int
    collector: Collector

    @property
    def received(self) -> list[Received]:
        return self.collector.received


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    collector = Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpServer(port, collector)
    controller.stop()


@pytest.fixture
def use_smtp(app: Flask) -> Callable[[int], None]:
    """Point the app at an SMTP server on loopback (plain text: the test server has no TLS).
    Mail settings are read when mail is delivered, so they can change after create_app."""

    def point(port: int) -> None:
        app.config.update(
            MAIL_BACKEND="", MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False
        )

    return point


@pytest.fixture
def smtp_app(app: Flask, smtp_server: SmtpServer, use_smtp: Callable[[int], None]) -> Flask:
    use_smtp(smtp_server.port)
    return app
