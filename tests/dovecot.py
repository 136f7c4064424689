"""A real Dovecot IMAP server for the tests, started from a generated config (no system config).

Follows the verified recipe in ``shared/notes/mail-servers.md``: a temp dir outside pytest's
``tmp_path`` (mode 0755, so Dovecot's unprivileged processes can reach it), ``dovecot -F -c`` as a
child in its own session, free loopback ports, a test CA made with openssl, mail owned by uid 5000
(root is refused as a mail user), the anvil auth-penalty fix, and a log check for ``Error:``,
``Fatal:`` and ``Panic:`` lines. Stopping kills the whole process group, because IMAP sessions
outlive the master. Users ``t-<anything>`` with password ``testpw`` get a fresh mailbox each.

When Dovecot is missing, ``scripts/install-system-deps`` is run (it apt-installs
``dovecot-imapd`` where it can); if Dovecot is still missing the tests are skipped with a reason.

Two config dialects, chosen by ``dovecot --version``: :data:`CONFIG` with Dovecot 2.3 names (the
version Debian 12 ships, 2.3.19; this is the one the suite runs and is verified with), and
:data:`CONFIG_24` with the 2.4 names from the rename table in ``shared/notes/mail-servers.md``
(2.4 refuses 2.3 configs). **The 2.4 config is untested here**: no 2.4 server was available, only
its text is checked (``tests/test_dovecot_config.py``). If a 2.4 server does not start with it,
:func:`serve` skips the tests with Dovecot's own error message instead of failing them; any
other version is skipped with a reason.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from helpmail.adapters.imap import ImapSource
    from helpmail.scanner import MailboxSettings

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "testpw"
MAIL_UID = 5000
_BENIGN = ("read(anvil) failed: EOF",)
_counter = itertools.count(1)


def find_dovecot(install: bool = True) -> str | None:
    """The ``dovecot`` binary, installing it with the project's script when missing."""
    found = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if found is None and install:
        script = ROOT / "scripts" / "install-system-deps"
        if script.exists():
            subprocess.run([str(script)], check=False, timeout=600)
        return find_dovecot(install=False)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A test CA (EC P-256, CA:TRUE, keyCertSign): returns (certificate, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    ext = directory / f"{name}-ca.ext"
    ext.write_text(
        "[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n"
    )
    key, crt = directory / f"{name}-ca.key", directory / f"{name}-ca.crt"
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key), cwd=directory)
    _openssl(
        "req", "-x509", "-new", "-key", str(key), "-subj", f"/CN=helpmail test CA {name}",
        "-days", "3", "-out", str(crt), "-extensions", "v3", "-config", str(_req_config(directory)),
        cwd=directory,
    )  # fmt: skip
    return crt, key


def _req_config(directory: Path) -> Path:
    config = directory / "req.cnf"
    config.write_text(
        "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\n"
        "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid:always\n"
    )
    return config


def make_leaf(directory: Path, ca: tuple[Path, Path], hosts: str) -> tuple[Path, Path]:
    """A server certificate signed by ``ca`` for ``hosts`` (a SAN list)."""
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
        f"subjectAltName={hosts}\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key), cwd=directory)
    _openssl(
        "req", "-new", "-key", str(key), "-subj", "/CN=localhost", "-out", str(csr), cwd=directory
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-days", "3", "-extfile", str(ext), "-out", str(crt),
        cwd=directory,
    )  # fmt: skip
    return crt, key


#: the part of the server config that is the same in Dovecot 2.3 and 2.4 names
_COMMON = """mail_fsync = never
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Archive {{
    special_use = \\Archive
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
{extra}
"""

CONFIG = (
    """\
instance_name = helpmail-{imap_port}
base_dir = {dir}/run
state_dir = {dir}/state
protocols = imap
listen = 127.0.0.1
log_path = {dir}/log/dovecot.log
ssl = yes
ssl_cert = <{dir}/tls/server.crt
ssl_key = <{dir}/tls/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
{users_line}
passdb {{
  driver = static
  args = password={password}
  username_filter = t-*
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:~/Maildir
"""
    + _COMMON
)

#: The same server in Dovecot 2.4 names (``shared/notes/mail-servers.md``, 2.3 vs 2.4 table).
#: UNTESTED here (Debian 12 has 2.3.19): only its text is checked.
CONFIG_24 = (
    """\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
instance_name = helpmail-{imap_port}
base_dir = {dir}/run
state_dir = {dir}/state
protocols = imap
listen = 127.0.0.1
log_path = {dir}/log/dovecot.log
ssl = yes
ssl_server_cert_file = {dir}/tls/server.crt
ssl_server_key_file = {dir}/tls/server.key
ssl_min_protocol = TLSv1.2
auth_allow_cleartext = yes
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
{users_line}
passdb static {{
  passdb_static_password = {password}
  passdb_username_filter = t-*
}}
userdb static {{
  fields {{
    uid = {uid}
    gid = {gid}
    home = {dir}/mail/%{{user}}
  }}
}}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_driver = maildir
mail_path = ~/Maildir
"""
    + _COMMON
)

