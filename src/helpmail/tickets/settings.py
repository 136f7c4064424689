"""The desk's import settings as values: what a mail becomes, decided by the host, not by helpmail.

Every default here is the *safe* one: a subject tag from a stranger does not file mail on someone
else's ticket (Zammad #5064), only attachments whose bytes are a raster image are kept (an ``.exe``
named ``.png`` is refused), and unknown senders become contacts only when the desk says so.
:class:`ImportSettings` is a plain frozen value, so ``helpmail explain`` and a replay see exactly
the settings the import used. The CLI builds one from the ``[import]`` configuration section.
"""

from __future__ import annotations

import re
from enum import StrEnum

import attrs

from helpmail.mail.sniff import SAFE_IMAGE_TYPES
from helpmail.ports import MailboxAction


class UnknownSenderPolicy(StrEnum):
    """What a mail from an address that no contact has becomes.

    ``create_contact``: the store creates a contact for the sender (with the ticket, in the same
    transaction) and files the ticket under it. ``default_contact``: the ticket is filed under
    :attr:`ImportSettings.default_contact`; the sender's address is still kept on the ticket.
    """

    CREATE_CONTACT = "create_contact"
    DEFAULT_CONTACT = "default_contact"


class SubjectMatchPolicy(StrEnum):
    """Whether a ticket tag in the subject is trusted when the sender is not on that ticket.

    A subject tag is text anyone can type; Zammad #5064 filed one customer's mail on another
    customer's ticket because of it. Signed Message-IDs and References to stored Message-IDs are
    not affected: they prove that the writer received a mail of that ticket.

    * ``accept``: always follow the tag (classic helpdesk behaviour).
    * ``accept_if_known_contact``: follow it when the sender is on the ticket *or* is a contact the
      desk already knows (a colleague of the reporter); else open a new ticket.
    * ``new_ticket`` (default): follow it only when the sender is on the ticket (reporter or a
      participant); else open a new ticket, and the trace says which ticket the tag named.
    """

    ACCEPT = "accept"
    ACCEPT_IF_KNOWN_CONTACT = "accept_if_known_contact"
    NEW_TICKET = "new_ticket"


#: Mail kinds that open a ticket (filed as automated, never answered) when they match no ticket.
DEFAULT_TICKET_FOR_UNMATCHED: frozenset[str] = frozenset({"bulk", "auto_reply"})

_NUMBER = "{number}"


@attrs.frozen(kw_only=True)
class TicketTagFormat:
    """The ticket tag put in (and searched for in) subjects: ``[Ticket#123]`` by default.

    ``template`` holds ``{number}`` once; the text before it is the *prefix* (``[Ticket#``) and
    the text after it the *suffix* (``]``). ``number_pattern`` is the regular expression a ticket
    number matches; it must be linear-time safe (no nested unbounded quantifiers) and is checked
    when the value is built. Matching ignores case and allows up to two spaces after the prefix
    text (``[ticket# 123]``), as Zammad does.
    """

    template: str = "[Ticket#{number}]"
    number_pattern: str = r"[0-9]{1,20}"

    def __attrs_post_init__(self) -> None:
        from helpmail.rules.regex_safety import UnsafePattern, check_pattern

        if self.template.count(_NUMBER) != 1:
            raise ValueError(f"ticket tag template must contain {_NUMBER} once: {self.template!r}")
        if not self.prefix.strip():
            raise ValueError(f"ticket tag needs text before {_NUMBER}: {self.template!r}")
        try:
            check_pattern(self.number_pattern)
        except UnsafePattern as error:
            raise ValueError(f"ticket number pattern {self.number_pattern!r}: {error}") from None
        if re.compile(self.number_pattern).groups:
            raise ValueError("ticket number pattern must not contain capturing groups")

    @property
    def prefix(self) -> str:
        return self.template.partition(_NUMBER)[0]

    @property
    def suffix(self) -> str:
        return self.template.partition(_NUMBER)[2]

    def render(self, number: str) -> str:
        """The tag for ticket ``number`` (``[Ticket#123]``)."""
        return self.template.replace(_NUMBER, number)

    def regex(self) -> re.Pattern[str]:
        """The compiled search pattern; group 1 is the number (linear time: no nested repeats)."""
        return _tag_regex(self.prefix, self.suffix, self.number_pattern)


