"""Configuration sections of the desk: ``support_addresses``, ``contacts``, ``admission``, ``spam``.

Each parser has the signature of :data:`helpmail.config.SECTIONS` entries,
``parse(value: object, key: str) -> T``, reports every problem with its dotted key (through
:class:`helpmail.config.Table`) and refuses unknown keys. Register them with::

    "support_addresses": "helpmail.desk.config:parse_support_addresses",
    "contacts": "helpmail.desk.config:parse_contacts",
    "admission": "helpmail.desk.config:parse_admission",
    "spam": "helpmail.desk.config:parse_spam",

Then :func:`support_addresses_from`, :func:`contact_settings_from`, :func:`admission_from` and
:func:`spam_from` give the settings for a whole :class:`helpmail.config.Config` (defaults when a
section is missing). See ``docs/desk.md`` for every key with an example.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import attrs

from helpmail.addresses import SupportAddress, SupportAddresses
from helpmail.admission import (
    AdmissionAction,
    AdmissionSettings,
    BlockEntry,
    DeskPolicy,
    SenderPattern,
    Strength,
)
from helpmail.config import (
    ConfigErrors,
    Table,
    boolean,
    choice,
    optional_string,
    string,
    string_list,
)
from helpmail.contacts import FREE_MAIL_DOMAINS, ContactSettings, Organisation, is_free_mail
from helpmail.desk.matching import DomainPattern, addr_key, check_addr_spec, domain_key
from helpmail.errors import ConfigError
from helpmail.spam import IPNetwork, SpamAction, SpamSettings, Thresholds

if TYPE_CHECKING:
    from helpmail.config import Config


def _type(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "an array" if isinstance(value, list) else "a table"
    )


# --------------------------------------------------------------------------------------------
# Converters


def support_address_spec(value: object, key: str) -> str:
    """A support address (syntax only; an intranet domain such as ``.internal`` is fine)."""
    text = string(value, key).strip()
    check = check_addr_spec(text, globally_deliverable=False)
    if not check.valid:
        raise ConfigError(key, f"must be an email address, got {text!r}: {check.problem}")
    return text


def domain_pattern(value: object, key: str) -> DomainPattern:
    """``example.com`` (exactly that domain) or ``*.example.com`` (its subdomains)."""
    text = string(value, key).strip()
    bare = text.lstrip("@").removeprefix("*.")
    labels = domain_key(bare).split(".")
    if "*" in bare or len(labels) < 2 or not all(labels) or any(" " in x for x in labels):
        raise ConfigError(
            key,
            f'must be a domain ("example.com") or a subdomain rule ("*.example.com"), got {text!r}',
        )
    return DomainPattern.parse(text)


def sender_pattern(value: object, key: str) -> SenderPattern:
    """An address (``bob@example.com``) or a domain rule (``example.com``, ``*.example.com``)."""
    text = string(value, key).strip()
    if "@" in text.lstrip("@"):
        check = check_addr_spec(text, globally_deliverable=False)
        if not check.valid:
            raise ConfigError(key, f"must be an email address or a domain, got {text!r}")
        return SenderPattern(address=addr_key(text))
    return SenderPattern(domain=domain_pattern(text, key))


def score(value: object, key: str) -> float:
    """A number (a spam score)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, f"must be a number, got {_type(value)}")
    return float(value)


def network(value: object, key: str) -> IPNetwork:
    """An IP address or network (``10.0.0.0/8``, ``2001:db8::/32``)."""
    text = string(value, key).strip()
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ConfigError(key, f"must be an IP address or network, got {text!r}") from None


def _items(value: object, key: str, what: str) -> list[object]:
    if not isinstance(value, list):
        raise ConfigError(key, f"must be an array of {what}, got {_type(value)}")
    return list(value)


def _collect(errors: list[ConfigError], error: ConfigError) -> None:
    errors.extend(error.errors if isinstance(error, ConfigErrors) else [error])


# --------------------------------------------------------------------------------------------
# [support_addresses]


def _support_address(value: object, key: str, errors: list[ConfigError]) -> SupportAddress | None:
    if isinstance(value, str):
        try:
            return SupportAddress(address=support_address_spec(value, key))
        except ConfigError as error:
            errors.append(error)
            return None
    table = Table(value, key, errors)
    address = table.require("address", support_address_spec, "")
    result = SupportAddress(
        address=address,
        name=table.get("name", string, ""),
        queue=table.get("queue", optional_string, None),
        priority=table.get("priority", optional_string, None),
        category=table.get("category", optional_string, None),
        rule=table.get("rule", optional_string, None),
    )
    table.finish(raise_errors=False)
    return result if address else None


