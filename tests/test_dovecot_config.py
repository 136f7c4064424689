"""The generated Dovecot configs (``tests/dovecot.py``): the 2.3 one is what the suite runs; the
2.4 one cannot be run here (Debian 12 ships Dovecot 2.3.19), so only its text is checked, and the
fixture's "2.4 server refuses the config -> skip with Dovecot's message" path is exercised by
feeding the 2.4 config to the 2.3 server, which refuses it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dovecot import CONFIG, PASSWORD, Dovecot, config_text, dialect, find_dovecot, serve

VALUES: dict[str, Any] = {
    "dir": Path("/tmp/helpmail-dovecot-x"),
    "imap_port": 10143,
    "imaps_port": 10993,
    "uid": 5000,
    "gid": 5000,
}

#: names and syntax that exist in 2.3 only (the rename table in shared/notes/mail-servers.md)
ONLY_23 = [
    r"^\s*disable_plaintext_auth\b",
    r"^\s*ssl_cert\s*=",
    r"^\s*ssl_key\s*=",
    r"^\s*ssl_dh\s*=",
    r"^\s*mail_location\b",
    r"^\s*driver\s*=",
    r"^\s*args\s*=",
    r"^\s*auth_debug\b",
    r"^\s*service_count\b",
    r"=\s*<",  # '<file' reads a file in 2.3; 2.4 has *_file settings
    r"%[udn]\b",  # 2.4: %{user}, %{user | domain}, %{user | username}
    r"^\s*(passdb|userdb)\s*\{",  # 2.4 names the driver: passdb static { ... }
]


def test_dialect_follows_dovecot_version() -> None:
    assert dialect("2.3.19.1 (9b53102964)") == "2.3"
    assert dialect("2.4.1-4 (7d8c0e5759)") == "2.4"
    assert dialect("2.4.0") == "2.4"
    assert dialect("2.40.0") is None
    assert dialect("3.0.0 (x)") is None


def test_the_23_config_is_the_verified_template_unchanged() -> None:
    text = config_text("2.3", **VALUES, extra="x = y\n")
    assert text == CONFIG.format(password=PASSWORD, users_line="", extra="x = y\n", **VALUES)
    assert "disable_plaintext_auth = no" in text
    assert "dovecot_config_version" not in text


def test_the_24_config_has_the_required_versions_and_no_23_names() -> None:
    text = config_text("2.4", **VALUES)
    lines = text.splitlines()
    assert lines[0] == "dovecot_config_version = 2.4.0"  # must be the first line
    assert "dovecot_storage_version = 2.4.0" in lines
    for pattern in ONLY_23:
        found = [line for line in lines if re.search(pattern, line)]
        assert not found, f"2.3-only syntax {pattern!r} in the 2.4 config: {found}"
    for line in (
        "auth_allow_cleartext = yes",
        "ssl_server_cert_file = /tmp/helpmail-dovecot-x/tls/server.crt",
        "ssl_server_key_file = /tmp/helpmail-dovecot-x/tls/server.key",
        "mail_driver = maildir",
        "mail_path = ~/Maildir",
        "passdb static {",
        "userdb static {",
        "    home = /tmp/helpmail-dovecot-x/mail/%{user}",
    ):
        assert line in lines
    assert text.count("{") == text.count("}")
    # the same server otherwise: loopback, same listeners, same mail uid and limits
    for line in ("listen = 127.0.0.1", "    port = 10143", "    port = 10993", "    ssl = yes"):
        assert line in lines
    assert "first_valid_uid = 5000" in lines
    assert "  mail_max_userip_connections = 200" in lines


def test_the_23_config_is_accepted_by_doveconf() -> None:
    binary = find_dovecot(install=False)
    doveconf = shutil.which("doveconf") or "/usr/bin/doveconf"
    if binary is None or not Path(doveconf).exists():
        pytest.skip("dovecot is not installed")
    server = Dovecot(binary)
    try:
        if server.dialect != "2.3":
            pytest.skip(f"this Dovecot is {server.version}")
        done = subprocess.run(
            [doveconf, "-n", "-c", str(server.conf)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "disable_plaintext_auth = no" in done.stdout
    finally:
        server.cleanup()


def test_a_24_config_the_server_refuses_skips_with_dovecots_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 2.3 server is handed the 2.4 config (as if it were 2.4): it refuses to start, and the
    fixture skips with the reason Dovecot gave instead of erroring."""
    import dovecot as fixture_module

    binary = find_dovecot(install=False)
    if binary is None:
        pytest.skip("dovecot is not installed")
    if dialect(fixture_module.dovecot_version(binary)) != "2.3":
        pytest.skip("needs a 2.3 server to refuse the 2.4 config")
    monkeypatch.setattr(fixture_module, "dovecot_version", lambda _: "2.4.1 (pretend)")
    server = serve()
    with pytest.raises(pytest.skip.Exception) as info:
        next(server)
    message = str(info.value)
    assert "Dovecot 2.4.1 (pretend) did not start with the generated 2.4 config" in message
    assert "untested here" in message
    assert "dovecot_config_version" in message  # Dovecot's own complaint about the first line
