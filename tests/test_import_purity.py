"""``import helpmail`` and every domain module load no I/O module (the sans-IO rule).

The domain is everything under ``helpmail`` except the layers that do I/O: ``adapters``, ``cli``,
``service`` and ``testing``. Modules are found on disk, so a new domain module is covered without
editing this test. Each check runs in a fresh interpreter, importing one module after the other
and noting which one first brings in a forbidden module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import helpmail

#: I/O modules no domain module may load at import time (``email.utils`` imports ``socket``).
FORBIDDEN = (
    "socket",
    "ssl",
    "select",
    "selectors",
    "sqlite3",
    "smtplib",
    "imaplib",
    "imapclient",
    "http",
)
#: Layers that do I/O: they and everything below them are not domain modules.
IO_LAYERS = frozenset({"adapters", "cli", "service", "testing"})

PACKAGE_DIR = Path(helpmail.__file__).parent


def domain_modules() -> list[str]:
    """Every importable ``helpmail.*`` module outside the I/O layers, found on disk."""
    found: list[str] = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = path.relative_to(PACKAGE_DIR).with_suffix("")
        parts = list(relative.parts)
        if parts[0] in IO_LAYERS or parts[-1] == "__main__":
            continue
        if any(
            not (PACKAGE_DIR.joinpath(*parts[:i]) / "__init__.py").exists()
            for i in range(1, len(parts))
        ):
            continue  # a directory that is not a package (data, scripts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append(".".join(["helpmail", *parts]))
    return found


_PROBE = """
import importlib, json, sys
forbidden = {forbidden!r}

def loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in forbidden)

blame = {{}}
for name in {modules!r}:
    before = set(loaded())
    try:
        importlib.import_module(name)
    except Exception as exc:
        blame[name] = ["import failed: " + type(exc).__name__ + ": " + str(exc)]
        continue
    new = sorted(set(loaded()) - before)
    if new:
        blame[name] = new
print(json.dumps(blame))
"""


def probe(modules: list[str]) -> dict[str, list[str]]:
    code = _PROBE.format(forbidden=FORBIDDEN, modules=modules)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    blame: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return blame


def test_discovery_finds_the_domain_and_skips_the_io_layers() -> None:
    modules = domain_modules()
    for expected in (
        "helpmail",
        "helpmail.mail",
        "helpmail.mail.parse",
        "helpmail.message_ids",
        "helpmail.tickets.events",
        "helpmail.ports",
    ):
        assert expected in modules
    assert not any(m.split(".")[1] in IO_LAYERS for m in modules if "." in m)


def test_import_helpmail_loads_no_io_module() -> None:
    assert probe(["helpmail"]) == {}


def test_domain_modules_load_no_io_module() -> None:
    # every blamed module is listed with the I/O modules it pulled in (or its import error)
    assert probe(domain_modules()) == {}


def test_parsing_a_mail_loads_no_io_module() -> None:
    blame = probe(["helpmail"])
    assert blame == {}
    code = (
        "import sys, helpmail\n"
        "helpmail.parse_mail(b'From: a@b\\r\\nSubject: =?utf-8?q?x?=\\r\\n"
        "Content-Type: text/html\\r\\n\\r\\n<p>x</p>')\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
