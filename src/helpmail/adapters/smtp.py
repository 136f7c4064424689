"""The SMTP sender: smtplib behind the :class:`~helpmail.notify.ports.MailSender` port.

What it keeps:

* **Encryption with verified certificates by default**: implicit TLS (``tls``, port 465,
  RFC 8314 §3.3) or STARTTLS (``starttls``, port 587, RFC 3207); certificates and host names are
  checked (``ssl.create_default_context``, optionally with the desk's own CA file). When a server
  does not offer STARTTLS, sending fails - it never falls back to plain text. Unencrypted SMTP
  (``none``) is for a local relay only, and never carries a password.
* **Credentials never leak**: the password is not in any ``repr``, log line or error message, and
  backend exceptions are not chained into :class:`~helpmail.errors.SendError`.
* **CRLF line ends**: the message is serialised with ``email.policy.SMTP`` (RFC 5321 §2.3.8),
  since smtplib sends bytes unchanged and a bare LF arrives as one over-long line.
* **Refusals per recipient**: when every recipient is refused, :class:`RecipientsRefused` (a
  ``SendError``) lists each with its code and reply; a partial refusal is returned in the
  :class:`~helpmail.notify.ports.SendReceipt`.

Use one connection for many mails with ``with SmtpSender(settings) as sender: ...``; outside a
``with`` block each ``send`` opens and closes its own connection.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from collections.abc import Mapping
from enum import StrEnum
from types import TracebackType

import attrs

from helpmail.errors import ConfigError, SendError
from helpmail.notify.ports import OutgoingMail, SendReceipt

log = logging.getLogger("helpmail.smtp")


class SmtpSecurity(StrEnum):
    """How the connection is protected."""

    TLS = "tls"  #: implicit TLS from the first byte (SMTPS, RFC 8314)
    STARTTLS = "starttls"  #: plain connect, then STARTTLS (RFC 3207); required, never optional
    NONE = "none"  #: no encryption (a local relay); AUTH is refused


DEFAULT_PORTS = {SmtpSecurity.TLS: 465, SmtpSecurity.STARTTLS: 587, SmtpSecurity.NONE: 25}


@attrs.frozen(kw_only=True)
class SmtpSettings:
    """Where and how to send. ``password`` is never shown in a ``repr``."""

    host: str
    port: int | None = None
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    ca_file: str | None = None
    verify: bool = True
    timeout: float = 30.0
    local_hostname: str | None = None

    @property
    def effective_port(self) -> int:
        """The port, or the default one for the security mode."""
        return self.port or DEFAULT_PORTS[self.security]


class RecipientsRefused(SendError):
    """The server refused every recipient; ``refused`` maps address -> (code, reply)."""

    def __init__(self, refused: Mapping[str, tuple[int, str]]) -> None:
        self.refused = dict(refused)
        listed = "; ".join(f"{a}: {c} {m}" for a, (c, m) in self.refused.items())
        super().__init__(f"all recipients refused: {listed}")


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """The client TLS context: system CAs (or ``ca_file``), host name check, TLS 1.2 or newer."""
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError("smtp.ca_file", f"cannot load {settings.ca_file}: {error}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class SmtpSender:
    """Sends :class:`~helpmail.notify.ports.OutgoingMail` over SMTP (see the module docstring)."""

    def __init__(self, settings: SmtpSettings) -> None:
        if settings.username and settings.security is SmtpSecurity.NONE:
            raise ConfigError("smtp.username", "a password is never sent without TLS")
        self.settings = settings
        self._client: smtplib.SMTP | None = None
        self._session = False

    def __repr__(self) -> str:
        s = self.settings
        return f"SmtpSender({s.host}:{s.effective_port}, {s.security}, user={s.username!r})"

    @property
    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.effective_port}"

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        client: smtplib.SMTP | None = None
        try:
            if s.security is SmtpSecurity.TLS:
                client = smtplib.SMTP_SSL(
                    s.host,
                    s.effective_port,
                    local_hostname=s.local_hostname,
                    timeout=s.timeout,
                    context=tls_context(s),
                )
            else:
                client = smtplib.SMTP(
                    s.host, s.effective_port, local_hostname=s.local_hostname, timeout=s.timeout
                )
                client.ehlo()
                if s.security is SmtpSecurity.STARTTLS:
                    if not client.has_extn("starttls"):
                        raise SendError(
                            f"{self._where} does not offer STARTTLS; not sending in clear"
                        )
                    client.starttls(context=tls_context(s))
                    client.ehlo()
            if s.username:
                client.login(s.username, s.password or "")
        except SendError:
            _quietly_close(client)
            raise
        except smtplib.SMTPAuthenticationError as error:
            _quietly_close(client)
            raise SendError(
                f"{self._where}: authentication as {s.username!r} failed: "
                f"{error.smtp_code} {_text(error.smtp_error)}"
            ) from None
        except ssl.SSLCertVerificationError as error:
            _quietly_close(client)
            raise SendError(
                f"{self._where}: certificate not trusted: {error.verify_message or error}"
            ) from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as error:
            _quietly_close(client)
            raise SendError(f"{self._where}: cannot connect: {_describe(error)}") from None
        return client

    def __enter__(self) -> SmtpSender:
        self._session = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._session = False
        self.close()

    def close(self) -> None:
        """QUIT and close the connection, if one is open."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    def _client_for_send(self) -> smtplib.SMTP:
        if self._client is not None:
            try:  # a kept connection may have timed out on the server side
                if self._client.noop()[0] == 250:
                    return self._client
            except (smtplib.SMTPException, OSError):
                pass
            _quietly_close(self._client)
            self._client = None
        self._client = self._connect()
        return self._client

    def send(self, mail: OutgoingMail) -> SendReceipt:
        """Send one mail; :class:`SendError` (or :class:`RecipientsRefused`) when nothing went."""
        from email import policy

        recipients = list(mail.envelope_to)
        if not recipients:
            raise SendError("no recipients")
        utf8 = not all(a.isascii() for a in [mail.envelope_from, *recipients])
        data = mail.message.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
        client = self._client_for_send()
        if utf8 and not client.has_extn("smtputf8"):
            self._drop()
            raise SendError(
                f"{self._where} does not offer SMTPUTF8 (RFC 6531), which the address "
                f"{next(a for a in [mail.envelope_from, *recipients] if not a.isascii())} needs"
            )
        try:
            refused_raw = client.sendmail(
                mail.envelope_from, recipients, data, mail_options=["SMTPUTF8"] if utf8 else []
            )
        except smtplib.SMTPRecipientsRefused as error:
            self._drop()
            refused = {a: (code, _text(msg)) for a, (code, msg) in error.recipients.items()}
            raise RecipientsRefused(refused) from None
        except smtplib.SMTPSenderRefused as error:
            self._drop()
            raise SendError(
                f"{self._where}: sender {mail.envelope_from} refused: {error.smtp_code} "
                f"{_text(error.smtp_error)}"
            ) from None
        except smtplib.SMTPDataError as error:
            self._drop()
            raise SendError(
                f"{self._where}: message refused: {error.smtp_code} {_text(error.smtp_error)}"
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            self._drop(force=True)
            raise SendError(f"{self._where}: sending failed: {_describe(error)}") from None
        refused = {a: (code, _text(msg)) for a, (code, msg) in refused_raw.items()}
        accepted = tuple(a for a in recipients if a not in refused)
        log.info("sent %s to %d recipient(s) via %s", mail.message_id, len(accepted), self._where)
        if not self._session:
            self.close()
        return SendReceipt(accepted=accepted, refused=refused)

    def _drop(self, *, force: bool = False) -> None:
        if force and self._client is not None:
            _quietly_close(self._client)
            self._client = None
        elif not self._session:
            self.close()
        elif self._client is not None:
            try:
                self._client.rset()
            except (smtplib.SMTPException, OSError):
                _quietly_close(self._client)
                self._client = None


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _quietly_close(client: smtplib.SMTP | None) -> None:
    if client is not None:
        with contextlib.suppress(OSError):
            client.close()


def parse_smtp_settings(value: object, key: str = "smtp") -> SmtpSettings:
    """Parse the ``[smtp]`` config section; the password is a secret (``{ env = "NAME" }``)."""
    from helpmail import config as c

    table = c.Table(value, key)
    host = table.require("host", c.string, "localhost")
    port = table.get("port", c.integer(1, 65535), None)
    security = table.get("security", c.choice(SmtpSecurity), SmtpSecurity.STARTTLS)
    username = table.get("username", c.optional_string, None)
    password = table.get("password", c.secret, None)
    ca_file = table.get("ca_file", c.path, None)
    verify = table.get("verify", c.boolean, True)
    timeout = table.get("timeout", c.integer(1, 600), 30)
    local_hostname = table.get("local_hostname", c.optional_string, None)
    if username and security is SmtpSecurity.NONE:
        table.error("username", 'a password is never sent without TLS (security = "none")')
    if password is not None and not username:
        table.error("password", "given without a username")
    table.finish()
    return SmtpSettings(
        host=host,
        port=port,
        security=security,
        username=username,
        password=password.reveal().decode("utf-8") if password is not None else None,
        ca_file=str(ca_file) if ca_file is not None else None,
        verify=verify,
        timeout=float(timeout),
        local_hostname=local_hostname,
    )
