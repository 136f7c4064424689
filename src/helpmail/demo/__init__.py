"""The bundled demo: a sample mailbox written for the project and the configuration that imports it.

``helpmail demo`` (:mod:`helpmail.cli.demo`) imports :data:`MAILBOX` into a fresh SQLite file and
prints what happened to each mail. Every mail here was written for helpmail (no third-party mail);
the file names say what each one shows (``08-en-new-disguised-exe.eml``: an ``.exe`` named
``.png``). The mails are package data, so they ship in the wheel.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

#: The demo's signing key for its Message-IDs. Public on purpose: it signs nothing real.
DEMO_SIGNING_KEY = "helpmail-demo-key-not-a-secret"
#: Environment variable the demo configuration reads the key from.
DEMO_KEY_VARIABLE = "HELPMAIL_DEMO_SIGNING_KEY"


def files() -> Traversable:
    """The ``helpmail.demo`` package directory."""
    return resources.files(__name__)


def mails() -> list[tuple[str, bytes]]:
    """The demo mails as ``(file name, raw bytes)``, in delivery order."""
    folder = files() / "mailbox"
    entries = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".eml")),
        key=lambda entry: entry.name,
    )
    return [(entry.name, entry.read_bytes()) for entry in entries]


def config_text() -> str:
    """The demo configuration (TOML)."""
    return (files() / "demo.toml").read_text(encoding="utf-8")
