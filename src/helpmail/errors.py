"""The exception hierarchy: every error helpmail raises is a :class:`HelpmailError`.

Adapters translate their backend's errors (``sqlite3.Error``, ``imaplib`` and ``imapclient`` errors,
``smtplib.SMTPException``, ``OSError``) into these at the boundary, so a host application needs to
catch only one root type. Domain functions that must never fail on bad input (``parse_mail``,
``extract_reply``, ``classify``, ``parse_bounce``) record defects instead of raising.
"""

from __future__ import annotations


class HelpmailError(Exception):
    """Root of all helpmail errors."""


class ConfigError(HelpmailError):
    """A configuration value is missing or invalid.

    ``key`` is the dotted path of the offending key (``mailboxes.support.port``) so the message can
    name it; ``problem`` says what is wrong with it.
    """

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}" if key else problem)


class StoreError(HelpmailError):
    """The ticket store (or another state port) failed."""


class SourceError(HelpmailError):
    """A mail source (Maildir, mbox, IMAP) failed."""


class SendError(HelpmailError):
    """A mail sender (SMTP, outbox) failed."""


class TemplateError(HelpmailError):
    """A notification template failed to load or render."""
