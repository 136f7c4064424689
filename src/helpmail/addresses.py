"""Support addresses: which desk address a mail was sent to, and mail from our own addresses.

A desk receives mail on any number of support addresses, each with a display name, a queue and
optional defaults (priority, category, a rule that routes it). This module keeps three rules:

1. **Which support address.** Look in To, Cc, Bcc, then ``Delivered-To``, ``X-Original-To`` and
   finally (only when none of those names one) the ``for <...>`` clause of ``Received``
   (RFC 5321 §4.4), in that order of trust, and take the first support address found. To and Cc
   come first because they are the same in every copy of a mail: a mail sent to ``sales@`` and
   ``support@`` arrives twice (once per mailbox) with different ``Delivered-To`` headers, and both
   copies must route to the same address so the import keeps one ticket. The envelope headers
   decide only when no support address is in the visible headers, which is how a Bcc'd support
   address is found.
2. **One ticket.** A mail to two support addresses makes one routing decision: the first in that
   order; the others are listed in the decision and its trace, not turned into more tickets.
3. **Our own mail is never customer mail.** A mail whose ``From`` or ``Sender`` is one of our own
   support addresses (our notification coming back, or a loop through a forwarding rule) is never
   imported as customer mail.

The support address chosen is recorded on the ticket (:attr:`TicketSnapshot.support_address`) and
used as the ``From`` of every reply (:meth:`SupportAddress.from_header`); the local part identifies
it, and subaddresses (RFC 5233: ``support+billing@example.com``) belong to their base address.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING

import attrs

from helpmail.desk.matching import addr_key

if TYPE_CHECKING:
    from helpmail.mail.model import Address, InboundMail

#: ``for <addr>`` / ``for addr`` inside a Received header, before its ``;`` date (RFC 5321 §4.4).
_RECEIVED_FOR = re.compile(r"\bfor\s+<?([^\s<>;@]{1,256}@[^\s<>;]{1,256})>?", re.IGNORECASE)
#: RFC 5322 §3.2.3 "specials" that force a display name into a quoted-string
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


class AddressSource(StrEnum):
    """Where the support address was found, in order of trust."""

    TO = "to"
    CC = "cc"
    BCC = "bcc"
    DELIVERED_TO = "delivered_to"
    X_ORIGINAL_TO = "x_original_to"
    RECEIVED_FOR = "received_for"
    DEFAULT = "default"


@attrs.frozen(kw_only=True)
class SupportAddress:
    """One address the desk receives mail on.

    ``queue`` is where new tickets to it go; ``priority``, ``category`` and ``rule`` (the name of a
    scanner rule that routes it) are optional defaults for new tickets.
    """

    address: str
    name: str = ""
    queue: str | None = None
    priority: str | None = None
    category: str | None = None
    rule: str | None = None

    @property
    def key(self) -> str:
        """Normalised addr-spec (see :attr:`helpmail.Address.key`)."""
        return addr_key(self.address)

    def from_header(self) -> str:
        """The ``From`` of replies sent from this address: ``"Display Name" <addr>``.

        An ASCII display name with RFC 5322 §3.2.3 specials is quoted; a non-ASCII one is returned
        as is (the composer encodes it per RFC 2047 when it builds the message).
        """
        if not self.name:
            return self.address
        name = self.name
        if _SPECIALS.search(name):
            escaped = name.replace("\\", "\\\\").replace('"', '\\"')
            name = f'"{escaped}"'
        return f"{name} <{self.address}>"


@attrs.frozen(kw_only=True)
class SupportAddresses:
    """The desk's support addresses (configuration section ``support_addresses``).

    ``default`` is the address used when a mail names none of them (it reached the mailbox through
    an alias or a list); ``None`` means the first configured address. ``subaddress_separator`` is
    the RFC 5233 separator (``+``): ``support+x@`` is ``support@``; ``None`` turns that off.
    """

    addresses: tuple[SupportAddress, ...] = ()
    default: str | None = None
    subaddress_separator: str | None = "+"
    _index: dict[str, SupportAddress] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        index: dict[str, SupportAddress] = {}
        for support in self.addresses:
            index.setdefault(support.key, support)
        object.__setattr__(self, "_index", index)

    def __iter__(self) -> Iterator[SupportAddress]:
        return iter(self.addresses)

    def find(self, addr_spec: str) -> SupportAddress | None:
        """The support address ``addr_spec`` names (by key; a subaddress names its base)."""
        key = addr_key(addr_spec)
        found = self._index.get(key)
        if found is not None or not self.subaddress_separator or "@" not in key:
            return found
        local, _, domain = key.rpartition("@")
        base = local.partition(self.subaddress_separator)[0]
        return self._index.get(f"{base}@{domain}") if base != local else None

    def fallback(self) -> SupportAddress | None:
        """The address used when a mail names no support address."""
        if self.default is not None:
            return self.find(self.default)
        return self.addresses[0] if self.addresses else None


@attrs.frozen(kw_only=True)
class SupportAddressMatch:
    """One support address named by a mail: where, and as written there."""

    support: SupportAddress
    source: AddressSource
    written: str


@attrs.frozen(kw_only=True)
class Routing:
    """Which support address a mail belongs to (pipeline step ``support_address``).

    ``support`` is the chosen address (``None`` only when the desk has none configured);
    ``matches`` lists every support address the mail names, one entry each, in order of trust;
    ``source`` says where the chosen one was found (``default`` when the mail named none).
    """

    support: SupportAddress | None
    source: AddressSource | None
    matches: tuple[SupportAddressMatch, ...] = ()

    step = "support_address"

    @property
    def decision(self) -> str:
        return self.support.address if self.support is not None else "none"

    @property
    def others(self) -> tuple[SupportAddress, ...]:
        """Further support addresses the mail was also sent to (no extra tickets for them)."""
        return tuple(m.support for m in self.matches if m.support != self.support)

    @property
    def detail(self) -> str:
        """One readable line for the trace."""
        if self.support is None:
            return "no support address configured"
        if self.source is AddressSource.DEFAULT:
            return f"no support address in the mail; default {self.support.address}"
        text = f"{self.support.address} (found in {self.source})"
        if self.others:
            text += "; also sent to " + ", ".join(s.address for s in self.others) + ", one ticket"
        return text


def _candidates(mail: InboundMail) -> Iterator[tuple[AddressSource, str]]:
    """Every address the mail was sent to, in order of trust (top header first), except the
    ``Received ... for`` clauses (see :func:`_received_for`)."""
    for address in mail.to:
        yield AddressSource.TO, address.addr_spec
    for address in mail.cc:
        yield AddressSource.CC, address.addr_spec
    for address in mail.bcc:
        yield AddressSource.BCC, address.addr_spec
    for value in mail.header_all("Delivered-To"):
        yield AddressSource.DELIVERED_TO, value.strip().strip("<>")
    for value in mail.header_all("X-Original-To"):
        yield AddressSource.X_ORIGINAL_TO, value.strip().strip("<>")


def _received_for(mail: InboundMail) -> Iterator[tuple[AddressSource, str]]:
    """The ``for <...>`` clauses of ``Received``, top first: the last resort, read only when no
    other header names a support address (a mail may carry hundreds of Received lines)."""
    for value in mail.header_all("Received"):
        match = _RECEIVED_FOR.search(value.partition(";")[0])
        if match:
            yield AddressSource.RECEIVED_FOR, match.group(1)


def route_to_support_address(mail: InboundMail, desk: SupportAddresses) -> Routing:
    """Decide which support address ``mail`` was sent to (see the module docstring for the rule)."""
    matches: dict[str, SupportAddressMatch] = {}
    for candidates in (_candidates, _received_for):
        for source, written in candidates(mail):
            support = desk.find(written)
            if support is not None and support.key not in matches:
                matches[support.key] = SupportAddressMatch(
                    support=support, source=source, written=written
                )
        if matches:
            break
    ordered = tuple(matches.values())
    if ordered:
        return Routing(support=ordered[0].support, source=ordered[0].source, matches=ordered)
    fallback = desk.fallback()
    return Routing(support=fallback, source=AddressSource.DEFAULT if fallback is not None else None)


@attrs.frozen(kw_only=True)
class OwnSender:
    """The mail comes from one of our own support addresses (pipeline step ``own_sender``).

    Such a mail is never imported as customer mail: the pipeline stops with this trace entry.
    """

    support: SupportAddress
    header: str
    address: str

    step = "own_sender"
    decision = "own support address"

    @property
    def detail(self) -> str:
        return (
            f"{self.header} {self.address} is our own support address {self.support.address}; "
            "never imported as customer mail"
        )


def own_sender(mail: InboundMail, desk: SupportAddresses) -> OwnSender | None:
    """An :class:`OwnSender` when ``From`` or ``Sender`` is one of our support addresses."""
    named: list[tuple[str, Address]] = [("From", a) for a in mail.from_]
    if mail.sender is not None:
        named.append(("Sender", mail.sender))
    for header, address in named:
        support = desk.find(address.addr_spec)
        if support is not None:
            return OwnSender(support=support, header=header, address=address.addr_spec)
    return None


__all__ = [
    "AddressSource",
    "OwnSender",
    "Routing",
    "SupportAddress",
    "SupportAddressMatch",
    "SupportAddresses",
    "own_sender",
    "route_to_support_address",
]
