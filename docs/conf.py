"""Sphinx configuration: MyST markdown pages, autodoc from docstrings, the furo theme.

``nox -s docs`` builds with ``-W --keep-going`` (warnings are errors). ``reference.md`` gets one
autodoc section per module of :data:`REFERENCE_MODULES`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "src"))

from helpmail.__about__ import __version__  # noqa: E402

project = "helpmail"
author = "helpmail maintainers"
copyright = "helpmail maintainers"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"helpmail {__version__}"

# autodoc: attrs classes carry generated __init__ signatures and forward-referenced annotations
# (``from __future__ import annotations``) that Sphinx cannot always resolve; describe the types in
# the description instead of the signature and do not demand that every reference resolves.
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_class_signature = "separated"
autodoc_default_options = {
    "members": True,
    "undoc-members": False,
    "show-inheritance": True,
    "exclude-members": "__init__, __new__, __attrs_attrs__, __match_args__",
}
autodoc_preserve_defaults = True
nitpicky = False
# Type annotations rendered by autodoc mention short names ("decision", "header") that several
# classes use for attributes; Sphinx then warns that the short name is ambiguous. That is not a
# documentation error (the link is just not made), so only this kind of warning is silenced.
suppress_warnings = ["ref.python"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False


#: Modules documented in reference.md (line ``%REFERENCE_MODULES%``), as (module, title), in the
#: order mail flows through them.
REFERENCE_MODULES = [
    ("helpmail", "helpmail (top level)"),
    ("helpmail.errors", "Errors"),
    ("helpmail.mail", "Parsing mail"),
    ("helpmail.replies", "Reply extraction"),
    ("helpmail.bounces", "Classification and bounces"),
    ("helpmail.message_ids", "Signed Message-IDs"),
    ("helpmail.tickets.refs", "Ticket references"),
    ("helpmail.tickets.events", "Ticket events"),
    ("helpmail.tickets.importing", "Import semantics"),
    ("helpmail.tickets.settings", "Import settings"),
    ("helpmail.addresses", "Support addresses"),
    ("helpmail.contacts", "Contacts and organisations"),
    ("helpmail.admission", "Who may open tickets"),
    ("helpmail.spam", "Spam verdicts"),
    ("helpmail.suspended", "The suspended queue"),
    ("helpmail.desk.steps", "Desk steps in the pipeline"),
    ("helpmail.desk.review", "Reviewing suspended mail"),
    ("helpmail.desk.config", "Desk configuration sections"),
    ("helpmail.pipeline", "The inbound pipeline"),
    ("helpmail.rules", "Scanner rules"),
    ("helpmail.scanner.settings", "Mailbox settings"),
    ("helpmail.scanner.state", "Scan state"),
    ("helpmail.scanner.config", "Mailbox configuration sections"),
    ("helpmail.guard", "Delivery guard"),
    ("helpmail.notify", "Notifications"),
    ("helpmail.notify.notifier", "The notifier"),
    ("helpmail.templates", "Templates"),
    ("helpmail.ports", "Ports"),
    ("helpmail.service", "The service layer"),
    ("helpmail.config", "Configuration"),
    ("helpmail.adapters.memory", "In-memory store"),
    ("helpmail.adapters.sqlite", "SQLite store"),
    ("helpmail.adapters.sqlite_guard", "SQLite delivery-guard state"),
    ("helpmail.adapters.sqlite_scanner", "SQLite scan state"),
    ("helpmail.adapters.sqlite_suspended", "SQLite suspended queue"),
    ("helpmail.adapters.mailbox", "Maildir and mbox sources"),
    ("helpmail.adapters.imap", "IMAP source"),
    ("helpmail.adapters.smtp", "SMTP sender"),
    ("helpmail.adapters.outbox", "Maildir outbox"),
    ("helpmail.testing", "Test doubles and conformance suites"),
    ("helpmail.testing.store_conformance", "Ticket store conformance suite"),
    ("helpmail.testing.guard_conformance", "Delivery-guard conformance suite"),
    ("helpmail.desk.conformance", "Suspended-queue conformance suite"),
]
REFERENCE_MARKER = "%REFERENCE_MODULES%"
#: Modules whose members are re-exports of names documented elsewhere in the reference.
REEXPORTING = {"helpmail"}


def reference_sections() -> str:
    """MyST text with one automodule section per module of :data:`REFERENCE_MODULES`."""
    sections = []
    for module, title in REFERENCE_MODULES:
        # The top level re-exports names documented in their own modules: shown, not indexed
        # (so each name has one target and cross-references stay unambiguous).
        options = "\n   :no-index:" if module in REEXPORTING else ""
        # eval-rst: autodoc output and the docstrings are reStructuredText, not MyST.
        sections.append(f"## {title}\n\n```{{eval-rst}}\n.. automodule:: {module}{options}\n```\n")
    return "\n".join(sections)


def _fill_reference(app: object, docname: str, source: list[str]) -> None:
    if docname == "reference" and REFERENCE_MARKER in source[0]:
        source[0] = source[0].replace(REFERENCE_MARKER, reference_sections())


def setup(app: Any) -> None:
    """Sphinx hook: generate the reference sections."""
    app.connect("source-read", _fill_reference)
