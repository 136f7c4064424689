"""Reference adapters: helpmail's ports implemented over real backends.

Each module wraps one backend (smtplib, Maildir/mbox, IMAP, SQLite, memory) and translates its
errors into :class:`helpmail.errors.HelpmailError` subclasses at the boundary. Importing
``helpmail`` never imports these modules; importing ``helpmail.adapters`` does not either: the
names below are loaded on first use.

* :class:`MemoryStore` (:mod:`helpmail.adapters.memory`) and :class:`SqliteStore`
  (:mod:`helpmail.adapters.sqlite`, the embedded default) implement
  :class:`~helpmail.ports.TicketStore`.
* :class:`MaildirSource` and :class:`MboxSource` (:mod:`helpmail.adapters.mailbox`) implement
  :class:`~helpmail.ports.MailSource`; :func:`open_source` picks one for a path.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helpmail.adapters.mailbox import MaildirSource, MboxSource, open_source
    from helpmail.adapters.memory import MemoryStore
    from helpmail.adapters.sqlite import SqliteStore

_LAZY = {
    "MemoryStore": "helpmail.adapters.memory",
    "SqliteStore": "helpmail.adapters.sqlite",
    "MaildirSource": "helpmail.adapters.mailbox",
    "MboxSource": "helpmail.adapters.mailbox",
    "open_source": "helpmail.adapters.mailbox",
}

__all__ = ["MaildirSource", "MboxSource", "MemoryStore", "SqliteStore", "open_source"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'helpmail.adapters' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
