"""Contacts and organisations: who is writing, whatever address they write from.

Rules this module keeps:

* **One person, several addresses.** A :class:`Contact` has any number of addresses; mail from any
  of them belongs to the same person, and a follow-up from a secondary address is accepted on that
  person's tickets (:func:`follow_up_sender`). Zammad, django-helpdesk and osTicket allow one
  address per user (zammad#1401, django-helpdesk#288, osTicket#2621), which splits customers.
* **Compare addr-specs, never display names.** Addresses are compared by their normalised key
  (:attr:`helpmail.Address.key`); "Bob Smith" <bob@evil.example> is not Bob. A sender address is
  checked with email-validator (syntax only, ``check_deliverability=False``, no DNS) before a
  contact is made from it: a malformed address never becomes a contact.
* **The sender is the author.** Identity comes from ``From`` (or ``Sender`` when From is missing),
  RFC 5322 §3.6.2. ``Reply-To`` names where answers should go, often a list, and is not identity.
* **Unknown senders** become a new contact or map to the configured default contact, as the desk
  chooses (:class:`UnknownSenderPolicy`).
* **Organisations by domain**, when enabled: exact domains (``example.com``) and subdomain rules
  (``*.example.com``); the most specific rule wins. Free-mail domains (gmail.com, outlook.com, ...)
  never map to an organisation, even when configured: thousands of unrelated people share them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import attrs

from helpmail.desk.matching import (
    DomainPattern,
    addr_key,
    check_addr_spec,
    domain_key,
    domain_of_key,
    parent_domains,
)
from helpmail.tickets.settings import UnknownSenderPolicy

if TYPE_CHECKING:
    from helpmail.mail.model import Address, InboundMail
    from helpmail.ports import TicketRecord

#: Domains whose users are unrelated people; they (and their subdomains) never map to an
#: organisation. A desk can add more (``organisations.free_mail_domains``).
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.de",
        "yahoo.fr",
        "ymail.com",
        "rocketmail.com",
        "outlook.com",
        "outlook.de",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.de",
        "hotmail.fr",
        "live.com",
        "live.de",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "aim.com",
        "gmx.de",
        "gmx.net",
        "gmx.at",
        "gmx.ch",
        "gmx.com",
        "web.de",
        "freenet.de",
        "t-online.de",
        "posteo.de",
        "mailbox.org",
        "mail.com",
        "email.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "tutanota.com",
        "tuta.io",
        "fastmail.com",
        "fastmail.fm",
        "hey.com",
        "zoho.com",
        "yandex.ru",
        "yandex.com",
        "ya.ru",
        "mail.ru",
        "bk.ru",
        "list.ru",
        "inbox.ru",
        "rambler.ru",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "naver.com",
        "daum.net",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "virgilio.it",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "btinternet.com",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "rediffmail.com",
    ]
)


@attrs.frozen(kw_only=True)
class Contact:
    """A person the desk knows, with all their addresses (the first is the primary one)."""

    id: str
    addresses: tuple[str, ...]
    name: str = ""
    organisation: str | None = None

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(addr_key(a) for a in self.addresses)

    def has(self, address: str) -> bool:
        """Whether ``address`` is one of this contact's addresses (by key)."""
        return addr_key(address) in self.keys


@attrs.frozen(kw_only=True)
class Organisation:
    """A customer organisation and the domain rules that attach contacts to it."""

    id: str
    name: str = ""
    domains: tuple[DomainPattern, ...] = ()


class ContactDirectory(Protocol):
    """Store fact the sender step needs: the contact that owns an address key, if any."""

    def find_contact(self, key: str) -> Contact | None:
        """The contact one of whose addresses has comparison key ``key``."""
        ...


@attrs.frozen(kw_only=True)
class ContactBook:
    """An in-memory :class:`ContactDirectory` (tests, small hosts, the demo)."""

    contacts: tuple[Contact, ...] = ()
    _index: dict[str, Contact] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        index: dict[str, Contact] = {}
        for contact in self.contacts:
            for key in contact.keys:
                index.setdefault(key, contact)
        object.__setattr__(self, "_index", index)

    def find_contact(self, key: str) -> Contact | None:
        return self._index.get(key)


@attrs.frozen(kw_only=True)
class ContactSettings:
    """Configuration sections ``contacts`` and ``organisations``.

    ``default_contact`` is the contact id unknown senders map to under
    :attr:`UnknownSenderPolicy.DEFAULT_CONTACT`. ``organisations_by_domain`` turns the domain rules
    on. ``free_mail_domains`` is the built-in list plus the desk's additions.
    """

    unknown_sender: UnknownSenderPolicy = UnknownSenderPolicy.CREATE_CONTACT
    default_contact: str = "unknown-contact"
    organisations_by_domain: bool = False
    organisations: tuple[Organisation, ...] = ()
    free_mail_domains: frozenset[str] = FREE_MAIL_DOMAINS


