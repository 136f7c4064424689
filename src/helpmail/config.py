"""The TOML configuration file: desk, import defaults, database, mailboxes (and later sections).

A configuration is a TOML document (stdlib :mod:`tomllib`) whose top-level tables are *sections*.
Each section is parsed by one function named in :data:`SECTIONS` (``"module:function"``, imported
lazily), with the signature ``parse(value: object, key: str) -> T``. A parser raises
:class:`~helpmail.errors.ConfigError` naming the dotted key and what is wrong with it; to report
several problems at once it raises :class:`ConfigErrors` (a ``ConfigError`` holding a list). Other
parts of helpmail add a section by adding one line to :data:`SECTIONS`.

The rule this module keeps: **every problem is reported, each naming its key**. Validation does not
stop at the first error; unknown keys are errors too (with a did-you-mean suggestion), so a typo
never silently falls back to a default::

    mailboxes[1].port: must be an integer between 1 and 65535, got "abc"
    import.atachments: unknown key (did you mean "attachments"?)

Secrets (signing keys, passwords) are never written in the file: they are references to an
environment variable or a file (``{ env = "NAME" }`` / ``{ file = "path" }``), resolved while
parsing so that ``helpmail check`` reports a missing one, and held in :class:`Secret`, whose
``repr`` and ``str`` never show the value.

Parsing is pure apart from resolving those references: :func:`parse_config` takes the decoded TOML
and an explicit environment mapping; :func:`load_config` reads the file. Relative paths are taken
relative to the directory of the configuration file.
"""

from __future__ import annotations

import contextvars
import difflib
import importlib
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

import attrs

from helpmail.errors import ConfigError
from helpmail.ports import MailboxAction, MailboxActionKind
from helpmail.tickets.settings import (
    AttachmentPolicy,
    ImportSettings,
    SubjectMatchPolicy,
    TicketTagFormat,
    UnknownSenderPolicy,
)

if TYPE_CHECKING:
    from helpmail.scanner.settings import MailboxSettings

T = TypeVar("T")

#: section name -> "module:function" that parses it. Add a line to add a section.
SECTIONS: dict[str, str] = {
    "desk": "helpmail.config:parse_desk",
    "import": "helpmail.config:parse_import",
    "database": "helpmail.config:parse_database",
    # Maildir/mbox entries are MailboxConfig; IMAP entries the scanner's MailboxSettings.
    "mailboxes": "helpmail.scanner.config:parse_mailboxes",
    "support_addresses": "helpmail.desk.config:parse_support_addresses",
    "contacts": "helpmail.desk.config:parse_contacts",
    "admission": "helpmail.desk.config:parse_admission",
    "spam": "helpmail.desk.config:parse_spam",
    "rules": "helpmail.rules.codec:parse_rules",
    "notify": "helpmail.notify.settings:parse_notify_config",
    "smtp": "helpmail.adapters.smtp:parse_smtp_settings",
}


class ConfigErrors(ConfigError):
    """Several configuration problems at once (each a :class:`ConfigError` naming its key).

    ``str()`` lists one problem per line. Section parsers raise it to report every problem they
    found; :func:`parse_config` raises it with the problems of all sections.
    """

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        self.errors: tuple[ConfigError, ...] = tuple(_flatten(errors))
        first = self.errors[0] if self.errors else ConfigError("", "invalid configuration")
        super().__init__(first.key, first.problem)
        self.args = ("\n".join(str(error) for error in self.errors),)

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


def _flatten(errors: Sequence[ConfigError]) -> Iterator[ConfigError]:
    for error in errors:
        if isinstance(error, ConfigErrors):
            yield from error.errors
        else:
            yield error


# --------------------------------------------------------------------------------------------
# Load context: where relative paths start and which environment secrets come from.


@attrs.frozen(kw_only=True)
class LoadContext:
    """What parsers may consult besides the TOML value: the base directory and the environment."""

    base_dir: Path = attrs.field(factory=Path.cwd)
    env: Mapping[str, str] = attrs.field(factory=dict, repr=False)


_CONTEXT: contextvars.ContextVar[LoadContext | None] = contextvars.ContextVar(
    "helpmail_config_context", default=None
)


def current_context() -> LoadContext:
    """The :class:`LoadContext` of the :func:`parse_config` call in progress (a default outside)."""
    context = _CONTEXT.get()
    return context if context is not None else LoadContext(env=os.environ)


# --------------------------------------------------------------------------------------------
# Value types


