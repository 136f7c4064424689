"""The mail scanner: IMAP mailbox settings, scan state (UID watermarks, UIDVALIDITY), configuration.

The rule this package keeps: everything here is a value or a pure function; the IMAP connection
itself lives in :mod:`helpmail.adapters.imap` and the continuous loop in ``helpmail poll``
(:mod:`helpmail.cli.poll`). Rules that decide what happens to each mail are in
:mod:`helpmail.rules`.
"""

from __future__ import annotations

from helpmail.scanner.settings import (
    MailboxSettings,
    OAuth2Auth,
    PasswordAuth,
    ScanMode,
    Security,
)
from helpmail.scanner.state import (
    CheckRecord,
    FolderScan,
    FolderState,
    InMemoryScanState,
    ScanState,
    advance,
    backoff_delays,
    plan_folder_scan,
)

__all__ = [
    "CheckRecord",
    "FolderScan",
    "FolderState",
    "InMemoryScanState",
    "MailboxSettings",
    "OAuth2Auth",
    "PasswordAuth",
    "ScanMode",
    "ScanState",
    "Security",
    "advance",
    "backoff_delays",
    "plan_folder_scan",
]
