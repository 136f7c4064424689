"""Who may open tickets: policy, blocklist (suspend/reject), allowlist over spam suspicion."""

from __future__ import annotations

import pytest

from helpmail import Address
from helpmail.admission import (
    Admission,
    AdmissionAction,
    AdmissionFacts,
    AdmissionSettings,
    BlockEntry,
    DeskPolicy,
    SenderPattern,
    Strength,
    admit,
)
from helpmail.contacts import (
    Contact,
    ContactSettings,
    Organisation,
    SenderResolution,
    resolve_sender,
)
from helpmail.desk.matching import DomainPattern
from helpmail.spam import SpamAction, SpamVerdict, Thresholds, verdict_from_score

CLEAN = SpamVerdict(action=SpamAction.NONE)
SUSPECT = verdict_from_score(7.0, Thresholds(suspend=5, reject=15))
BLATANT = verdict_from_score(30.0, Thresholds(suspend=5, reject=15))
ORGS = ContactSettings(
    organisations_by_domain=True,
    organisations=(Organisation(id="acme", domains=(DomainPattern.parse("acme.example"),)),),
)
BOB = Contact(id="c-bob", addresses=("bob@customer.example",))


def sender(spec: str, known: Contact | None = None) -> SenderResolution:
    return resolve_sender(Address(addr_spec=spec), known=known, settings=ORGS)


def decide(
    spec: str,
    settings: AdmissionSettings,
    *,
    spam: SpamVerdict = CLEAN,
    known: Contact | None = None,
    opens_ticket: bool = True,
) -> Admission:
    facts = AdmissionFacts(sender=sender(spec, known), spam=spam, opens_ticket=opens_ticket)
    return admit(facts, settings)


BLOCKS = AdmissionSettings(
    blocklist=(
        BlockEntry(pattern=SenderPattern.parse("spam.example"), strength=Strength.REJECT),
        BlockEntry(pattern=SenderPattern.parse("*.spam.example"), strength=Strength.REJECT),
        BlockEntry(pattern=SenderPattern.parse("@pushy.example"), strength=Strength.SUSPEND),
        BlockEntry(pattern=SenderPattern.parse("Troll@Forum.example"), strength=Strength.REJECT),
    ),
    allowlist=(SenderPattern.parse("ceo@spam.example"), SenderPattern.parse("partner.example")),
)


def test_anyone_admits_a_clean_mail() -> None:
    result = decide("carol@new.example", AdmissionSettings())
    assert result.action is AdmissionAction.ADMIT
    assert result.step == "admission"
    assert [c.check for c in result.checks] == ["sender", "blocklist", "spam", "policy"]


def test_blocked_domain_with_reject_strength_is_dropped() -> None:
    result = decide("x@spam.example", BLOCKS)
    assert result.action is AdmissionAction.REJECT
    assert result.reason == "blocklist"
    assert "blocked by spam.example (reject)" in result.detail


def test_blocked_subdomain_rule() -> None:
    assert decide("x@eu.mail.spam.example", BLOCKS).action is AdmissionAction.REJECT


def test_blocked_domain_with_suspend_strength_is_suspended() -> None:
    result = decide("sales@PUSHY.example", BLOCKS)
    assert result.action is AdmissionAction.SUSPEND
    assert result.reason == "blocklist"


def test_blocked_address() -> None:
    assert decide("troll@forum.example", BLOCKS).action is AdmissionAction.REJECT
    assert decide("friend@forum.example", BLOCKS).action is AdmissionAction.ADMIT


def test_block_applies_to_follow_ups_too() -> None:
    assert decide("x@spam.example", BLOCKS, opens_ticket=False).action is AdmissionAction.REJECT


def test_allowlisted_address_beats_a_domain_block() -> None:
    result = decide("ceo@spam.example", BLOCKS)
    assert result.action is AdmissionAction.ADMIT
    assert "allowlisted by ceo@spam.example" in result.checks[1].detail


def test_same_specificity_block_wins() -> None:
    settings = AdmissionSettings(
        blocklist=(BlockEntry(pattern=SenderPattern.parse("x.example")),),
        allowlist=(SenderPattern.parse("x.example"),),
    )
    assert decide("a@x.example", settings).action is AdmissionAction.SUSPEND