@attrs.frozen(kw_only=True)
class Secret:
    """A secret read from an environment variable or a file; never shown by ``repr``/``str``.

    ``origin`` says where it came from (``env:NAME`` or ``file:/path``) so messages can name it
    without revealing it. :meth:`reveal` returns the bytes.
    """

    origin: str
    _value: bytes = attrs.field(repr=False, alias="value")

    def reveal(self) -> bytes:
        """The secret's bytes (surrounding whitespace of a file or variable stripped)."""
        return self._value

    def __str__(self) -> str:
        return f"<secret from {self.origin}>"


@attrs.frozen(kw_only=True)
class DeskConfig:
    """``[desk]``: who the desk is and how its own Message-IDs are signed.

    ``signing_keys``: the first signs new Message-IDs, all of them verify (key rotation).
    ``addresses``: the desk's own support addresses (mail *from* them is its own mail coming back).
    """

    name: str = "helpdesk"
    domain: str = "helpdesk.invalid"
    signing_keys: tuple[Secret, ...] = ()
    addresses: tuple[str, ...] = ()
    language: str = "en"


@attrs.frozen(kw_only=True)
class DatabaseConfig:
    """``[database]``: where the embedded SQLite store lives (``None``: not configured)."""

    path: Path | None = None


class MailboxKind(StrEnum):
    """The kinds of mail source the bundled adapters read."""

    MAILDIR = "maildir"
    MBOX = "mbox"
    IMAP = "imap"


class TlsMode(StrEnum):
    """How an IMAP connection is secured: ``ssl`` (implicit TLS), ``starttls`` or ``none``."""

    SSL = "ssl"
    STARTTLS = "starttls"
    NONE = "none"


class AfterImport(StrEnum):
    """What happens to a message on its server once its import is committed."""

    LEAVE = "leave"
    MARK_SEEN = "mark_seen"
    MOVE = "move"
    DELETE = "delete"


@attrs.frozen(kw_only=True)
class MailboxConfig:
    """One ``[[mailboxes]]`` entry: a Maildir folder, an mbox file or an IMAP folder.

    For files ``path`` is set; for IMAP ``host``, ``port``, ``username``, ``password``, ``tls`` and
    ``folder``. ``address`` is the support address this mailbox receives (optional).
    """

    name: str
    kind: MailboxKind
    path: Path | None = None
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: Secret | None = None
    tls: TlsMode = TlsMode.SSL
    folder: str = "INBOX"
    after_import: AfterImport = AfterImport.LEAVE
    move_to: str | None = None
    address: str | None = None

    def actions(self) -> tuple[MailboxAction, ...]:
        """The mailbox actions ``after_import`` stands for."""
        if self.after_import is AfterImport.MARK_SEEN:
            return (MailboxAction(kind=MailboxActionKind.MARK_SEEN),)
        if self.after_import is AfterImport.MOVE:
            return (MailboxAction(kind=MailboxActionKind.MOVE, folder=self.move_to),)
        if self.after_import is AfterImport.DELETE:
            return (MailboxAction(kind=MailboxActionKind.DELETE),)
        return ()

    @property
    def url(self) -> str:
        """A readable URL of the mailbox (no password): ``imaps://user@host:993/INBOX``."""
        if self.kind is MailboxKind.IMAP:
            scheme = "imaps" if self.tls is TlsMode.SSL else "imap"
            user = f"{self.username}@" if self.username else ""
            return f"{scheme}://{user}{self.host}:{self.port}/{self.folder}"
        return f"{self.kind.value}:{self.path}"