_TAG_CACHE: dict[tuple[str, str, str], re.Pattern[str]] = {}


def _tag_regex(prefix: str, suffix: str, number: str) -> re.Pattern[str]:
    key = (prefix, suffix, number)
    found = _TAG_CACHE.get(key)
    if found is None:
        head = prefix.rstrip()
        # The prefix text, up to two spaces, the number, then the suffix (which may be empty).
        found = re.compile(
            re.escape(head) + r"[ \t]{0,2}(" + number + r")" + re.escape(suffix), re.IGNORECASE
        )
        _TAG_CACHE[key] = found
    return found


@attrs.frozen(kw_only=True)
class AttachmentPolicy:
    """Which attachments of an imported mail are kept, decided by *content*, never by name.

    ``allowed_types`` is the set of sniffed media types kept (``None``: any, even unknown
    content); the default is :data:`helpmail.mail.sniff.SAFE_IMAGE_TYPES` (raster images, no SVG).
    ``max_size`` refuses larger files (``None``: no limit). ``keep_inline`` keeps inline images
    (pasted screenshots) under the same type rule.
    """

    allowed_types: frozenset[str] | None = SAFE_IMAGE_TYPES
    max_size: int | None = 20 * 1024 * 1024
    keep_inline: bool = True

    @classmethod
    def images(cls) -> AttachmentPolicy:
        """The default: raster images only."""
        return cls()

    @classmethod
    def everything(cls) -> AttachmentPolicy:
        """Keep every attachment (still subject to ``max_size``)."""
        return cls(allowed_types=None)

    @classmethod
    def nothing(cls) -> AttachmentPolicy:
        """Keep no attachment."""
        return cls(allowed_types=frozenset(), keep_inline=False)


@attrs.frozen(kw_only=True, cache_hash=True)
class ImportSettings:
    """Everything the import pipeline needs to know about the desk (a frozen value).

    New tickets: ``status`` (``"email imported"``), created by ``default_employee``, in ``queue``
    with ``manager``/``assignee`` defaults; unknown senders per ``unknown_sender`` and
    ``default_contact``. Follow-ups set ``follow_up_status`` (``None``: leave the status as it is),
    the status the desk uses for follow-ups from the portal.

    ``signing_keys`` verify helpmail's own Message-IDs (the first one signs); ``own_addresses`` are
    the desk's support addresses: mail *from* them is the desk's own mail coming back (a loop);
    ``message_id_domains`` the domains of the desk's own Message-IDs (for the classifier).

    ``after_import`` are the mailbox actions applied to every imported message once the store has
    committed it (empty: leave the message where it is). Quarantined messages are never moved or
    deleted. ``number_format`` formats the store's sequence into the human ticket number
    (``{n}``, ``{year}``, ``{month}``, ``{day}``; ``"{n}"`` by default: 1, 2, 3...).
    ``ticket_for_unmatched`` names the automated mail kinds (``bulk``, ``auto_reply``) that open
    a ticket when they match none (filed as automated, so no automatic mail answers them); other
    automated kinds (bounces, complaints, delivery reports) are recorded and left alone.
    ``max_message_size`` sends larger messages to the quarantine without parsing them.
    """

    status: str = "email imported"
    follow_up_status: str | None = None
    default_employee: str = "mail-import"
    default_contact: str = "unknown-contact"
    unknown_sender: UnknownSenderPolicy = UnknownSenderPolicy.CREATE_CONTACT
    queue: str | None = None
    manager: str | None = None
    assignee: str | None = None
    ticket_tag: TicketTagFormat = TicketTagFormat()
    subject_match: SubjectMatchPolicy = SubjectMatchPolicy.NEW_TICKET
    attachments: AttachmentPolicy = AttachmentPolicy()
    signing_keys: tuple[bytes, ...] = ()
    own_addresses: tuple[str, ...] = ()
    message_id_domains: frozenset[str] = frozenset()
    after_import: tuple[MailboxAction, ...] = ()
    number_format: str = "{n}"
    ticket_for_unmatched: frozenset[str] = DEFAULT_TICKET_FOR_UNMATCHED
    history_text: str = "created from mail import"
    max_message_size: int = 50 * 1024 * 1024
    untitled: str = "(no subject)"