def parse_support_addresses(value: object, key: str) -> SupportAddresses:
    """Parse ``[[support_addresses]]`` (an array) or ``[support_addresses]`` (a table with
    ``addresses``, ``default`` and ``subaddress_separator``)."""
    errors: list[ConfigError] = []
    default: str | None = None
    separator: str | None = "+"
    items: list[object] = []
    items_key = key
    if isinstance(value, list):
        items = value
    else:
        table = Table(value, key, errors)
        items_key = table.path("addresses")
        raw = table.raw("addresses")
        if raw is None:
            table.error("addresses", "is required (the desk's support addresses)")
        else:
            try:
                items = _items(raw, items_key, "support addresses")
            except ConfigError as error:
                errors.append(error)
        default = table.get("default", support_address_spec, None)
        separator = (
            table.get("subaddress_separator", optional_string, None)
            if table.has("subaddress_separator")
            else "+"
        )
        if separator is not None and len(separator) != 1:
            table.error("subaddress_separator", f"must be one character, got {separator!r}")
        table.finish(raise_errors=False)
    addresses: list[SupportAddress] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        item_key = f"{items_key}[{index}]"
        support = _support_address(item, item_key, errors)
        if support is None:
            continue
        if support.key in seen:
            errors.append(
                ConfigError(
                    f"{item_key}.address" if isinstance(item, dict) else item_key,
                    f"{support.address} is already {items_key}[{seen[support.key]}]",
                )
            )
            continue
        seen[support.key] = index
        addresses.append(support)
    result = SupportAddresses(
        addresses=tuple(addresses), default=default, subaddress_separator=separator
    )
    if default is not None and result.find(default) is None:
        errors.append(ConfigError(f"{key}.default", f"{default} is not one of the addresses"))
    if errors:
        raise ConfigErrors(errors)
    return result


def support_addresses_from(config: Config) -> SupportAddresses:
    """The desk's support addresses: the ``support_addresses`` section, plus ``[desk] addresses``
    not listed there (with the desk's name as display name)."""
    section = config.section("support_addresses")
    base = section if isinstance(section, SupportAddresses) else SupportAddresses()
    listed = {s.key for s in base}
    extra = tuple(
        SupportAddress(address=a, name=config.desk.name)
        for a in config.desk.addresses
        if addr_key(a) not in listed
    )
    return attrs.evolve(base, addresses=(*base.addresses, *extra)) if extra else base


def own_addresses_from(config: Config) -> tuple[str, ...]:
    """Every address the desk sends from: ``[desk] addresses`` and the ``support_addresses``
    section, each once (by address key). ``ImportSettings.own_addresses`` takes it, so mail *from*
    a support address is recognised as the desk's own and never imported as customer mail
    (``Config.import_settings`` uses it: ``own_addresses=own_addresses_from(self)``)."""
    seen: dict[str, str] = {}
    for address in (*config.desk.addresses, *(s.address for s in support_addresses_from(config))):
        seen.setdefault(addr_key(address), address)
    return tuple(seen.values())


# --------------------------------------------------------------------------------------------
# [contacts]


def _organisation(
    value: object, key: str, free_mail: frozenset[str], errors: list[ConfigError]
) -> Organisation | None:
    table = Table(value, key, errors)
    org_id = table.require("id", string, "")
    domains: list[DomainPattern] = []
    raw = table.raw("domains")
    if raw is None:
        table.error("domains", 'is required: ["example.com", "*.example.com"]')
    else:
        try:
            for index, item in enumerate(_items(raw, table.path("domains"), "domains")):
                item_key = f"{table.path('domains')}[{index}]"
                try:
                    pattern = domain_pattern(item, item_key)
                except ConfigError as error:
                    errors.append(error)
                    continue
                if is_free_mail(pattern.domain, free_mail):
                    errors.append(
                        ConfigError(
                            item_key,
                            f"{pattern} is a free-mail domain; free-mail domains never map to "
                            "an organisation",
                        )
                    )
                    continue
                domains.append(pattern)
        except ConfigError as error:
            errors.append(error)
    result = Organisation(id=org_id, name=table.get("name", string, ""), domains=tuple(domains))
    table.finish(raise_errors=False)
    return result if org_id else None