@attrs.frozen(kw_only=True)
class Config:
    """A whole validated configuration.

    The built-in sections are typed attributes; every section (built-in or added by another part of
    helpmail through :data:`SECTIONS`) is also in ``sections`` under its name. ``path`` is the file
    it came from, if any. ``mailboxes`` holds a :class:`MailboxConfig` for each Maildir and mbox
    entry and the scanner's :class:`~helpmail.scanner.settings.MailboxSettings` for each IMAP
    entry (the ``mailboxes`` section parser, :func:`helpmail.scanner.config.parse_mailboxes`).
    """

    desk: DeskConfig = DeskConfig()
    import_: ImportSettings = attrs.field(factory=ImportSettings)
    database: DatabaseConfig = DatabaseConfig()
    mailboxes: tuple[MailboxConfig | MailboxSettings, ...] = ()
    sections: Mapping[str, object] = attrs.field(factory=dict, repr=False)
    path: Path | None = None

    def section(self, name: str) -> object | None:
        """The parsed value of section ``name`` (``None`` when the file has no such section)."""
        return self.sections.get(name)

    def import_settings(
        self, mailbox: MailboxConfig | MailboxSettings | None = None
    ) -> ImportSettings:
        """The :class:`~helpmail.tickets.settings.ImportSettings` for importing from ``mailbox``.

        ``[import]`` plus the desk's signing keys and own addresses and the mailbox's
        ``after_import`` actions.
        """
        if mailbox is None:
            actions: tuple[MailboxAction, ...] = ()
        elif isinstance(mailbox, MailboxConfig):
            actions = mailbox.actions()
        else:
            actions = (mailbox.after_import,)
        return attrs.evolve(
            self.import_,
            signing_keys=tuple(key.reveal() for key in self.desk.signing_keys),
            own_addresses=self.desk.addresses,
            after_import=actions,
        )

    def mailbox(self, name: str) -> MailboxConfig:
        """The Maildir or mbox mailbox called ``name``; :class:`ConfigError` when there is none
        (IMAP entries are :class:`~helpmail.scanner.settings.MailboxSettings` in ``mailboxes``)."""
        for mailbox in self.mailboxes:
            if mailbox.name == name and isinstance(mailbox, MailboxConfig):
                return mailbox
        known = ", ".join(repr(m.name) for m in self.mailboxes) or "none configured"
        raise ConfigError("mailboxes", f"no mailbox named {name!r} ({known})")


# --------------------------------------------------------------------------------------------
# The table reader: typed access that records problems and unknown keys.


