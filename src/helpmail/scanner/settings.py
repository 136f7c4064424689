"""IMAP mailbox settings as values: where to connect, how to authenticate, what to scan, what after.

The rules this module keeps:

* **Safe by default.** Implicit TLS on port 993 with certificate and host name verification;
  plaintext IMAP only when ``allow_plaintext`` says so explicitly (django-helpdesk falls back to
  plaintext silently, Znuny's IMAPS never verifies certificates: prior-art §1b).
* **Credentials never show.** Passwords are :class:`helpmail.config.Secret` values and token
  providers are callables; neither appears in ``repr``, ``str``, logs or error messages.
* **No mail is skipped silently.** The default scan mode is ``all`` (every message with a UID above
  the last one seen), so a message someone read in another client is still imported (FreeScout
  #3406, #4064: only-UNSEEN scanners lose it).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

import attrs

from helpmail.config import MailboxKind, Secret
from helpmail.errors import ConfigError
from helpmail.ports import MailboxAction, MailboxActionKind


class Security(StrEnum):
    """How the connection is protected (RFC 8314 recommends implicit TLS, §3.3)."""

    TLS = "tls"  # implicit TLS (imaps, port 993)
    STARTTLS = "starttls"  # plain connect, then STARTTLS (RFC 3501 §6.2.1, port 143)
    PLAIN = "plain"  # no encryption at all: only with allow_plaintext = true


class ScanMode(StrEnum):
    """Which messages a scan considers.

    ``all``: every message whose UID is above the folder's watermark (the last UID handled), read or
    not. ``unseen``: the same, but only messages without ``\\Seen`` when the scan looks at them; a
    message another client has already read is skipped (the classic helpdesk behaviour).
    """

    ALL = "all"
    UNSEEN = "unseen"


DEFAULT_PORTS = {Security.TLS: 993, Security.STARTTLS: 143, Security.PLAIN: 143}


@attrs.frozen(kw_only=True)
class PasswordAuth:
    """``LOGIN`` with a user name and a password (RFC 3501 §6.2.3)."""

    user: str
    password: Secret = attrs.field(repr=False)

    def describe(self) -> str:
        return f"password for {self.user} ({self.password})"


@attrs.frozen(kw_only=True)
class OAuth2Auth:
    """``AUTHENTICATE XOAUTH2`` with an access token from ``token_provider`` (called per login,
    so it can refresh)."""

    user: str
    token_provider: Callable[[], str] = attrs.field(repr=False, eq=False)

    def describe(self) -> str:
        return f"XOAUTH2 for {self.user}"


Auth = PasswordAuth | OAuth2Auth

MIB = 1024 * 1024
_MARK_SEEN = MailboxAction(kind=MailboxActionKind.MARK_SEEN)


def _after_import(value: MailboxAction) -> MailboxAction:
    if value.kind is MailboxActionKind.MOVE and not value.folder:
        raise ConfigError("after_import", "move needs a folder (move_to)")
    return value


def _folders(value: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    folders = tuple(value)
    if not folders:
        raise ConfigError("folders", "at least one folder is needed")
    return folders


@attrs.frozen(kw_only=True)
class MailboxSettings:
    """One IMAP mailbox to scan.

    ``port`` defaults from ``security`` (993 / 143). ``ca_file`` adds a CA bundle to verify the
    server with; ``verify_certificate = False`` turns verification off (an explicit, logged
    choice). ``after_import`` is what happens to a message once its import is committed, unless a
    rule says otherwise. ``max_message_size`` (bytes): bigger messages are skipped with a reason,
    not downloaded and not retried. ``batch_size``: messages per FETCH round trip.
    ``poll_interval``: seconds between scans when IDLE is unavailable (or as IDLE's time-out).
    """

    name: str
    host: str
    auth: Auth
    security: Security = Security.TLS
    port: int = attrs.field()
    allow_plaintext: bool = False
    verify_certificate: bool = True
    ca_file: Path | None = None
    folders: tuple[str, ...] = attrs.field(default=("INBOX",), converter=_folders)
    scan_mode: ScanMode = ScanMode.ALL
    after_import: MailboxAction = _MARK_SEEN
    active: bool = True
    max_message_size: int = 50 * MIB
    batch_size: int = 200
    batch_bytes: int = 32 * MIB
    idle: bool = True
    poll_interval: float = 60.0
    timeout: float = 30.0
    address: str | None = None

    @port.default
    def _default_port(self) -> int:
        return DEFAULT_PORTS[self.security]

    def __attrs_post_init__(self) -> None:
        if self.security is Security.PLAIN and not self.allow_plaintext:
            raise ConfigError(
                "security",
                "plain IMAP sends the password unencrypted: use tls or starttls, "
                "or set allow_plaintext = true",
            )
        if not 0 < self.port < 65536:
            raise ConfigError("port", f"must be between 1 and 65535, got {self.port}")
        if self.batch_size < 1:
            raise ConfigError("batch_size", "must be at least 1")
        if self.max_message_size < 1:
            raise ConfigError("max_message_size", "must be at least 1 byte")
        _after_import(self.after_import)

    @property
    def user(self) -> str:
        return self.auth.user

    @property
    def kind(self) -> MailboxKind:
        """Always IMAP (so it reads like :class:`helpmail.config.MailboxConfig`)."""
        return MailboxKind.IMAP

    @property
    def url(self) -> str:
        """A readable URL without credentials: ``imaps://user@host:993/INBOX``."""
        scheme = "imaps" if self.security is Security.TLS else "imap"
        return f"{scheme}://{self.auth.user}@{self.host}:{self.port}/{','.join(self.folders)}"

    def actions(self) -> tuple[MailboxAction, ...]:
        """The after-import actions as the import pipeline takes them (``()`` for leave)."""
        if self.after_import.kind is MailboxActionKind.LEAVE:
            return ()
        return (self.after_import,)

    @property
    def source_name(self) -> str:
        """The stable source name used in message keys: ``imap://user@host:port``."""
        return f"imap://{self.auth.user}@{self.host}:{self.port}"

    def describe(self) -> str:
        """One readable line without credentials (for logs and ``helpmail check``)."""
        tls = {
            Security.TLS: "implicit TLS",
            Security.STARTTLS: "STARTTLS",
            Security.PLAIN: "PLAINTEXT",
        }[self.security]
        verify = "verified" if self.verify_certificate else "NOT verified"
        after = self.after_import.kind.value
        if self.after_import.folder:
            after += f" to {self.after_import.folder!r}"
        return (
            f"{self.name}: {self.source_name} ({tls}, certificate {verify}), folders "
            f"{', '.join(self.folders)}, scan {self.scan_mode}, after import {after}"
            + ("" if self.active else " [inactive]")
        )