def is_free_mail(domain: str, free_mail_domains: Iterable[str] = FREE_MAIL_DOMAINS) -> bool:
    """Whether ``domain`` is (a subdomain of) a free-mail domain."""
    listed = frozenset(free_mail_domains)
    return any(d in listed for d in parent_domains(domain_key(domain)))


@attrs.frozen(kw_only=True)
class OrganisationMatch:
    """Why a domain maps (or not) to an organisation."""

    organisation: str | None
    rule: str | None = None
    note: str = ""


def organisation_for_domain(domain: str, settings: ContactSettings) -> OrganisationMatch:
    """The organisation ``domain`` belongs to under the desk's rules.

    Free-mail domains never map; otherwise the most specific rule wins (an exact domain beats a
    subdomain rule, a longer domain beats a shorter one), ties keep the configured order.
    """
    if not settings.organisations_by_domain:
        return OrganisationMatch(organisation=None)
    if not domain:
        return OrganisationMatch(organisation=None, note="no domain")
    if is_free_mail(domain, settings.free_mail_domains):
        return OrganisationMatch(organisation=None, note=f"{domain} is a free-mail domain")
    best: tuple[DomainPattern, Organisation] | None = None
    for organisation in settings.organisations:
        for pattern in organisation.domains:
            if pattern.matches(domain) and (
                best is None or pattern.specificity > best[0].specificity
            ):
                best = (pattern, organisation)
    if best is None:
        return OrganisationMatch(organisation=None, note=f"no organisation for {domain}")
    return OrganisationMatch(organisation=best[1].id, rule=str(best[0]))


class SenderKind(StrEnum):
    """How the sender was resolved."""

    KNOWN = "known"
    NEW_CONTACT = "new_contact"
    DEFAULT_CONTACT = "default_contact"
    INVALID = "invalid"
    MISSING = "missing"


@attrs.frozen(kw_only=True)
class NewContact:
    """A contact the store should create for an unknown sender (with the ticket event)."""

    address: str
    name: str = ""
    organisation: str | None = None


@attrs.frozen(kw_only=True)
class SenderResolution:
    """Who wrote the mail (pipeline step ``sender``).

    ``contact`` is the known contact; ``new_contact`` the one to create; ``contact_id`` the id the
    ticket is filed under (the known contact; the default contact, also for an invalid or missing
    address; ``None`` for a new contact until the store creates it). ``organisation`` comes from the
    known contact, else from the domain rules. ``problem`` says why an address is ``invalid``.
    """

    kind: SenderKind
    address: str | None = None
    key: str | None = None
    contact: Contact | None = None
    new_contact: NewContact | None = None
    default_contact: str | None = None
    organisation: str | None = None
    organisation_rule: str | None = None
    problem: str | None = None
    note: str = ""

    step = "sender"

    @property
    def decision(self) -> str:
        return self.kind.value.replace("_", " ")

    @property
    def contact_id(self) -> str | None:
        if self.contact is not None:
            return self.contact.id
        return self.default_contact

    @property
    def is_known(self) -> bool:
        return self.kind is SenderKind.KNOWN

    @property
    def detail(self) -> str:
        """One readable line for the trace."""
        if self.kind is SenderKind.MISSING:
            return (
                "no sender address (From and Sender empty); "
                f"filed under default contact {self.default_contact}"
            )
        if self.kind is SenderKind.INVALID:
            return (
                f"sender {self.address!r} is not a valid address: {self.problem}; "
                f"filed under default contact {self.default_contact}, never made a contact"
            )
        if self.kind is SenderKind.KNOWN:
            assert self.contact is not None
            primary = self.contact.addresses[0] if self.contact.addresses else ""
            via = "" if addr_key(primary) == self.key else f" (secondary address of {primary})"
            text = f"{self.address} is contact {self.contact.id}{via}"
        elif self.kind is SenderKind.DEFAULT_CONTACT:
            text = f"{self.address} is unknown; filed under default contact {self.default_contact}"
        else:
            text = f"{self.address} is unknown; new contact"
        if self.organisation:
            rule = f" by domain rule {self.organisation_rule}" if self.organisation_rule else ""
            text += f", organisation {self.organisation}{rule}"
        elif self.note:
            text += f" ({self.note})"
        return text


def sender_address(mail: InboundMail) -> Address | None:
    """The author: the first ``From`` address, else ``Sender`` (RFC 5322 §3.6.2)."""
    return mail.from_address or mail.sender


