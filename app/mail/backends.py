"""How a message leaves: SMTP, an .eml file under instance/mail/, or the console.

Chosen by ``MAIL_BACKEND``; empty means SMTP when ``MAIL_SERVER`` is set, else the file
backend, so the embedded default shows a newcomer every message without an SMTP server.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import sys
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

BACKENDS = ("smtp", "file", "console")

# The server refused this one message (its recipient, its content) and the connection is
# still usable; every other failure (connection, TLS, authentication, timeout) ends the batch,
# since the next message would fail the same way after the same wait.
REJECTED: tuple[type[Exception], ...] = (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)


class Backend(Protocol):
    def send(self, message: EmailMessage, *, name: str) -> None:
        """Send ``message``; ``name`` is a stable name for it (the outbox row's)."""

    def close(self) -> None:
        """Release what ``send`` opened."""


def build_message(
    *,
    message_id: uuid.UUID,
    sender: str,
    to: str,
    subject: str,
    body: str,
    created_at: datetime,
) -> EmailMessage:
    """A plain-text UTF-8 message. The Message-ID comes from the outbox row, so a retry after
    an unconfirmed send carries the same id and receivers can drop the duplicate."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(created_at.replace(tzinfo=UTC))
    message["Message-ID"] = f"<{message_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    message.set_content(body, charset="utf-8", cte=_transfer_encoding(body))
    return message


def _transfer_encoding(body: str) -> str | None:
    """7bit for ASCII (the library's choice), 8bit for other text whose lines fit SMTP's
    998-octet limit, so links stay readable and copyable in an .eml file or a raw view;
    quoted-printable only when a line is too long."""
    if body.isascii():
        return None
    if all(len(line.encode("utf-8")) <= 998 for line in body.splitlines()):
        return "8bit"
    return "quoted-printable"


def from_config(config: Mapping[str, Any], instance_path: str) -> Backend:
    """The configured backend; ValueError when the configuration names none that can work."""
    name = config["MAIL_BACKEND"] or ("smtp" if config["MAIL_SERVER"] else "file")
    if name == "smtp":
        if not config["MAIL_SERVER"]:
            raise ValueError("MAIL_BACKEND=smtp needs MAIL_SERVER")
        return SmtpBackend(config)
    if name == "file":
        return FileBackend(Path(instance_path, "mail"))
    if name == "console":
        return ConsoleBackend()
    raise ValueError(f"MAIL_BACKEND must be one of {', '.join(BACKENDS)} or empty, not {name!r}")


class SmtpBackend:
    """One connection per delivery batch, opened on the first message."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.host: str = config["MAIL_SERVER"]
        self.port: int = int(config["MAIL_PORT"])
        self.use_tls: bool = bool(config["MAIL_USE_TLS"])
        self.use_ssl: bool = bool(config["MAIL_USE_SSL"])
        self.username: str = config["MAIL_USERNAME"]
        self.password: str = config["MAIL_PASSWORD"]
        self.timeout: float = float(config["MAIL_TIMEOUT"])
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        connection: smtplib.SMTP
        if self.use_ssl:
            connection = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.use_tls and not self.use_ssl:
                connection.starttls(context=context)
            if self.username:
                connection.login(self.username, self.password)
        except BaseException:
            connection.close()
            raise
        return connection

    def send(self, message: EmailMessage, *, name: str) -> None:
        if self._connection is None:
            self._connection = self._connect()
        try:
            self._connection.send_message(message)
        except REJECTED:
            raise  # smtplib reset the transaction; the connection serves the next message
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except OSError:  # smtplib.SMTPException included: the server went away first
            connection.close()


class FileBackend:
    """Each message as ``<created>-<id>.eml`` in a directory only this user can read (the
    messages carry single-use links). Writing the same message again overwrites its file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage, *, name: str) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)  # mkdir's mode is filtered by the umask
        path = self.directory / f"{name}.eml"
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # an existing file keeps its mode otherwise
            handle.write(message.as_bytes())
        log.info("mail to %s written to %s", message["To"], path)

    def close(self) -> None:
        pass


class ConsoleBackend:
    """The whole message on stderr: development only (bodies carry single-use links)."""

    def send(self, message: EmailMessage, *, name: str) -> None:
        sys.stderr.write(f"--- mail {name} ---\n{message.as_string()}\n--- end of mail ---\n")
        sys.stderr.flush()

    def close(self) -> None:
        pass
