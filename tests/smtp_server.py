"""A real SMTP server for tests: aiosmtpd in a thread, with a test CA made by ``openssl``.

``make_tls(folder)`` makes a CA and a server certificate for ``localhost``/``127.0.0.1`` (EC
P-256, strict-chain compliant); ``start_smtp(Sink(), **controller_kwargs)`` runs an aiosmtpd
``Controller`` on a pre-bound port (no free-port race) and yields a :class:`Server` whose
:class:`Sink` keeps every message byte for byte, with envelope, TLS state and AUTH login. The sink
refuses recipients whose local part starts with ``refuse`` (550 5.1.1) and can drop the connection
in the middle of DATA. ``authenticator`` accepts :data:`USER`/:data:`PASSWORD`. See
``../shared/notes/mail-servers.md`` for the recipe and its pitfalls.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "helpmail", "s3cret-Pa55word"


@attrs.frozen
class Tls:
    """Paths of the test CA certificate and the server's certificate and key."""

    ca: Path
    cert: Path
    key: Path


def make_tls(d: Path) -> Tls:
    """A CA and a leaf certificate for localhost/127.0.0.1 (EC P-256), made by openssl in ``d``."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    run(
        "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2",
        "-subj", "/CN=helpmail test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash", "-out", "ca.crt",
    )  # fmt: skip
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key")
    run("req", "-new", "-key", "server.key", "-subj", "/CN=localhost", "-out", "server.csr")
    (d / "ext.cnf").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    run(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-sha256", "-extfile", "ext.cnf", "-out", "server.crt",
    )  # fmt: skip
    return Tls(ca=d / "ca.crt", cert=d / "server.crt", key=d / "server.key")


@attrs.define
class Received:
    """One message the sink accepted."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: bytes | None
    tls: bool


@attrs.define
class Sink:
    """aiosmtpd handler: keeps every message; refuses ``refuse*`` recipients; may drop DATA."""

    received: list[Received] = attrs.field(factory=list)
    drop_in_data: bool = False
    sessions: int = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        self.sessions += 1
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("refuse"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.drop_in_data:
            server.transport.close()
            return "421 closing"
        ssl_object = server.transport.get_extra_info("ssl_object")
        auth = session.auth_data
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.original_content,
                login=auth.login if isinstance(auth, LoginPassword) else None,
                tls=ssl_object is not None,
            )
        )
        return "250 Message accepted"


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    """Accepts :data:`USER` / :data:`PASSWORD` (PLAIN or LOGIN)."""
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


class BoundController(Controller):
    """A Controller on a socket bound before start (port 0, no free-port race)."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        self._sock = sock
        super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1], **kwargs)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


@attrs.frozen
class Server:
    """A running test server: its port on 127.0.0.1 and its sink."""

    port: int
    sink: Sink


def server_context(tls: Tls) -> ssl.SSLContext:
    """The server side TLS context for :func:`start_smtp` (``tls_context=``/``ssl_context=``)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert, tls.key)
    return context


def start_smtp(sink: Sink, **kwargs: Any) -> Iterator[Server]:
    """Run aiosmtpd with ``sink`` until the generator is closed (use with ``yield from``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    controller = BoundController(sink, sock, **kwargs)
    controller.start()
    try:
        yield Server(port=sock.getsockname()[1], sink=sink)
    finally:
        controller.stop()


# --- pytest fixtures shared by the SMTP test modules (import them by name) ----------------------


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A test CA and a server certificate for localhost, made once per test session."""
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def starttls_server(tls: Tls) -> Iterator[Server]:
    """A server that requires STARTTLS and AUTH (:data:`USER`/:data:`PASSWORD`)."""
    yield from start_smtp(
        Sink(),
        tls_context=server_context(tls),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )


@pytest.fixture
def plain_server() -> Iterator[Server]:
    """A server without TLS and without AUTH."""
    yield from start_smtp(Sink())
