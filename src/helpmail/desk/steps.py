"""The desk's pipeline steps in one call, so wiring them into :func:`helpmail.pipeline.decide` is a
few lines.

:func:`desk_steps` runs, in this order, each as a pure function with its own trace entry:

1. ``own_sender`` (:func:`helpmail.addresses.own_sender`): mail from our own support address is
   never customer mail: stop.
2. ``support_address`` (:func:`helpmail.addresses.route_to_support_address`): which support
   address, hence queue and defaults, and the ``From`` of replies.
3. ``sender`` (:func:`helpmail.contacts.resolve_sender`): the contact, new contact or default
   contact, and the organisation by domain.
4. ``spam`` (:func:`helpmail.spam.read_spam_verdict`, or the verdict a plugged-in
   :class:`~helpmail.spam.SpamChecker` produced in the service).
5. ``admission`` (:func:`helpmail.admission.admit`): admit, suspend or reject.

Store facts needed: the contact owning the sender's address key (``TicketStore.find_contact``,
already in :class:`helpmail.pipeline.Facts` as ``sender_contact``) and whether the mail would open
a new ticket (the ticket reference step's result).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from helpmail.addresses import OwnSender, Routing, SupportAddresses, own_sender
from helpmail.addresses import route_to_support_address as route
from helpmail.admission import Admission, AdmissionAction, AdmissionFacts, AdmissionSettings, admit
from helpmail.contacts import (
    ContactSettings,
    SenderKind,
    SenderResolution,
    resolve_sender,
    sender_address,
)
from helpmail.desk.trace import trace_step
from helpmail.spam import ImapFacts, SpamSettings, SpamVerdict, read_spam_verdict

if TYPE_CHECKING:
    from helpmail.config import Config
    from helpmail.mail.model import InboundMail
    from helpmail.pipeline import TraceStep
    from helpmail.tickets.importing import Party


@attrs.frozen(kw_only=True)
class DeskSettings:
    """All desk settings in one value (each part is one configuration section)."""

    support_addresses: SupportAddresses = attrs.field(factory=SupportAddresses)
    contacts: ContactSettings = attrs.field(factory=ContactSettings)
    admission: AdmissionSettings = attrs.field(factory=AdmissionSettings)
    spam: SpamSettings = attrs.field(factory=SpamSettings)

    @classmethod
    def from_config(cls, config: Config) -> DeskSettings:
        """The desk settings of a whole configuration (defaults for missing sections)."""
        from helpmail.desk.config import (
            admission_from,
            contact_settings_from,
            spam_from,
            support_addresses_from,
        )

        return cls(
            support_addresses=support_addresses_from(config),
            contacts=contact_settings_from(config),
            admission=admission_from(config),
            spam=spam_from(config),
        )


@attrs.frozen(kw_only=True)
class DeskDecision:
    """The results of the desk steps for one mail.

    ``own`` is set when the mail is our own (then nothing else was decided); ``admission`` is the
    final word otherwise: ``admit`` (go on), ``suspend`` (to the suspended queue), ``reject``
    (drop, never reply).
    """

    own: OwnSender | None = None
    routing: Routing | None = None
    sender: SenderResolution | None = None
    spam: SpamVerdict | None = None
    admission: Admission | None = None

    @property
    def action(self) -> AdmissionAction:
        """What to do: ``reject`` for our own mail (dropped, recorded), else the admission's."""
        if self.own is not None:
            return AdmissionAction.REJECT
        assert self.admission is not None
        return self.admission.action

    def trace(self) -> tuple[TraceStep, ...]:
        """The trace entries, in the order the steps ran."""
        steps = (self.own, self.routing, self.sender, self.spam, self.admission)
        return tuple(trace_step(s) for s in steps if s is not None)

    def party(self) -> Party:
        """The reporter/informant for the store (:class:`helpmail.tickets.importing.Party`)."""
        from helpmail.tickets.importing import Party

        sender = self.sender
        if sender is None:
            return Party(contact=None, address=None)
        if sender.kind in (SenderKind.MISSING, SenderKind.INVALID):
            return Party(contact=sender.default_contact, address=sender.address)
        name = sender.new_contact.name if sender.new_contact is not None else ""
        return Party(
            contact=sender.contact_id,
            address=sender.address,
            name=name,
            create_contact=sender.kind is SenderKind.NEW_CONTACT,
        )

    def ticket_fields(self) -> tuple[tuple[str, str], ...]:
        """Defaults of the support address for a new ticket (``priority``, ``category``,
        ``organisation``) as ``CreateTicket.fields`` pairs."""
        fields: list[tuple[str, str]] = []
        support = self.routing.support if self.routing is not None else None
        if support is not None and support.priority:
            fields.append(("priority", support.priority))
        if support is not None and support.category:
            fields.append(("category", support.category))
        if self.sender is not None and self.sender.organisation:
            fields.append(("organisation", self.sender.organisation))
        return tuple(fields)


def desk_steps(
    mail: InboundMail,
    settings: DeskSettings,
    *,
    sender_contact: str | None,
    opens_ticket: bool,
    spam: SpamVerdict | None = None,
    imap: ImapFacts | None = None,
    accepted_by_agent: bool = False,
) -> DeskDecision:
    """Run the desk steps on ``mail`` (see the module docstring).

    ``sender_contact`` is the store fact (contact id owning the sender's key); ``opens_ticket``
    whether no ticket reference was found; ``spam`` a verdict computed by the service with a
    plugged-in checker (default: read the trusted headers with ``settings.spam``);
    ``accepted_by_agent`` for mail accepted from the suspended queue.
    """
    own = own_sender(mail, settings.support_addresses)
    if own is not None:
        return DeskDecision(own=own)
    routing = route(mail, settings.support_addresses)
    sender = resolve_sender(sender_address(mail), known=sender_contact, settings=settings.contacts)
    verdict = spam if spam is not None else read_spam_verdict(mail, settings.spam, imap)
    admission = admit(
        AdmissionFacts(
            sender=sender,
            spam=verdict,
            opens_ticket=opens_ticket,
            accepted_by_agent=accepted_by_agent,
        ),
        settings.admission,
    )
    return DeskDecision(routing=routing, sender=sender, spam=verdict, admission=admission)


__all__ = ["DeskDecision", "DeskSettings", "desk_steps"]