def parse_contacts(value: object, key: str) -> ContactSettings:
    """Parse ``[contacts]``: ``organisations_by_domain``, ``free_mail_domains`` (added to the
    built-in list) and ``[[contacts.organisations]]`` (``id``, ``name``, ``domains``)."""
    errors: list[ConfigError] = []
    table = Table(value, key, errors)
    by_domain = table.get("organisations_by_domain", boolean, False)
    no_strings: tuple[str, ...] = ()
    extra = table.get("free_mail_domains", string_list, no_strings)
    free_mail = FREE_MAIL_DOMAINS | {domain_key(d) for d in extra}
    organisations: list[Organisation] = []
    raw = table.raw("organisations")
    if raw is not None:
        try:
            items = _items(raw, table.path("organisations"), "tables ([[contacts.organisations]])")
        except ConfigError as error:
            errors.append(error)
            items = []
        seen: set[str] = set()
        for index, item in enumerate(items):
            item_key = f"{table.path('organisations')}[{index}]"
            organisation = _organisation(item, item_key, free_mail, errors)
            if organisation is None:
                continue
            if organisation.id in seen:
                errors.append(ConfigError(f"{item_key}.id", f"{organisation.id!r} is used twice"))
            seen.add(organisation.id)
            organisations.append(organisation)
    if by_domain and not organisations and raw is not None:
        table.error("organisations", "is empty, but organisations_by_domain is on")
    table.finish(raise_errors=False)
    if errors:
        raise ConfigErrors(errors)
    return ContactSettings(
        organisations_by_domain=by_domain,
        organisations=tuple(organisations),
        free_mail_domains=free_mail,
    )


def contact_settings_from(config: Config) -> ContactSettings:
    """The contact settings: ``[contacts]`` plus ``[import]``'s ``unknown_sender`` and
    ``default_contact``."""
    section = config.section("contacts")
    base = section if isinstance(section, ContactSettings) else ContactSettings()
    imported = config.import_
    return attrs.evolve(
        base, unknown_sender=imported.unknown_sender, default_contact=imported.default_contact
    )


# --------------------------------------------------------------------------------------------
# [admission]


def _block_entry(value: object, key: str, errors: list[ConfigError]) -> BlockEntry | None:
    if isinstance(value, str):
        try:
            return BlockEntry(pattern=sender_pattern(value, key))
        except ConfigError as error:
            errors.append(error)
            return None
    table = Table(value, key, errors)
    pattern = table.require("sender", sender_pattern, None)
    strength = table.get("strength", choice(Strength), Strength.SUSPEND)
    table.finish(raise_errors=False)
    return BlockEntry(pattern=pattern, strength=strength) if pattern is not None else None


def parse_admission(value: object, key: str) -> AdmissionSettings:
    """Parse ``[admission]``: ``policy``, ``refused``, ``invalid_sender``, ``blocklist`` (strings,
    or tables ``{ sender = "...", strength = "suspend" | "reject" }``) and ``allowlist``."""
    errors: list[ConfigError] = []
    table = Table(value, key, errors)
    policy = table.get("policy", choice(DeskPolicy), DeskPolicy.ANYONE)
    refused = table.get("refused", choice(Strength), Strength.SUSPEND)
    invalid = table.get("invalid_sender", choice(AdmissionAction), AdmissionAction.ADMIT)
    blocks: list[BlockEntry] = []
    blocked: dict[str, str] = {}
    raw_blocks = table.raw("blocklist")
    if raw_blocks is not None:
        try:
            items = _items(raw_blocks, table.path("blocklist"), "senders")
        except ConfigError as error:
            errors.append(error)
            items = []
        for index, item in enumerate(items):
            item_key = f"{table.path('blocklist')}[{index}]"
            entry = _block_entry(item, item_key, errors)
            if entry is None:
                continue
            text = str(entry.pattern)
            if text in blocked:
                errors.append(ConfigError(item_key, f"{text} is already {blocked[text]}"))
                continue
            blocked[text] = item_key
            blocks.append(entry)
    allows: list[SenderPattern] = []
    raw_allows = table.raw("allowlist")
    if raw_allows is not None:
        try:
            allow_items = _items(raw_allows, table.path("allowlist"), "senders")
        except ConfigError as error:
            errors.append(error)
            allow_items = []
        for index, item in enumerate(allow_items):
            item_key = f"{table.path('allowlist')}[{index}]"
            try:
                pattern = sender_pattern(item, item_key)
            except ConfigError as error:
                _collect(errors, error)
                continue
            if str(pattern) in blocked:
                errors.append(
                    ConfigError(
                        item_key, f"{pattern} is also blocked ({blocked[str(pattern)]}); pick one"
                    )
                )
                continue
            allows.append(pattern)
    table.finish(raise_errors=False)
    if errors:
        raise ConfigErrors(errors)
    return AdmissionSettings(
        policy=policy,
        refused=refused,
        invalid_sender=invalid,
        blocklist=tuple(blocks),
        allowlist=tuple(allows),
    )