def _show(value: object) -> str:
    """A value as TOML would spell it, shortened, for error messages."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "an array"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def suggest(name: str, candidates: Sequence[str]) -> str:
    """`` (did you mean "x"?)`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


class Table:
    """Reads one TOML table, collecting every problem with its dotted key.

    Use the typed getters, then :meth:`finish`, which adds an error for every key that was never
    asked for (with a did-you-mean) and raises :class:`ConfigErrors` if anything was wrong.
    """

    def __init__(self, value: object, key: str, errors: list[ConfigError] | None = None) -> None:
        self.key = key
        self.errors: list[ConfigError] = errors if errors is not None else []
        self._known: list[str] = []
        if isinstance(value, dict):
            self.data: dict[str, Any] = value
            self.valid = True
        else:
            self.data = {}
            self.valid = False
            self.errors.append(ConfigError(key, f"must be a table, got {_type_name(value)}"))

    def path(self, name: str) -> str:
        """The dotted key of ``name`` inside this table."""
        return f"{self.key}.{name}" if self.key else name

    def error(self, name: str, problem: str) -> None:
        """Record a problem with key ``name`` (a key of this table, or ``""`` for the table)."""
        self.errors.append(ConfigError(self.path(name) if name else self.key, problem))

    def has(self, name: str) -> bool:
        """Whether ``name`` is present (and marks it as known)."""
        self._known.append(name)
        return name in self.data

    def raw(self, name: str) -> object:
        """The value of ``name`` as decoded from TOML (``None`` when absent)."""
        self._known.append(name)
        return self.data.get(name)

    def get(self, name: str, convert: Callable[[object, str], T], default: T) -> T:
        """``convert(value, dotted_key)`` of ``name``, or ``default`` when absent or invalid.

        ``convert`` raises :class:`ConfigError`; the error is recorded and the default returned.
        """
        self._known.append(name)
        if name not in self.data:
            return default
        try:
            return convert(self.data[name], self.path(name))
        except ConfigError as error:
            self.errors.extend(_flatten([error]))
            return default

    def require(self, name: str, convert: Callable[[object, str], T], placeholder: T) -> T:
        """Like :meth:`get`, but a missing key is an error (``placeholder`` is then returned)."""
        if name not in self.data:
            self._known.append(name)
            self.error(name, "is required")
            return placeholder
        return self.get(name, convert, placeholder)

    def finish(self, *, raise_errors: bool = True) -> None:
        """Report unknown keys; raise :class:`ConfigErrors` when any problem was recorded."""
        for name in self.data:
            if name not in self._known:
                self.error(name, "unknown key" + suggest(name, self._known))
        if raise_errors and self.errors:
            raise ConfigErrors(self.errors)


# --------------------------------------------------------------------------------------------
# Converters: convert(value, key) -> T, raising ConfigError(key, problem).


def string(value: object, key: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a string, got {_type_name(value)} {_show(value)}")
    if not value.strip():
        raise ConfigError(key, "must not be empty")
    return value


def optional_string(value: object, key: str) -> str | None:
    """A string; ``""`` means "not set"."""
    if isinstance(value, str) and not value.strip():
        return None
    return string(value, key)


def string_list(value: object, key: str) -> tuple[str, ...]:
    """An array of non-empty strings (a single string is accepted as a one-element array)."""
    if isinstance(value, str):
        return (string(value, key),)
    if not isinstance(value, list):
        raise ConfigError(key, f"must be an array of strings, got {_type_name(value)}")
    errors: list[ConfigError] = []
    items: list[str] = []
    for index, item in enumerate(value):
        try:
            items.append(string(item, f"{key}[{index}]"))
        except ConfigError as error:
            errors.append(error)
    if errors:
        raise ConfigErrors(errors)
    return tuple(items)


def boolean(value: object, key: str) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise ConfigError(key, f"must be true or false, got {_show(value)}")
    return value


def integer(low: int, high: int) -> Callable[[object, str], int]:
    """A converter for an integer between ``low`` and ``high`` inclusive."""

    def convert(value: object, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                key, f"must be an integer between {low} and {high}, got {_show(value)}"
            )
        return value

    return convert


E = TypeVar("E", bound=StrEnum)


def choice(enum: type[E]) -> Callable[[object, str], E]:
    """A converter for one of the values of ``enum`` (with a did-you-mean)."""
    names = [member.value for member in enum]

    def convert(value: object, key: str) -> E:
        if isinstance(value, str):
            normalised = value.strip().lower().replace("-", "_").replace(" ", "_")
            for member in enum:
                if member.value == normalised:
                    return member
        listed = ", ".join(f'"{name}"' for name in names)
        hint = suggest(value, names) if isinstance(value, str) else ""
        raise ConfigError(key, f"must be one of {listed}, got {_show(value)}{hint}")

    return convert


def path(value: object, key: str) -> Path:
    """A file system path; relative paths start at the configuration file's directory."""
    text = string(value, key)
    try:
        candidate = Path(text).expanduser()
    except RuntimeError:  # "~someone" for a user this machine does not know
        raise ConfigError(key, f"cannot expand the home directory in {_show(text)}") from None
    if not candidate.is_absolute():
        candidate = current_context().base_dir / candidate
    return candidate


_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def domain(value: object, key: str) -> str:
    """A DNS domain name (Unicode names are converted to their IDNA form)."""
    text = string(value, key).strip().rstrip(".")
    try:
        ascii_name = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError:
        ascii_name = ""
    if not _DOMAIN.match(ascii_name):
        raise ConfigError(
            key, f"must be a domain name like support.example.org, got {_show(value)}"
        )
    return ascii_name.lower()


def email_address(value: object, key: str) -> str:
    """An email address (syntax only, RFC 5322 addr-spec; no DNS look-up)."""
    text = string(value, key).strip()
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as error:
        raise ConfigError(key, f"must be an email address, got {_show(value)}: {error}") from None
    return result.normalized


def email_list(value: object, key: str) -> tuple[str, ...]:
    """An array of email addresses (or one address)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(key, f"must be an array of email addresses, got {_type_name(value)}")
    errors: list[ConfigError] = []
    result: list[str] = []
    for index, item in enumerate(items):
        try:
            result.append(email_address(item, key if isinstance(value, str) else f"{key}[{index}]"))
        except ConfigError as error:
            errors.append(error)
    if errors:
        raise ConfigErrors(errors)
    return tuple(result)


def secret(value: object, key: str) -> Secret:
    """A secret given as ``{ env = "NAME" }`` or ``{ file = "path" }`` (never as plain text)."""
    if isinstance(value, str):
        raise ConfigError(
            key,
            'secrets are not written in the file: use { env = "VARIABLE" } or { file = "path" }',
        )
    table = Table(value, key)
    if not table.valid:
        table.finish()
    env_name = table.get("env", string, "")
    file_name = table.get("file", path, None)
    table.finish()
    if bool(env_name) == bool(file_name):
        raise ConfigError(key, 'give exactly one of env = "VARIABLE" or file = "path"')
    if env_name:
        found = current_context().env.get(env_name)
        if found is None or not found.strip():
            raise ConfigError(key, f"environment variable {env_name} is not set")
        return Secret(origin=f"env:{env_name}", value=found.strip().encode("utf-8"))
    assert file_name is not None
    try:
        data = file_name.read_bytes().strip()
    except OSError as error:
        raise ConfigError(key, f"cannot read {file_name}: {error.strerror or error}") from None
    if not data:
        raise ConfigError(key, f"{file_name} is empty")
    return Secret(origin=f"file:{file_name}", value=data)


def secret_list(value: object, key: str) -> tuple[Secret, ...]:
    """One secret or an array of secrets."""
    if isinstance(value, dict):
        return (secret(value, key),)
    if not isinstance(value, list) or not value:
        raise ConfigError(key, "must be a non-empty array of { env = ... } / { file = ... } tables")
    errors: list[ConfigError] = []
    result: list[Secret] = []
    for index, item in enumerate(value):
        try:
            result.append(secret(item, f"{key}[{index}]"))
        except ConfigError as error:
            errors.append(error)
    if errors:
        raise ConfigErrors(errors)
    return tuple(result)


_TAG_NUMBER = "{number}"


def ticket_tag(value: object, key: str) -> str:
    """A subject tag format containing ``{number}`` once, e.g. ``"[Ticket#{number}]"``."""
    text = string(value, key)
    if text.count(_TAG_NUMBER) != 1:
        raise ConfigError(key, f"must contain {_TAG_NUMBER} exactly once, got {_show(value)}")
    prefix, _, suffix = text.partition(_TAG_NUMBER)
    if not prefix.strip():
        raise ConfigError(
            key, f"needs text before {_TAG_NUMBER} (like Ticket#), got {_show(value)}"
        )
    if "{" in prefix + suffix or "}" in prefix + suffix:
        raise ConfigError(key, f"only {_TAG_NUMBER} may be in braces, got {_show(value)}")
    return text


# --------------------------------------------------------------------------------------------
# The built-in sections


def parse_desk(value: object, key: str) -> DeskConfig:
    """Parse ``[desk]`` (see :class:`DeskConfig`)."""
    table = Table(value, key)
    name = table.get("name", string, "helpdesk")
    desk_domain = table.get("domain", domain, "helpdesk.invalid")
    keys: tuple[Secret, ...] = ()
    if table.has("signing_key") and table.has("signing_keys"):
        table.error("signing_keys", "give signing_key or signing_keys, not both")
    elif table.has("signing_key"):
        one = table.get("signing_key", secret, None)
        keys = (one,) if one is not None else ()
    else:
        keys = table.get("signing_keys", secret_list, ())
    no_addresses: tuple[str, ...] = ()
    addresses = table.get("addresses", email_list, no_addresses)
    language = table.get("language", string, "en")
    table.finish()
    return DeskConfig(
        name=name,
        domain=desk_domain,
        signing_keys=keys,
        addresses=addresses,
        language=language,
    )


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgG]?i?[bB]?)\s*$")
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def size(value: object, key: str) -> int:
    """A size in bytes: an integer, or a string such as ``"20 MB"``, ``"512 KiB"`` (1024-based)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            unit = match.group(2).lower()[:1]
            number = float(match.group(1)) * _SIZE_UNITS[unit if unit != "b" else ""]
            if number >= 1:
                return int(number)
    raise ConfigError(key, f'must be a size like 20971520 or "20 MB", got {_show(value)}')


#: ``attachments = "..."`` keywords and the policies they stand for.
ATTACHMENT_KEYWORDS = {
    "images": AttachmentPolicy.images,
    "all": AttachmentPolicy.everything,
    "none": AttachmentPolicy.nothing,
}
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


def attachment_types(value: object, key: str) -> frozenset[str] | None:
    """``"images"``/``"all"``/``"none"`` or an array of media types (``["image/png", ...]``).

    Returns the set of sniffed media types to keep (``None``: keep everything).
    """
    if isinstance(value, str):
        factory = ATTACHMENT_KEYWORDS.get(value.strip().lower())
        if factory is None:
            listed = ", ".join(f'"{name}"' for name in ATTACHMENT_KEYWORDS)
            raise ConfigError(
                key,
                f"must be one of {listed} or an array of media types, got {_show(value)}"
                + suggest(value, list(ATTACHMENT_KEYWORDS)),
            )
        return factory().allowed_types
    types = string_list(value, key)
    errors = [
        ConfigError(f"{key}[{index}]", f'must be a media type like "image/png", got {_show(item)}')
        for index, item in enumerate(types)
        if not _MEDIA_TYPE.match(item.strip().lower())
    ]
    if errors:
        raise ConfigErrors(errors)
    return frozenset(item.strip().lower() for item in types)


_AUTOMATED_KINDS = ("bulk", "auto_reply")


def automated_kinds(value: object, key: str) -> frozenset[str]:
    """An array naming automated mail kinds (``"bulk"``, ``"auto_reply"``)."""
    kinds = string_list(value, key) if value != [] else ()
    errors = [
        ConfigError(
            f"{key}[{index}]",
            f"must be one of {', '.join(repr(k) for k in _AUTOMATED_KINDS)}, got {_show(kind)}"
            + suggest(kind, list(_AUTOMATED_KINDS)),
        )
        for index, kind in enumerate(kinds)
        if kind not in _AUTOMATED_KINDS
    ]
    if errors:
        raise ConfigErrors(errors)
    return frozenset(kinds)


def number_format(value: object, key: str) -> str:
    """A ticket number format using ``{n}`` (and optionally ``{year}``, ``{month}``, ``{day}``)."""
    text = string(value, key)
    try:
        text.format(n=1, year=2026, month=1, day=1)
    except (KeyError, IndexError, ValueError) as error:
        raise ConfigError(
            key, f"may use only {{n}}, {{year}}, {{month}}, {{day}}, got {_show(value)} ({error})"
        ) from None
    if "{n" not in text:
        raise ConfigError(key, f"must contain {{n}}, got {_show(value)}")
    return text


def parse_import(value: object, key: str) -> ImportSettings:
    """Parse ``[import]`` into :class:`~helpmail.tickets.settings.ImportSettings`.

    Signing keys and own addresses come from ``[desk]``, mailbox actions from the mailbox (see
    :meth:`Config.import_settings`).
    """
    base = ImportSettings()
    table = Table(value, key)
    template = table.get("ticket_tag", ticket_tag, base.ticket_tag.template)
    pattern = table.get("ticket_number_pattern", string, base.ticket_tag.number_pattern)
    tag = base.ticket_tag
    try:
        tag = TicketTagFormat(template=template, number_pattern=pattern)
    except ValueError as error:
        name = "ticket_number_pattern" if table.has("ticket_number_pattern") else "ticket_tag"
        table.error(name, str(error))
    allowed = table.get("attachments", attachment_types, base.attachments.allowed_types)
    attachments = AttachmentPolicy(
        allowed_types=allowed,
        max_size=table.get("max_attachment_size", size, base.attachments.max_size),
        keep_inline=table.get("keep_inline_images", boolean, base.attachments.keep_inline),
    )
    result = ImportSettings(
        status=table.get("status", string, base.status),
        follow_up_status=table.get("follow_up_status", optional_string, base.follow_up_status),
        default_employee=table.get("default_employee", string, base.default_employee),
        default_contact=table.get("default_contact", string, base.default_contact),
        unknown_sender=table.get(
            "unknown_sender", choice(UnknownSenderPolicy), base.unknown_sender
        ),
        queue=table.get("queue", optional_string, base.queue),
        manager=table.get("manager", optional_string, base.manager),
        assignee=table.get("assignee", optional_string, base.assignee),
        ticket_tag=tag,
        subject_match=table.get("subject_match", choice(SubjectMatchPolicy), base.subject_match),
        attachments=attachments,
        number_format=table.get("ticket_number_format", number_format, base.number_format),
        ticket_for_unmatched=table.get(
            "ticket_for_unmatched", automated_kinds, base.ticket_for_unmatched
        ),
        history_text=table.get("history_text", string, base.history_text),
        max_message_size=table.get("max_message_size", size, base.max_message_size),
        untitled=table.get("untitled", string, base.untitled),
    )
    table.finish()
    return result


def parse_database(value: object, key: str) -> DatabaseConfig:
    """Parse ``[database]`` (``path``: the SQLite file)."""
    table = Table(value, key)
    db_path = table.get("path", path, None)
    table.finish()
    return DatabaseConfig(path=db_path)


_DEFAULT_PORTS = {TlsMode.SSL: 993, TlsMode.STARTTLS: 143, TlsMode.NONE: 143}


def mailbox_from_url(url: str, key: str) -> dict[str, object]:
    """Split a mailbox URL into ``[[mailboxes]]`` fields.

    ``imaps://user@host:993/INBOX`` (implicit TLS), ``imap://user@host/INBOX`` (STARTTLS),
    ``maildir:/path``, ``mbox:/path``. A password in the URL is refused (use ``password``).
    """
    try:
        parts = urlsplit(url)
    except ValueError as error:  # e.g. an unbalanced "[" (RFC 3986 §3.2.2: an IPv6 literal)
        raise ConfigError(key, f"is not a valid URL ({error}), got {_show(url)}") from None
    scheme = parts.scheme.lower()
    if scheme in ("maildir", "mbox"):
        location = url.split(":", 1)[1]
        if location.startswith("//"):
            location = location[2:]
        if not location:
            raise ConfigError(key, f"{scheme}: URL needs a path, got {_show(url)}")
        return {"kind": scheme, "path": location}
    if scheme not in ("imap", "imaps"):
        raise ConfigError(
            key, f"must start with imaps://, imap://, maildir: or mbox:, got {_show(url)}"
        )
    try:
        port = parts.port
        hostname = parts.hostname
    except ValueError:
        raise ConfigError(key, f"has an invalid port, got {_show(url)}") from None
    if parts.password:
        raise ConfigError(key, 'must not contain a password: use password = { env = "..." }')
    if not hostname:
        raise ConfigError(key, f"needs a host name, got {_show(url)}")
    fields: dict[str, object] = {
        "kind": "imap",
        "host": hostname,
        "tls": "ssl" if scheme == "imaps" else "starttls",
    }
    if port is not None:
        fields["port"] = port
    if parts.username:
        fields["username"] = unquote(parts.username)
    folder = unquote(parts.path.lstrip("/"))
    if folder:
        fields["folder"] = folder
    return fields


def mailbox_url_fields(table: Table) -> tuple[dict[str, object], str | None, bool]:
    """The fields a mailbox table's ``url`` gives: (fields, url or None, whether the url failed).

    A broken url is recorded as one problem in ``table``; callers then do not also report the
    host, path or user it should have given.
    """
    url = table.get("url", string, None)
    if url is None:
        return {}, None, False
    try:
        return mailbox_from_url(url, table.path("url")), url, False
    except ConfigError as error:
        table.errors.append(error)
        return {}, url, True


def parse_mailbox(value: object, key: str, index: int = 0) -> MailboxConfig:
    """Parse one ``[[mailboxes]]`` entry."""
    table = Table(value, key)
    if not table.valid:
        table.finish()
    fields, url, url_failed = mailbox_url_fields(table)
    for name in ("kind", "path", "host", "port", "username", "tls", "folder"):
        if table.has(name):
            if name in fields and url is not None and name not in ("port", "folder", "username"):
                table.error(name, "is already given by url")
            fields[name] = table.data[name]
    kind = MailboxKind.MAILDIR
    if "kind" in fields:
        try:
            kind = choice(MailboxKind)(fields["kind"], table.path("kind"))
        except ConfigError as error:
            table.errors.append(error)
    elif "path" in fields:
        kind = MailboxKind.MAILDIR
    elif "host" in fields:
        kind = MailboxKind.IMAP
    elif not url_failed:
        table.error("", 'needs url = "imaps://user@host/INBOX", or path = "/path/to/Maildir"')
    name = table.get("name", string, f"mailbox{index + 1}")
    after = table.get("after_import", choice(AfterImport), AfterImport.LEAVE)
    move_to = table.get("move_to", optional_string, None)
    address = table.get("address", email_address, None)
    password = table.get("password", secret, None)
    result = MailboxConfig(
        name=name, kind=kind, after_import=after, move_to=move_to, address=address
    )
    if after is AfterImport.MOVE and not move_to:
        table.error("move_to", 'is required when after_import = "move"')
    if kind in (MailboxKind.MAILDIR, MailboxKind.MBOX):
        mailbox_path = None
        if "path" not in fields:
            if not url_failed:
                table.error("path", f"is required for a {kind.value} mailbox")
        else:
            try:
                mailbox_path = path(fields["path"], table.path("path"))
            except ConfigError as error:
                table.errors.append(error)
        for imap_only in ("host", "port", "username", "tls"):
            if imap_only in fields:
                table.error(imap_only, f"only applies to IMAP mailboxes, not {kind.value}")
        if password is not None:
            table.error("password", f"only applies to IMAP mailboxes, not {kind.value}")
        result = attrs.evolve(result, path=mailbox_path)
    elif kind is MailboxKind.IMAP:
        host = None
        if "host" not in fields:
            if not url_failed:
                table.error("host", "is required for an IMAP mailbox")
        else:
            try:
                host = string(fields["host"], table.path("host"))
            except ConfigError as error:
                table.errors.append(error)
        tls = TlsMode.SSL
        if "tls" in fields:
            try:
                tls = choice(TlsMode)(fields["tls"], table.path("tls"))
            except ConfigError as error:
                table.errors.append(error)
        port = _DEFAULT_PORTS[tls]
        if "port" in fields:
            try:
                port = integer(1, 65535)(fields["port"], table.path("port"))
            except ConfigError as error:
                table.errors.append(error)
        username = None
        if "username" in fields:
            try:
                username = string(fields["username"], table.path("username"))
            except ConfigError as error:
                table.errors.append(error)
        folder = "INBOX"
        if "folder" in fields:
            try:
                folder = string(fields["folder"], table.path("folder"))
            except ConfigError as error:
                table.errors.append(error)
        if "path" in fields:
            table.error("path", "only applies to maildir and mbox mailboxes, not imap")
        result = attrs.evolve(
            result,
            host=host,
            port=port,
            username=username,
            password=password,
            tls=tls,
            folder=folder,
        )
    table.finish()
    return result


def parse_mailboxes(value: object, key: str) -> tuple[MailboxConfig, ...]:
    """Parse ``[[mailboxes]]`` (an array of tables; names must be unique)."""
    if not isinstance(value, list):
        raise ConfigError(key, f"must be an array of tables ([[{key}]]), got {_type_name(value)}")
    errors: list[ConfigError] = []
    result: list[MailboxConfig] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(value):
        item_key = f"{key}[{index}]"
        try:
            mailbox = parse_mailbox(item, item_key, index)
        except ConfigError as error:
            errors.append(error)
            continue
        if mailbox.name in seen:
            errors.append(
                ConfigError(
                    f"{item_key}.name",
                    f"{mailbox.name!r} is already the name of {key}[{seen[mailbox.name]}]",
                )
            )
        seen[mailbox.name] = index
        result.append(mailbox)
    if errors:
        raise ConfigErrors(errors)
    return tuple(result)


# --------------------------------------------------------------------------------------------
# Whole documents


def _section_parser(name: str) -> Callable[[object, str], object]:
    module_name, _, function = SECTIONS[name].partition(":")
    parser: Callable[[object, str], object] = getattr(
        importlib.import_module(module_name), function
    )
    return parser


def parse_config(
    data: Mapping[str, object],
    *,
    base_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    source: Path | None = None,
) -> Config:
    """Validate a decoded TOML document; raise :class:`ConfigErrors` listing every problem.

    ``base_dir`` is where relative paths start (default: the current directory); ``env`` is where
    ``{ env = "NAME" }`` secrets are looked up (default: ``os.environ``).
    """
    context = LoadContext(
        base_dir=base_dir if base_dir is not None else Path.cwd(),
        env=env if env is not None else dict(os.environ),
    )
    token = _CONTEXT.set(context)
    errors: list[ConfigError] = []
    sections: dict[str, object] = {}
    try:
        for name, value in data.items():
            if name not in SECTIONS:
                errors.append(ConfigError(name, "unknown section" + suggest(name, list(SECTIONS))))
                continue
            try:
                sections[name] = _section_parser(name)(value, name)
            except ConfigError as error:
                errors.append(error)
    finally:
        _CONTEXT.reset(token)
    if errors:
        raise ConfigErrors(errors)
    desk = sections.get("desk", DeskConfig())
    import_ = sections.get("import", ImportSettings())
    database = sections.get("database", DatabaseConfig())
    mailboxes = sections.get("mailboxes", ())
    assert isinstance(desk, DeskConfig)
    assert isinstance(import_, ImportSettings)
    assert isinstance(database, DatabaseConfig)
    assert isinstance(mailboxes, tuple)
    return Config(
        desk=desk,
        import_=import_,
        database=database,
        mailboxes=mailboxes,
        sections=sections,
        path=source,
    )


def parse_toml(text: str, *, source: Path | None = None, **kwargs: Any) -> Config:
    """Parse TOML text; a TOML syntax error becomes a :class:`ConfigError` with its line."""
    import tomllib

    where = str(source) if source is not None else "<config>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(where, f"not valid TOML: {error}") from None
    return parse_config(data, source=source, **kwargs)


def load_config(file: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a configuration file (relative paths start at its directory)."""
    location = Path(file)
    try:
        text = location.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(location), "no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(str(location), "is not UTF-8 text (TOML files are UTF-8)") from None
    except OSError as error:
        raise ConfigError(str(location), f"cannot read: {error.strerror or error}") from None
    return parse_toml(text, source=location, base_dir=location.resolve().parent, env=env)
