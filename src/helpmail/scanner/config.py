"""Scanner configuration: IMAP ``[[mailboxes]]`` entries and ``imap://`` / ``imaps://`` URLs.

The rules this module keeps: every problem is reported with its dotted key (the shared
:class:`helpmail.config.Table` collects them all), and a password is never read from the file or
the URL as plain text: it is a ``{ env = "NAME" }`` / ``{ file = "path" }`` reference
(:func:`helpmail.config.secret`), or for ``helpmail import imaps://...`` an environment variable
(``HELPMAIL_IMAP_PASSWORD`` by default).

An IMAP mailbox in TOML (the keys of :func:`helpmail.config.parse_mailbox` plus the scanner's)::

    [[mailboxes]]
    name = "support"
    url = "imaps://support@imap.example.org/INBOX"   # or host/port/username/tls
    password = { env = "SUPPORT_IMAP_PASSWORD" }
    folders = ["INBOX", "Urgent"]        # or folder = "INBOX"
    scan_mode = "all"                    # or "unseen"
    after_import = "move"                # leave | mark_seen | move | delete
    move_to = "Imported"
    ca_file = "certs/company-ca.pem"     # extra CA to verify the server with
    max_message_size = 52428800          # bytes; bigger mail is skipped with a reason

:func:`parse_mailboxes` is a section parser (``parse(value, key) -> T``) for ``mailboxes`` that
returns :class:`MailboxSettings` for IMAP entries and delegates Maildir/mbox entries to
:func:`helpmail.config.parse_mailbox`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from helpmail.config import (
    ConfigErrors,
    MailboxConfig,
    MailboxKind,
    Secret,
    Table,
    TlsMode,
    boolean,
    choice,
    current_context,
    email_address,
    integer,
    mailbox_url_fields,
    optional_string,
    parse_mailbox,
    path,
    secret,
    string,
    string_list,
)
from helpmail.errors import ConfigError
from helpmail.ports import MailboxAction, MailboxActionKind
from helpmail.scanner.settings import (
    DEFAULT_PORTS,
    MailboxSettings,
    OAuth2Auth,
    PasswordAuth,
    ScanMode,
    Security,
)

#: ``tls`` values of the shared configuration -> scanner security
_SECURITY_NAMES: Mapping[str, Security] = {
    "ssl": Security.TLS,
    "tls": Security.TLS,
    "imaps": Security.TLS,
    "starttls": Security.STARTTLS,
    "none": Security.PLAIN,
    "plain": Security.PLAIN,
}
_TLS_MODES: Mapping[TlsMode, Security] = {
    TlsMode.SSL: Security.TLS,
    TlsMode.STARTTLS: Security.STARTTLS,
    TlsMode.NONE: Security.PLAIN,
}
#: the environment variable ``helpmail import imaps://...`` reads the password from
PASSWORD_ENV = "HELPMAIL_IMAP_PASSWORD"


def security(value: object, key: str) -> Security:
    """``ssl``/``tls`` (implicit TLS), ``starttls``, or ``none``/``plain``."""
    if isinstance(value, str) and value.strip().lower() in _SECURITY_NAMES:
        return _SECURITY_NAMES[value.strip().lower()]
    raise ConfigError(key, f"must be one of ssl, starttls, none; got {value!r}")


def after_import(kind: MailboxActionKind, move_to: str | None) -> MailboxAction:
    """The :class:`MailboxAction` for ``after_import`` / ``move_to``."""
    if kind is MailboxActionKind.MOVE:
        if not move_to:
            raise ConfigError("move_to", 'is required when after_import = "move"')
        return MailboxAction(kind=kind, folder=move_to)
    return MailboxAction(kind=kind)


def _token_provider(token: Secret) -> Callable[[], str]:
    def provide() -> str:
        return token.reveal().decode("utf-8")

    return provide


def parse_imap_mailbox(value: object, key: str, index: int = 0) -> MailboxSettings:
    """Parse one IMAP ``[[mailboxes]]`` entry into :class:`MailboxSettings`.

    Raises :class:`helpmail.config.ConfigErrors` listing every problem with its key.
    """
    table = Table(value, key)
    if not table.valid:
        table.finish()
    fields, url, url_failed = mailbox_url_fields(table)
    if url is not None and fields.get("kind") not in (None, "imap"):
        table.error("url", "is not an imap:// or imaps:// URL")
    for name in ("host", "port", "username", "user", "folder"):
        if table.has(name):
            fields["username" if name == "user" else name] = table.data[name]
    table.get("kind", choice(MailboxKind), MailboxKind.IMAP)
    sec = Security.TLS
    if "tls" in fields:
        sec = security(fields["tls"], table.path("url"))
    sec = table.get("tls", security, sec)
    sec = table.get("security", security, sec)
    host = ""
    if "host" not in fields:
        if not url_failed:
            table.error("host", "is required for an IMAP mailbox")
    else:
        try:
            host = string(fields["host"], table.path("host"))
        except ConfigError as error:
            table.errors.append(error)
    port = DEFAULT_PORTS[sec]
    if "port" in fields:
        try:
            port = integer(1, 65535)(fields["port"], table.path("port"))
        except ConfigError as error:
            table.errors.append(error)
    user = ""
    if "username" not in fields:
        if not url_failed:
            table.error("username", "is required for an IMAP mailbox")
    else:
        try:
            user = string(fields["username"], table.path("username"))
        except ConfigError as error:
            table.errors.append(error)
    folders: tuple[str, ...] = ("INBOX",)
    if "folder" in fields:
        try:
            folders = (string(fields["folder"], table.path("folder")),)
        except ConfigError as error:
            table.errors.append(error)
    folders = table.get("folders", string_list, folders)
    password = table.get("password", secret, None)
    token = table.get("oauth2_token", secret, None)
    # A password or token given but unreadable (an unset variable) is already reported once.
    if (
        password is None
        and token is None
        and not table.has("password")
        and not table.has("oauth2_token")
    ):
        table.error("password", 'is required: password = { env = "VARIABLE" } (or oauth2_token)')
    if password is not None and token is not None:
        table.error("oauth2_token", "give password or oauth2_token, not both")
    kind = table.get("after_import", choice(MailboxActionKind), MailboxActionKind.MARK_SEEN)
    move_to = table.get("move_to", optional_string, None)
    action = MailboxAction(kind=MailboxActionKind.MARK_SEEN)
    try:
        action = after_import(kind, move_to)
    except ConfigError as error:
        table.error(error.key, error.problem)
    auth: PasswordAuth | OAuth2Auth
    if token is not None:
        auth = OAuth2Auth(user=user, token_provider=_token_provider(token))
    else:
        auth = PasswordAuth(user=user, password=password or Secret(origin="missing", value=b""))
    options = {
        "name": table.get("name", string, f"mailbox{index + 1}"),
        "active": table.get("active", boolean, True),
        "allow_plaintext": table.get("allow_plaintext", boolean, False),
        "verify_certificate": table.get("verify_certificate", boolean, True),
        "ca_file": table.get("ca_file", path, None),
        "scan_mode": table.get("scan_mode", choice(ScanMode), ScanMode.ALL),
        "max_message_size": table.get("max_message_size", integer(1, 2**40), 50 * 1024 * 1024),
        "batch_size": table.get("batch_size", integer(1, 100_000), 200),
        "idle": table.get("idle", boolean, True),
        "poll_interval": float(table.get("poll_interval", integer(1, 86_400), 60)),
        "timeout": float(table.get("timeout", integer(1, 3_600), 30)),
        "address": table.get("address", email_address, None),
    }
    result: MailboxSettings | None = None
    if not table.errors:
        try:
            result = MailboxSettings(
                host=host,
                port=port,
                auth=auth,
                security=sec,
                folders=folders,
                after_import=action,
                **options,  # type: ignore[arg-type]
            )
        except ConfigError as error:
            table.error(error.key, error.problem)
    table.finish()
    assert result is not None
    return result


def _is_imap(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    url = value.get("url")
    if isinstance(url, str) and url.lower().startswith(("imap://", "imaps://")):
        return True
    return value.get("kind") == "imap" or ("host" in value and "path" not in value)


def parse_mailboxes(value: object, key: str) -> tuple[MailboxSettings | MailboxConfig, ...]:
    """Section parser for ``[[mailboxes]]``: IMAP entries become :class:`MailboxSettings`,
    Maildir/mbox entries :class:`helpmail.config.MailboxConfig`. Names must be unique."""
    if not isinstance(value, list):
        raise ConfigError(key, "must be an array of tables ([[mailboxes]])")
    errors: list[ConfigError] = []
    result: list[MailboxSettings | MailboxConfig] = []
    for index, item in enumerate(value):
        entry_key = f"{key}[{index}]"
        try:
            if _is_imap(item):
                result.append(parse_imap_mailbox(item, entry_key, index))
            else:
                result.append(parse_mailbox(item, entry_key, index))
        except ConfigError as error:
            errors.append(error)
    seen: set[str] = set()
    for index, mailbox in enumerate(result):
        if mailbox.name in seen:
            errors.append(ConfigError(f"{key}[{index}].name", f"duplicate name {mailbox.name!r}"))
        seen.add(mailbox.name)
    if errors:
        raise ConfigErrors(errors)
    return tuple(result)


def settings_from_config(mailbox: MailboxConfig, **overrides: object) -> MailboxSettings:
    """Turn the shared configuration's IMAP :class:`~helpmail.config.MailboxConfig` into
    :class:`MailboxSettings` (``overrides`` set the scanner-only fields, e.g. ``scan_mode``)."""
    if mailbox.kind is not MailboxKind.IMAP or not mailbox.host or not mailbox.username:
        raise ConfigError(f"mailboxes.{mailbox.name}", "is not an IMAP mailbox with host and user")
    if mailbox.password is None:
        raise ConfigError(f"mailboxes.{mailbox.name}.password", "is required for IMAP")
    return MailboxSettings(
        name=mailbox.name,
        host=mailbox.host,
        port=mailbox.port or DEFAULT_PORTS[_TLS_MODES[mailbox.tls]],
        security=_TLS_MODES[mailbox.tls],
        auth=PasswordAuth(user=mailbox.username, password=mailbox.password),
        folders=(mailbox.folder,),
        after_import=after_import(MailboxActionKind(mailbox.after_import.value), mailbox.move_to),
        address=mailbox.address,
        **overrides,  # type: ignore[arg-type]
    )


def parse_imap_url(
    url: str,
    *,
    password: Secret | None = None,
    env: Mapping[str, str] | None = None,
    password_env: str = PASSWORD_ENV,
    name: str | None = None,
) -> MailboxSettings:
    """Settings for ``helpmail import imaps://user@host[:port]/FOLDER[?options]``.

    ``imaps://`` is implicit TLS (port 993), ``imap://`` is STARTTLS (port 143). A password in the
    URL is refused (it would land in shell history and process lists); it comes from ``password``
    or the environment variable ``password_env``. Options: ``scan_mode``, ``after_import``,
    ``move_to``, ``ca_file``, ``folders`` (comma-separated), ``max_message_size``.
    Error messages show the URL without any credentials.
    """
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as error:  # e.g. an unbalanced "[" (an IPv6 literal)
        raise ConfigError("url", f"is not a valid URL: {error}") from None
    scheme = parts.scheme.lower()
    shown = f"{scheme}://{hostname or ''}{parts.path}"
    if scheme not in ("imap", "imaps"):
        raise ConfigError("url", f"must start with imaps:// or imap://, got {shown!r}")
    if parts.password:
        raise ConfigError(
            "url", f"must not contain a password: set the environment variable {password_env}"
        )
    if not hostname:
        raise ConfigError("url", f"needs a host name: {shown!r}")
    if not parts.username:
        raise ConfigError("url", f"needs a user name (imaps://USER@host/INBOX): {shown!r}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("url", f"has an invalid port: {shown!r}") from None
    sec = Security.TLS if scheme == "imaps" else Security.STARTTLS
    options = dict(parse_qsl(parts.query))
    unknown = set(options) - {
        "scan_mode",
        "after_import",
        "move_to",
        "ca_file",
        "folders",
        "max_message_size",
    }
    if unknown:
        raise ConfigError(f"url.{sorted(unknown)[0]}", "unknown option")
    if password is None:
        environment = env if env is not None else current_context().env
        found = environment.get(password_env)
        if not found:
            raise ConfigError("password", f"set the environment variable {password_env}")
        password = Secret(origin=f"env:{password_env}", value=found.encode("utf-8"))
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    folders = tuple(f for f in options.get("folders", folder).split(",") if f)
    try:
        scan = ScanMode(options.get("scan_mode", "all"))
        kind = MailboxActionKind(options.get("after_import", "mark_seen"))
        size = int(options.get("max_message_size", 50 * 1024 * 1024))
    except ValueError as error:
        raise ConfigError("url", f"invalid option: {error}") from None
    user = unquote(parts.username)
    return MailboxSettings(
        name=name or f"{user}@{hostname}",
        host=hostname,
        port=port or DEFAULT_PORTS[sec],
        security=sec,
        auth=PasswordAuth(user=user, password=password),
        folders=folders,
        scan_mode=scan,
        after_import=after_import(kind, options.get("move_to")),
        ca_file=Path(options["ca_file"]) if "ca_file" in options else None,
        max_message_size=size,
    )