def admission_from(config: Config) -> AdmissionSettings:
    """The admission settings of ``config`` (defaults: anyone may open tickets, no lists)."""
    section = config.section("admission")
    return section if isinstance(section, AdmissionSettings) else AdmissionSettings()


# --------------------------------------------------------------------------------------------
# [spam]


def _thresholds(value: object, key: str, default: Thresholds) -> Thresholds:
    errors: list[ConfigError] = []
    table = Table(value, key, errors)
    suspend = table.get("suspend", score, default.suspend)
    reject = table.get("reject", score, default.reject)
    if not errors and suspend > reject:
        table.error("reject", f"must not be below suspend ({reject:g} < {suspend:g})")
    table.finish()
    return Thresholds(suspend=suspend, reject=reject)


def parse_spam(value: object, key: str) -> SpamSettings:
    """Parse ``[spam]``: ``enabled``, ``trusted_hosts``, ``trusted_networks``, ``flag_action`` and
    the ``[spam.spamassassin]``, ``[spam.rspamd]``, ``[spam.microsoft]`` thresholds."""
    errors: list[ConfigError] = []
    base = SpamSettings()
    table = Table(value, key, errors)
    enabled = table.get("enabled", boolean, True)
    no_strings: tuple[str, ...] = ()
    hosts: list[DomainPattern] = []
    for index, item in enumerate(table.get("trusted_hosts", string_list, no_strings)):
        try:
            hosts.append(domain_pattern(item, f"{table.path('trusted_hosts')}[{index}]"))
        except ConfigError as error:
            errors.append(error)
    networks: list[IPNetwork] = []
    for index, item in enumerate(table.get("trusted_networks", string_list, no_strings)):
        try:
            networks.append(network(item, f"{table.path('trusted_networks')}[{index}]"))
        except ConfigError as error:
            errors.append(error)
    flag_action = table.get("flag_action", choice(SpamAction), base.flag_action)
    if flag_action is SpamAction.REJECT:
        table.error(
            "flag_action",
            'must be "suspend" or "none": a verdict without a score never drops mail',
        )

    def thresholds(name: str, default: Thresholds) -> Thresholds:
        return table.get(name, lambda v, k: _thresholds(v, k, default), default)

    spamassassin = thresholds("spamassassin", base.spamassassin)
    rspamd = thresholds("rspamd", base.rspamd)
    microsoft = thresholds("microsoft", base.microsoft)
    if enabled and not hosts and not errors:
        table.error(
            "trusted_hosts",
            "is required: spam headers are believed only when a trusted host added them "
            '(e.g. ["mx.example.com"]); set enabled = false to turn spam reading off',
        )
    table.finish(raise_errors=False)
    if errors:
        raise ConfigErrors(errors)
    return SpamSettings(
        enabled=enabled,
        trusted_hosts=tuple(hosts),
        trusted_networks=tuple(networks),
        spamassassin=spamassassin,
        rspamd=rspamd,
        microsoft=microsoft,
        flag_action=flag_action,
    )


def spam_from(config: Config) -> SpamSettings:
    """The spam settings of ``config`` (no section: nothing is trusted, nothing is read)."""
    section = config.section("spam")
    return section if isinstance(section, SpamSettings) else SpamSettings()


__all__ = [
    "admission_from",
    "contact_settings_from",
    "domain_pattern",
    "network",
    "own_addresses_from",
    "parse_admission",
    "parse_contacts",
    "parse_spam",
    "parse_support_addresses",
    "score",
    "sender_pattern",
    "spam_from",
    "support_address_spec",
    "support_addresses_from",
]