def resolve_sender(
    address: Address | None, *, known: Contact | str | None, settings: ContactSettings
) -> SenderResolution:
    """Resolve the sender to a contact.

    ``known`` is the store fact: the contact that owns ``address``'s key, as a :class:`Contact`
    (``ContactDirectory.find_contact``) or as a bare contact id
    (:meth:`helpmail.ports.TicketStore.find_contact`), or ``None``.
    """
    if address is None or not address.addr_spec:
        return SenderResolution(kind=SenderKind.MISSING, default_contact=settings.default_contact)
    spec = address.addr_spec
    if isinstance(known, str):
        known = Contact(id=known, addresses=(spec,))
    if known is not None:
        organisation = known.organisation
        rule = None
        note = ""
        if organisation is None:
            match = organisation_for_domain(address.ascii_domain, settings)
            organisation, rule, note = match.organisation, match.rule, match.note
        return SenderResolution(
            kind=SenderKind.KNOWN,
            address=spec,
            key=address.key,
            contact=known,
            organisation=organisation,
            organisation_rule=rule,
            note=note,
        )
    check = check_addr_spec(spec)
    if not check.valid:
        return SenderResolution(
            kind=SenderKind.INVALID,
            address=spec,
            key=address.key,
            problem=check.problem,
            default_contact=settings.default_contact,
        )
    key = check.key
    match = organisation_for_domain(domain_of_key(key or ""), settings)
    if settings.unknown_sender is UnknownSenderPolicy.DEFAULT_CONTACT:
        return SenderResolution(
            kind=SenderKind.DEFAULT_CONTACT,
            address=spec,
            key=key,
            default_contact=settings.default_contact,
            organisation=match.organisation,
            organisation_rule=match.rule,
            note=match.note,
        )
    return SenderResolution(
        kind=SenderKind.NEW_CONTACT,
        address=spec,
        key=key,
        new_contact=NewContact(address=spec, name=address.name, organisation=match.organisation),
        organisation=match.organisation,
        organisation_rule=match.rule,
        note=match.note,
    )


class FollowUpSenderKind(StrEnum):
    """How the writer of a follow-up relates to the ticket."""

    REPORTER = "reporter"
    REPORTER_OTHER_ADDRESS = "reporter_other_address"
    PARTICIPANT = "participant"
    STRANGER = "stranger"


@attrs.frozen(kw_only=True)
class TicketParties:
    """Store facts about a ticket the follow-up check needs.

    ``reporter_contact`` is the reporter's contact id, ``reporter_address`` the address the ticket
    was opened from, ``participants`` the other addresses on the ticket (Cc'd people, external
    recipients).
    """

    reporter_contact: str | None = None
    reporter_address: str | None = None
    participants: tuple[str, ...] = ()

    @classmethod
    def of_ticket(cls, ticket: TicketRecord) -> TicketParties:
        """The parties of a stored ticket (:class:`helpmail.ports.TicketRecord`)."""
        return cls(
            reporter_contact=ticket.reporter,
            reporter_address=ticket.reporter_address,
            participants=ticket.participants,
        )


@attrs.frozen(kw_only=True)
class FollowUpSender:
    """Whether the writer of a follow-up belongs to the ticket (pipeline step ``follow_up_sender``).

    ``belongs`` is false only for a stranger; what a desk does with a stranger's follow-up is the
    threading policy's choice (subject-tag matches from strangers are how zammad#5064 filed one
    customer's mail on another's ticket).
    """

    kind: FollowUpSenderKind
    address: str | None

    step = "follow_up_sender"

    @property
    def decision(self) -> str:
        return self.kind.value.replace("_", " ")

    @property
    def belongs(self) -> bool:
        return self.kind is not FollowUpSenderKind.STRANGER

    @property
    def detail(self) -> str:
        return {
            FollowUpSenderKind.REPORTER: f"{self.address} is the reporter",
            FollowUpSenderKind.REPORTER_OTHER_ADDRESS: (
                f"{self.address} is another address of the reporter; accepted"
            ),
            FollowUpSenderKind.PARTICIPANT: f"{self.address} is a participant of the ticket",
            FollowUpSenderKind.STRANGER: f"{self.address} does not belong to the ticket",
        }[self.kind]


def follow_up_sender(sender: SenderResolution, parties: TicketParties) -> FollowUpSender:
    """Does the sender of a follow-up belong to the ticket? Any address of the reporter does."""
    key = sender.key
    if key is not None and parties.reporter_address and key == addr_key(parties.reporter_address):
        return FollowUpSender(kind=FollowUpSenderKind.REPORTER, address=sender.address)
    if (
        sender.contact is not None
        and parties.reporter_contact is not None
        and sender.contact.id == parties.reporter_contact
    ):
        return FollowUpSender(
            kind=FollowUpSenderKind.REPORTER_OTHER_ADDRESS, address=sender.address
        )
    if key is not None and key in {addr_key(a) for a in parties.participants}:
        return FollowUpSender(kind=FollowUpSenderKind.PARTICIPANT, address=sender.address)
    return FollowUpSender(kind=FollowUpSenderKind.STRANGER, address=sender.address)


__all__ = [
    "FREE_MAIL_DOMAINS",
    "Contact",
    "ContactBook",
    "ContactDirectory",
    "ContactSettings",
    "FollowUpSender",
    "FollowUpSenderKind",
    "NewContact",
    "Organisation",
    "OrganisationMatch",
    "SenderKind",
    "SenderResolution",
    "TicketParties",
    "UnknownSenderPolicy",
    "follow_up_sender",
    "is_free_mail",
    "organisation_for_domain",
    "resolve_sender",
    "sender_address",
]