Dialect = Literal["2.3", "2.4"]
TEMPLATES: dict[Dialect, str] = {"2.3": CONFIG, "2.4": CONFIG_24}


def dovecot_version(binary: str) -> str:
    """``dovecot --version``: ``2.3.19.1 (9b53102964)`` on Debian 12."""
    done = subprocess.run([binary, "--version"], check=False, capture_output=True, text=True)
    return done.stdout.strip()


def dialect(version: str) -> Dialect | None:
    """The config dialect for a ``dovecot --version`` string (``None``: not one we generate)."""
    for name in TEMPLATES:
        if version == name or version.startswith((name + ".", name + "-")):
            return name
    return None


def config_text(
    which: Dialect,
    *,
    dir: Path,
    imap_port: int,
    imaps_port: int,
    uid: int,
    gid: int,
    extra: str = "",
) -> str:
    """The whole ``dovecot.conf`` for one instance in the names of Dovecot ``which``."""
    return TEMPLATES[which].format(
        dir=dir,
        imap_port=imap_port,
        imaps_port=imaps_port,
        password=PASSWORD,
        uid=uid,
        gid=gid,
        users_line="",
        extra=extra,
    )


class Dovecot:
    """One Dovecot instance on loopback; see the module docstring."""

    def __init__(
        self,
        binary: str,
        extra_config: str = "",
        *,
        version: str | None = None,
        plain_only: bool = False,
    ) -> None:
        self.binary = binary
        #: no TLS at all (``ssl = no``): only the plain port listens, and it offers no STARTTLS
        self.plain_only = plain_only
        self.version = version if version is not None else dovecot_version(binary)
        self.dialect: Dialect = dialect(self.version) or "2.3"
        self.dir = Path(tempfile.mkdtemp(prefix="helpmail-dovecot-"))
        self.dir.chmod(0o755)
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.host = "127.0.0.1"
        self.process: subprocess.Popen[bytes] | None = None
        self.root = os.geteuid() == 0
        self.uid = MAIL_UID if self.root else os.geteuid()
        self.gid = MAIL_UID if self.root else os.getegid()
        for sub in ("run", "state", "log", "mail", "tls"):
            (self.dir / sub).mkdir()
            (self.dir / sub).chmod(0o755)
        tls = self.dir / "tls"
        self.ca_file, ca_key = make_ca(tls, "good")
        self.wrong_ca_file, _ = make_ca(tls, "wrong")
        make_leaf(tls, (self.ca_file, ca_key), "DNS:localhost,IP:127.0.0.1,IP:127.0.0.2")
        for item in tls.iterdir():
            item.chmod(0o644)
        if self.root:
            os.chown(self.dir / "mail", self.uid, self.gid)
        self.conf = self.dir / "dovecot.conf"
        extra = extra_config
        if plain_only:
            extra += (
                "\nssl = no\nservice imap-login {\n  inet_listener imaps {\n    port = 0\n  }\n}\n"
            )
        if not self.root:
            user = os.environ.get("USER") or "nobody"
            extra += f"\ndefault_internal_user = {user}\ndefault_login_user = {user}\n"
        self.conf.write_text(
            config_text(
                self.dialect,
                dir=self.dir,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
                uid=self.uid,
                gid=self.gid,
                extra=extra,
            )
        )

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        log = open(self.dir / "log" / "stdout.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 15
        ports = (self.imap_port,) if self.plain_only else (self.imap_port, self.imaps_port)
        for port in ports:
            while True:
                if self.process.poll() is not None:
                    # a config error goes to stderr (the log file is not open yet)
                    said = self.log_text() + self.stdout_text()
                    raise RuntimeError(f"dovecot exited: {said[-2000:]}")
                try:
                    with socket.create_connection((self.host, port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"dovecot did not listen on {port}") from None
                    time.sleep(0.02)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        pgid = process.pid
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # IMAP sessions outlive the master (pitfall 6): end the whole process group.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self) -> str:
        path = self.dir / "log" / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stdout_text(self) -> str:
        """What ``dovecot -F`` wrote to stdout/stderr (config errors land here)."""
        path = self.dir / "log" / "stdout.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_errors(self) -> list[str]:
        """``Error:``/``Fatal:``/``Panic:`` lines of the log, known benign noise excepted."""
        return [
            line
            for line in self.log_text().splitlines()
            if re.search(r"\b(Error|Fatal|Panic):", line) and not any(b in line for b in _BENIGN)
        ]

    # --- users and mail -----------------------------------------------------------------------

    def new_user(self, prefix: str = "u") -> str:
        """A fresh ``t-*`` user (password :data:`PASSWORD`) with an empty mailbox."""
        return f"t-{prefix}{os.getpid()}x{next(_counter)}"

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        base = self.dir / "mail" / user / "Maildir"
        if folder.upper() == "INBOX":
            return base
        return base / ("." + folder.replace("/", "."))

    def _ensure(self, path: Path, is_folder: bool) -> None:
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        if is_folder:
            (path / "maildirfolder").touch()
        if self.root:
            top = self.dir / "mail"
            for dirpath, dirnames, filenames in os.walk(top):
                os.chown(dirpath, self.uid, self.gid)
                for name in filenames:
                    os.chown(os.path.join(dirpath, name), self.uid, self.gid)
                del dirnames

    def inject(
        self,
        user: str,
        messages: list[bytes],
        folder: str = "INBOX",
        *,
        seen: bool = False,
        mtime: float | None = None,
    ) -> None:
        """Deliver ``messages`` straight into the user's Maildir (the fastest way, ~35 ms/200)."""
        path = self.maildir(user, folder)
        self._ensure(path, folder.upper() != "INBOX")
        now = time.time()
        host = socket.gethostname().replace("/", "_").replace(":", "_")
        for raw in messages:
            data = raw.replace(b"\r\n", b"\n")
            name = f"{int(now)}.M{next(_counter)}P{os.getpid()}.{host},S={len(data)}"
            tmp = path / "tmp" / name
            tmp.write_bytes(data)
            if mtime is not None:
                os.utime(tmp, (mtime, mtime))
            if self.root:
                os.chown(tmp, self.uid, self.gid)
            target = path / "cur" / f"{name}:2,S" if seen else path / "new" / name
            os.rename(tmp, target)

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm -c CONF ARGS`` and return its output."""
        doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        result = subprocess.run(
            [doveadm, "-c", str(self.conf), *args], capture_output=True, text=True, check=True
        )
        return result.stdout

    def kick(self, user: str) -> None:
        """Drop every IMAP session of ``user`` (the client sees BYE/EOF)."""
        self.doveadm("kick", user)

    def set_uidvalidity(self, user: str, value: int, folder: str = "INBOX") -> None:
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(value), folder)


def imap_settings(server: Dovecot, user: str, **kw: Any) -> MailboxSettings:
    """Mailbox settings for ``user`` on ``server``: implicit TLS with the test CA unless ``kw``
    says otherwise (STARTTLS and plain connect to the plain port unless ``port`` is given)."""
    from helpmail.config import Secret
    from helpmail.scanner import MailboxSettings, PasswordAuth, Security

    values: dict[str, Any] = {
        "name": "support",
        "host": server.host,
        "port": server.imaps_port,
        "ca_file": server.ca_file,
        "auth": PasswordAuth(user=user, password=Secret(origin="test", value=PASSWORD.encode())),
        "timeout": 10.0,
    }
    values.update(kw)
    if values.get("security") in (Security.STARTTLS, Security.PLAIN) and "port" not in kw:
        values["port"] = server.imap_port
    return MailboxSettings(**values)


def imap_source(server: Dovecot, user: str, **kw: Any) -> ImapSource:
    """An :class:`ImapSource` on :func:`imap_settings`; ``state``, ``connect_attempts`` and
    ``sleep`` go to the source, the rest to the settings; reconnects back off from 0.2 s."""
    from helpmail.adapters.imap import ImapSource

    options = {k: kw.pop(k) for k in ("state", "connect_attempts", "sleep") if k in kw}
    return ImapSource(imap_settings(server, user, **kw), backoff_initial=0.2, **options)


def message(
    n: int, *, subject: str | None = None, size: int = 0, sender: str = "alice@example.org"
) -> bytes:
    """A small test mail with a unique Message-ID (``size`` pads the body)."""
    body = f"Hello, this is message {n}.\n" + ("x" * 70 + "\n") * (size // 71)
    return (
        f"From: {sender}\nTo: support@example.net\nSubject: {subject or f'message {n}'}\n"
        f"Message-ID: <m{n}.{os.getpid()}@example.org>\nDate: Mon, 23 Nov 2026 08:00:00 +0000\n"
        f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()


def serve(extra_config: str = "", *, plain_only: bool = False) -> Iterator[Dovecot]:
    """Start one Dovecot (``extra_config`` appended to the generated config), yield it, stop it.

    For module-scoped fixtures: skips when Dovecot is missing or of a version without a config
    dialect here, and when a 2.4 server refuses the (untested) 2.4 config, with Dovecot's own
    error message. A 2.3 server that does not start is an error. After the tests, fails if
    Dovecot logged errors.
    """
    binary = find_dovecot()
    if binary is None:
        pytest.skip("dovecot is not installed and scripts/install-system-deps could not install it")
    version = dovecot_version(binary)
    if dialect(version) is None:
        pytest.skip(f"the generated config has Dovecot 2.3 and 2.4 names; found {version}")
    server = Dovecot(binary, extra_config, version=version, plain_only=plain_only)
    try:
        try:
            server.start()
        except RuntimeError as error:
            if server.dialect == "2.3":
                raise
            pytest.skip(
                f"Dovecot {version} did not start with the generated {server.dialect} config "
                f"(that config is untested here): {error}"
            )
        yield server
        errors = server.log_errors()
    finally:
        server.cleanup()
    assert not errors, "Dovecot logged errors:\n" + "\n".join(errors)


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot per test module; fails the module's last test if Dovecot logged errors."""
    yield from serve()
