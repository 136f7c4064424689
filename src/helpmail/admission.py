"""Who may open tickets: desk policy, sender blocklist and allowlist, spam verdicts.

One decision per mail, :func:`admit`, made of independent checks. Each check says ``admit``,
``suspend`` or ``reject`` with a reason; the most severe wins and every check is kept for the
trace. The checks are a table (:data:`CHECKS`), not a chain of ifs.

* **Blocklist** of addresses and domains (``spam.example``, ``*.spam.example``), each with a
  strength: ``suspend`` (the mail goes to the suspended queue, where an agent can still accept it)
  or ``reject`` (dropped with a trace entry; no reply is ever sent, because a reply to a blocked
  sender is exactly what a spammer or a mail loop wants).
* **Allowlist** of addresses and domains. It overrides spam suspicion: a spam score in the suspend
  range admits the mail. Above the reject threshold an allowlisted mail is suspended, not
  dropped and not admitted: ``From`` can be forged, so an allowlist must not turn blatant spam
  that claims a partner's address into a ticket, but it must not silently lose it either.
  It also lets the sender open tickets under a restrictive desk policy, and it beats a less
  specific block (``*.example.com`` blocked, ``boss@example.com`` allowed).
* **Desk policy** for mail that would open a new ticket: ``anyone``, ``known_contacts`` (the sender
  is a contact), ``known_contacts_and_org_domains`` (or its domain maps to an organisation). A
  refused mail is suspended by default (``refused``), so a new customer is never lost; follow-ups on
  existing tickets are not subject to the policy.
* **Invalid sender**: a mail without a usable ``From`` address never makes a contact; by default it
  is admitted and filed under the default contact (the desk may suspend or reject it instead).
  Under a ``known_contacts`` policy it cannot open a ticket anyway.

Matching is by normalised addr-spec and ASCII domain (see :mod:`helpmail.desk.matching`); the most
specific entry wins (address, then exact domain, then the longest subdomain rule), and between an
allow and a block entry of the same specificity the block wins.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum

import attrs

from helpmail.contacts import SenderKind, SenderResolution
from helpmail.desk.matching import DomainPattern, addr_key, domain_of_key
from helpmail.spam import SpamAction, SpamVerdict


class DeskPolicy(StrEnum):
    """Who may open new tickets by mail."""

    ANYONE = "anyone"
    KNOWN_CONTACTS = "known_contacts"
    KNOWN_CONTACTS_AND_ORG_DOMAINS = "known_contacts_and_org_domains"


class AdmissionAction(StrEnum):
    """What happens to the mail, in order of severity."""

    ADMIT = "admit"
    SUSPEND = "suspend"
    REJECT = "reject"


class Strength(StrEnum):
    """How hard a block (or a refusal) is: ``suspend`` or ``reject``."""

    SUSPEND = "suspend"
    REJECT = "reject"

    @property
    def action(self) -> AdmissionAction:
        return AdmissionAction(self.value)


_SEVERITY = {AdmissionAction.ADMIT: 0, AdmissionAction.SUSPEND: 1, AdmissionAction.REJECT: 2}


@attrs.frozen(kw_only=True)
class SenderPattern:
    """An address (``bob@example.com``) or a domain rule (``example.com``, ``*.example.com``)."""

    address: str | None = None
    domain: DomainPattern | None = None

    @classmethod
    def parse(cls, text: str) -> SenderPattern:
        """``user@host`` is an address; anything else (``host``, ``@host``, ``*.host``) a domain."""
        text = text.strip()
        if "@" in text.lstrip("@"):
            return cls(address=addr_key(text))
        return cls(domain=DomainPattern.parse(text))

    def specificity(self, key: str) -> tuple[int, int] | None:
        """How specifically this pattern matches address key ``key``; ``None``: no match."""
        if self.address is not None:
            return (3, 0) if key == self.address else None
        assert self.domain is not None
        if not self.domain.matches(domain_of_key(key)):
            return None
        return self.domain.specificity

    def __str__(self) -> str:
        return self.address if self.address is not None else str(self.domain)


@attrs.frozen(kw_only=True)
class BlockEntry:
    """One blocklist entry and its strength."""

    pattern: SenderPattern
    strength: Strength = Strength.SUSPEND


@attrs.frozen(kw_only=True, cache_hash=True)
class AdmissionSettings:
    """Configuration section ``admission``.

    ``refused`` is what happens to a new ticket the policy refuses; ``invalid_sender`` to a mail
    without a usable sender address (``admit``: filed under the default contact, as an unknown
    sender would be; ``suspend``; ``reject``).
    """

    policy: DeskPolicy = DeskPolicy.ANYONE
    refused: Strength = Strength.SUSPEND
    invalid_sender: AdmissionAction = AdmissionAction.ADMIT
    blocklist: tuple[BlockEntry, ...] = ()
    allowlist: tuple[SenderPattern, ...] = ()


@attrs.frozen(kw_only=True)
class AdmissionFacts:
    """Everything :func:`admit` decides on (all values; the pipeline gathers them).

    ``opens_ticket``: the mail would open a new ticket (no ticket reference found).
    ``accepted_by_agent``: the mail comes from the suspended queue, accepted by an agent.
    """

    sender: SenderResolution
    spam: SpamVerdict
    opens_ticket: bool = True
    accepted_by_agent: bool = False


@attrs.frozen(kw_only=True)
class AdmissionCheck:
    """The outcome of one check: its name, the action it asks for, and why."""

    check: str
    action: AdmissionAction
    detail: str


@attrs.frozen(kw_only=True)
class Admission:
    """The admission decision (pipeline step ``admission``).

    ``action`` is the most severe action of all ``checks``; ``reason`` names the check that
    decided it (the first with that action). ``reject`` means: drop with this trace entry, never
    reply. ``suspend`` means: put the raw mail in the suspended queue with ``reason`` and
    ``detail``.
    """

    action: AdmissionAction
    reason: str
    checks: tuple[AdmissionCheck, ...]

    step = "admission"

    @property
    def decision(self) -> str:
        return self.action.value

    @property
    def detail(self) -> str:
        deciding = next((c for c in self.checks if c.check == self.reason), None)
        return deciding.detail if deciding is not None else self.reason


def _best(
    key: str, patterns: tuple[tuple[SenderPattern, object], ...]
) -> tuple[tuple[int, int], SenderPattern, object] | None:
    best: tuple[tuple[int, int], SenderPattern, object] | None = None
    for pattern, value in patterns:
        rank = pattern.specificity(key)
        if rank is not None and (best is None or rank > best[0]):
            best = (rank, pattern, value)
    return best


@functools.lru_cache(maxsize=1024)
def _lists(
    key: str | None, settings: AdmissionSettings
) -> tuple[SenderPattern | None, BlockEntry | None]:
    """The allow entry and the block entry that apply to ``key`` after precedence."""
    if key is None:
        return None, None
    allow = _best(key, tuple((p, None) for p in settings.allowlist))
    block = _best(key, tuple((e.pattern, e) for e in settings.blocklist))
    if allow is not None and block is not None:
        if allow[0] > block[0]:
            block = None
        else:
            allow = None
    allowed = allow[1] if allow is not None else None
    blocked = block[2] if block is not None else None
    assert blocked is None or isinstance(blocked, BlockEntry)
    return allowed, blocked


def _check_blocklist(facts: AdmissionFacts, settings: AdmissionSettings) -> AdmissionCheck:
    allowed, blocked = _lists(facts.sender.key, settings)
    if blocked is not None:
        return AdmissionCheck(
            check="blocklist",
            action=blocked.strength.action,
            detail=f"sender {facts.sender.address} is blocked by {blocked.pattern} "
            f"({blocked.strength})",
        )
    note = f" (allowlisted by {allowed})" if allowed is not None else ""
    return AdmissionCheck(
        check="blocklist", action=AdmissionAction.ADMIT, detail=f"sender not blocked{note}"
    )


def _check_spam(facts: AdmissionFacts, settings: AdmissionSettings) -> AdmissionCheck:
    verdict = facts.spam
    if verdict.action is SpamAction.NONE:
        return AdmissionCheck(check="spam", action=AdmissionAction.ADMIT, detail=verdict.detail)
    allowed, _ = _lists(facts.sender.key, settings)
    if allowed is not None:
        if verdict.action is SpamAction.REJECT:
            return AdmissionCheck(
                check="spam",
                action=AdmissionAction.SUSPEND,
                detail=f"allowlisted by {allowed}, but spam above the reject threshold "
                f"({verdict.detail}); suspended, not dropped",
            )
        return AdmissionCheck(
            check="spam",
            action=AdmissionAction.ADMIT,
            detail=f"allowlisted by {allowed}; overrides spam suspicion ({verdict.detail})",
        )
    action = AdmissionAction(verdict.action.value)
    return AdmissionCheck(check="spam", action=action, detail=f"spam ({verdict.detail})")


def _check_policy(facts: AdmissionFacts, settings: AdmissionSettings) -> AdmissionCheck:
    sender = facts.sender
    if not facts.opens_ticket:
        return AdmissionCheck(
            check="policy", action=AdmissionAction.ADMIT, detail="follow-up; policy not applied"
        )
    if settings.policy is DeskPolicy.ANYONE:
        return AdmissionCheck(check="policy", action=AdmissionAction.ADMIT, detail="anyone")
    allowed, _ = _lists(sender.key, settings)
    if allowed is not None:
        return AdmissionCheck(
            check="policy", action=AdmissionAction.ADMIT, detail=f"allowlisted by {allowed}"
        )
    if sender.kind is SenderKind.KNOWN:
        return AdmissionCheck(
            check="policy", action=AdmissionAction.ADMIT, detail=f"{settings.policy}: known contact"
        )
    if settings.policy is DeskPolicy.KNOWN_CONTACTS_AND_ORG_DOMAINS and sender.organisation:
        return AdmissionCheck(
            check="policy",
            action=AdmissionAction.ADMIT,
            detail=f"{settings.policy}: domain of organisation {sender.organisation}",
        )
    return AdmissionCheck(
        check="policy",
        action=settings.refused.action,
        detail=f"{settings.policy}: {sender.address} may not open tickets ({settings.refused})",
    )


def _check_sender(facts: AdmissionFacts, settings: AdmissionSettings) -> AdmissionCheck:
    sender = facts.sender
    if sender.kind in (SenderKind.INVALID, SenderKind.MISSING):
        return AdmissionCheck(check="sender", action=settings.invalid_sender, detail=sender.detail)
    return AdmissionCheck(check="sender", action=AdmissionAction.ADMIT, detail=sender.detail)


#: The checks, in the order they are listed in the trace.
CHECKS: tuple[Callable[[AdmissionFacts, AdmissionSettings], AdmissionCheck], ...] = (
    _check_sender,
    _check_blocklist,
    _check_spam,
    _check_policy,
)


def admit(facts: AdmissionFacts, settings: AdmissionSettings) -> Admission:
    """Decide whether a mail is admitted, suspended or rejected (see the module docstring).

    A mail an agent accepted from the suspended queue is admitted whatever the checks say (they are
    still run and kept in the trace).
    """
    checks = tuple(check(facts, settings) for check in CHECKS)
    if facts.accepted_by_agent:
        accepted = AdmissionCheck(
            check="suspended_queue",
            action=AdmissionAction.ADMIT,
            detail="accepted from the suspended queue by an agent",
        )
        return Admission(
            action=AdmissionAction.ADMIT, reason="suspended_queue", checks=(*checks, accepted)
        )
    worst = max(checks, key=lambda c: _SEVERITY[c.action])
    return Admission(action=worst.action, reason=worst.check, checks=checks)


__all__ = [
    "CHECKS",
    "Admission",
    "AdmissionAction",
    "AdmissionCheck",
    "AdmissionFacts",
    "AdmissionSettings",
    "BlockEntry",
    "DeskPolicy",
    "SenderPattern",
    "Strength",
    "admit",
]