@pytest.mark.parametrize(
    ("spam", "action"),
    [
        (CLEAN, AdmissionAction.ADMIT),
        (SUSPECT, AdmissionAction.SUSPEND),
        (BLATANT, AdmissionAction.REJECT),
    ],
)
def test_spam_verdict_decides_without_allowlist(spam: SpamVerdict, action: AdmissionAction) -> None:
    result = decide("carol@new.example", AdmissionSettings(), spam=spam)
    assert result.action is action
    if action is not AdmissionAction.ADMIT:
        assert result.reason == "spam"


def test_allowlist_overrides_spam_suspicion() -> None:
    result = decide("anna@partner.example", BLOCKS, spam=SUSPECT)
    assert result.action is AdmissionAction.ADMIT
    assert "overrides spam suspicion" in result.checks[2].detail


def test_allowlist_does_not_admit_blatant_spam_but_never_drops_it() -> None:
    result = decide("anna@partner.example", BLOCKS, spam=BLATANT)
    assert result.action is AdmissionAction.SUSPEND
    assert "suspended, not dropped" in result.detail


def test_known_contacts_policy() -> None:
    settings = AdmissionSettings(policy=DeskPolicy.KNOWN_CONTACTS)
    assert decide("bob@customer.example", settings, known=BOB).action is AdmissionAction.ADMIT
    refused = decide("carol@new.example", settings)
    assert refused.action is AdmissionAction.SUSPEND
    assert refused.reason == "policy"
    # an organisation domain is not enough under known_contacts
    assert decide("dave@acme.example", settings).action is AdmissionAction.SUSPEND
    # follow-ups are not subject to the policy
    assert decide("carol@new.example", settings, opens_ticket=False).action is AdmissionAction.ADMIT


def test_known_contacts_and_org_domains_policy() -> None:
    settings = AdmissionSettings(policy=DeskPolicy.KNOWN_CONTACTS_AND_ORG_DOMAINS)
    assert decide("dave@acme.example", settings).action is AdmissionAction.ADMIT
    assert decide("bob@customer.example", settings, known=BOB).action is AdmissionAction.ADMIT
    assert decide("carol@new.example", settings).action is AdmissionAction.SUSPEND


def test_refused_strength_reject() -> None:
    settings = AdmissionSettings(policy=DeskPolicy.KNOWN_CONTACTS, refused=Strength.REJECT)
    assert decide("carol@new.example", settings).action is AdmissionAction.REJECT


def test_allowlist_lets_a_stranger_open_tickets_under_a_strict_policy() -> None:
    settings = AdmissionSettings(
        policy=DeskPolicy.KNOWN_CONTACTS, allowlist=(SenderPattern.parse("*.partner.example"),)
    )
    assert decide("x@eu.partner.example", settings).action is AdmissionAction.ADMIT


def test_invalid_sender_is_filed_under_the_default_contact_or_suspended() -> None:
    admitted = decide("not an address", AdmissionSettings())
    assert admitted.action is AdmissionAction.ADMIT
    assert "filed under default contact unknown-contact" in admitted.checks[0].detail
    strict = AdmissionSettings(invalid_sender=AdmissionAction.SUSPEND)
    result = decide("not an address", strict)
    assert result.action is AdmissionAction.SUSPEND
    assert result.reason == "sender"
    refused = decide("bob@", AdmissionSettings(policy=DeskPolicy.KNOWN_CONTACTS))
    assert refused.action is AdmissionAction.SUSPEND
    assert refused.reason == "policy"


def test_most_severe_check_wins_and_all_are_kept() -> None:
    settings = AdmissionSettings(
        policy=DeskPolicy.KNOWN_CONTACTS,
        blocklist=(BlockEntry(pattern=SenderPattern.parse("pushy.example")),),
    )
    result = decide("x@pushy.example", settings, spam=BLATANT)
    assert result.action is AdmissionAction.REJECT
    assert result.reason == "spam"
    assert [c.action for c in result.checks] == [
        AdmissionAction.ADMIT,
        AdmissionAction.SUSPEND,
        AdmissionAction.REJECT,
        AdmissionAction.SUSPEND,
    ]


def test_agent_accepted_mail_is_admitted_whatever_the_checks_say() -> None:
    facts = AdmissionFacts(sender=sender("x@spam.example"), spam=BLATANT, accepted_by_agent=True)
    result = admit(facts, BLOCKS)
    assert result.action is AdmissionAction.ADMIT
    assert result.reason == "suspended_queue"
    assert result.checks[1].action is AdmissionAction.REJECT
