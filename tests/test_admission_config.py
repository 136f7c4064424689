"""The desk's configuration sections, and the two demo mails going through them end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpmail import parse_mail
from helpmail.addresses import route_to_support_address
from helpmail.admission import AdmissionAction, AdmissionFacts, DeskPolicy, Strength, admit
from helpmail.config import SECTIONS, Config, ConfigErrors, parse_toml
from helpmail.contacts import resolve_sender, sender_address
from helpmail.desk.config import (
    admission_from,
    contact_settings_from,
    own_addresses_from,
    parse_admission,
    parse_contacts,
    parse_spam,
    parse_support_addresses,
    spam_from,
    support_addresses_from,
)
from helpmail.desk.trace import trace_step
from helpmail.errors import ConfigError
from helpmail.spam import SpamAction, read_spam_verdict
from helpmail.tickets.settings import UnknownSenderPolicy

DATA = Path(__file__).parent / "data" / "desk"

DEMO = """
[desk]
name = "Acme Support"
addresses = ["support@acme.example", "service@acme.example"]

[import]
unknown_sender = "default_contact"
default_contact = "unknown-contact"

[[support_addresses]]
address = "support@acme.example"
name = "Acme Support"
queue = "first-level"

[[support_addresses]]
address = "billing@acme.example"
name = "Acme Billing"
queue = "billing"
priority = "high"

[contacts]
organisations_by_domain = true
free_mail_domains = ["mail.example"]
[[contacts.organisations]]
id = "customer-ltd"
name = "Customer Ltd."
domains = ["customer.example", "*.customer.example"]

[admission]
policy = "known_contacts_and_org_domains"
refused = "suspend"
blocklist = [
  { sender = "leadgen-blast.example", strength = "reject" },
  { sender = "*.pushy.example" },
  "troll@forum.example",
]
allowlist = ["partner.example"]

[spam]
trusted_hosts = ["mx.acme.example", "store.acme.example"]
trusted_networks = ["192.0.2.0/24"]
[spam.spamassassin]
suspend = 5.0
reject = 15.0
"""

SECTION_PARSERS = {
    "support_addresses": "helpmail.desk.config:parse_support_addresses",
    "contacts": "helpmail.desk.config:parse_contacts",
    "admission": "helpmail.desk.config:parse_admission",
    "spam": "helpmail.desk.config:parse_spam",
}


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    missing = {k: v for k, v in SECTION_PARSERS.items() if k not in SECTIONS}
    SECTIONS.update(missing)
    yield
    for name in missing:
        del SECTIONS[name]


def load(text: str = DEMO) -> Config:
    return parse_toml(text, env={}, base_dir=Path("/cfg"))


def problems(parse: object, value: object, key: str) -> dict[str, str]:
    assert callable(parse)
    with pytest.raises(ConfigError) as caught:
        parse(value, key)
    error = caught.value
    errors = error.errors if isinstance(error, ConfigErrors) else (error,)
    return {e.key: e.problem for e in errors}


def test_demo_configuration_parses() -> None:
    config = load()
    desk = support_addresses_from(config)
    assert [s.address for s in desk] == [
        "support@acme.example",
        "billing@acme.example",
        "service@acme.example",
    ]
    assert desk.addresses[1].priority == "high"
    assert desk.addresses[2].name == "Acme Support"  # from [desk] addresses
    contacts = contact_settings_from(config)
    assert contacts.unknown_sender is UnknownSenderPolicy.DEFAULT_CONTACT
    assert contacts.default_contact == "unknown-contact"
    assert "mail.example" in contacts.free_mail_domains
    admission = admission_from(config)
    assert admission.policy is DeskPolicy.KNOWN_CONTACTS_AND_ORG_DOMAINS
    assert [e.strength for e in admission.blocklist] == [
        Strength.REJECT,
        Strength.SUSPEND,
        Strength.SUSPEND,
    ]
    assert spam_from(config).spamassassin.reject == 15.0


def test_own_addresses_are_the_desk_and_support_addresses_once() -> None:
    config = load()
    own = own_addresses_from(config)
    assert {"support@acme.example", "billing@acme.example", "service@acme.example"} <= set(own)
    assert len({a.lower() for a in own}) == len(own)


def test_missing_sections_give_safe_defaults() -> None:
    config = load("[desk]\naddresses = ['support@acme.example']\n")
    assert [s.address for s in support_addresses_from(config)] == ["support@acme.example"]
    assert admission_from(config).policy is DeskPolicy.ANYONE
    assert not spam_from(config).trusted_hosts


def test_demo_spam_mail_is_suspended() -> None:
    config = load()
    mail = parse_mail((DATA / "spam-trusted-spamassassin.eml").read_bytes())
    verdict = read_spam_verdict(mail, spam_from(config))
    assert verdict.action is SpamAction.SUSPEND
    assert verdict.filters[0].score == 7.4
    assert {i.header for i in verdict.ignored} == {"X-Spam-Status", "X-Spam-Flag"}
    author = sender_address(mail)
    sender = resolve_sender(author, known=None, settings=contact_settings_from(config))
    decision = admit(AdmissionFacts(sender=sender, spam=verdict), admission_from(config))
    assert decision.action is AdmissionAction.SUSPEND
    assert decision.reason == "spam"
    step = trace_step(decision)
    assert (step.step, step.decision) == ("admission", "suspend")


def test_demo_blocked_sender_is_rejected() -> None:
    config = load()
    mail = parse_mail((DATA / "blocked-sender.eml").read_bytes())
    verdict = read_spam_verdict(mail, spam_from(config))
    assert verdict.action is SpamAction.NONE
    sender = resolve_sender(
        sender_address(mail), known=None, settings=contact_settings_from(config)
    )
    decision = admit(AdmissionFacts(sender=sender, spam=verdict), admission_from(config))
    assert decision.action is AdmissionAction.REJECT
    assert decision.reason == "blocklist"
    routing = route_to_support_address(mail, support_addresses_from(config))
    assert routing.support is not None
    assert routing.support.queue == "first-level"


def test_support_addresses_table_form() -> None:
    desk = parse_support_addresses(
        {
            "addresses": [
                "help@desk.internal",
                {"address": "sales@desk.internal", "queue": "sales"},
            ],
            "default": "sales@desk.internal",
            "subaddress_separator": "-",
        },
        "support_addresses",
    )
    assert desk.default == "sales@desk.internal"
    assert desk.find("help-x@desk.internal") is not None


def test_support_address_problems_name_their_key() -> None:
    found = problems(
        parse_support_addresses,
        [
            {"address": "not-an-address"},
            {"name": "x"},
            {"address": "a@b.example", "queu": "q"},
            "A@B.example",
        ],
        "support_addresses",
    )
    assert set(found) == {
        "support_addresses[0].address",
        "support_addresses[1].address",
        "support_addresses[2].queu",
        "support_addresses[3]",
    }
    assert "did you mean" in found["support_addresses[2].queu"]
    assert "already" in found["support_addresses[3]"]
    found = problems(
        parse_support_addresses,
        {"addresses": ["a@b.example"], "default": "c@b.example"},
        "support_addresses",
    )
    assert found == {"support_addresses.default": "c@b.example is not one of the addresses"}


def test_free_mail_domain_in_an_organisation_is_a_config_error() -> None:
    found = problems(
        parse_contacts,
        {
            "organisations_by_domain": True,
            "organisations": [{"id": "g", "domains": ["ok.example", "gmail.com", "*.web.de"]}],
        },
        "contacts",
    )
    assert set(found) == {
        "contacts.organisations[0].domains[1]",
        "contacts.organisations[0].domains[2]",
    }
    assert "free-mail" in found["contacts.organisations[0].domains[1]"]


def test_contacts_problems() -> None:
    found = problems(
        parse_contacts,
        {
            "organisations": [
                {"id": "a", "domains": ["x"]},
                {"id": "a", "domains": []},
                {"domains": []},
            ]
        },
        "contacts",
    )
    assert "contacts.organisations[0].domains[0]" in found
    assert "contacts.organisations[1].id" in found
    assert "contacts.organisations[2].id" in found


def test_admission_problems() -> None:
    found = problems(
        parse_admission,
        {
            "policy": "known_contact",
            "blocklist": [{"sender": "x.example", "strength": "drop"}, "a.example", "a.example"],
            "allowlist": ["a.example", "bad domain"],
        },
        "admission",
    )
    assert set(found) == {
        "admission.policy",
        "admission.blocklist[0].strength",
        "admission.blocklist[2]",
        "admission.allowlist[0]",
        "admission.allowlist[1]",
    }
    assert 'did you mean "known_contacts"' in found["admission.policy"]


def test_spam_problems() -> None:
    found = problems(
        parse_spam,
        {
            "trusted_hosts": ["mx.example.com"],
            "trusted_networks": ["10.0.0.0/8", "not-a-net"],
            "flag_action": "reject",
            "rspamd": {"suspend": 20, "reject": 10},
            "microsoft": {"suspend": "high"},
        },
        "spam",
    )
    assert set(found) == {
        "spam.trusted_networks[1]",
        "spam.flag_action",
        "spam.rspamd.reject",
        "spam.microsoft.suspend",
    }


def test_spam_section_needs_trusted_hosts_unless_disabled() -> None:
    found = problems(parse_spam, {}, "spam")
    assert "spam.trusted_hosts" in found
    assert not parse_spam({"enabled": False}, "spam").enabled


def test_desk_steps_for_the_demo_mails() -> None:
    from helpmail.desk.steps import DeskSettings, desk_steps

    settings = DeskSettings.from_config(load())
    spam = parse_mail((DATA / "spam-trusted-spamassassin.eml").read_bytes())
    decision = desk_steps(spam, settings, sender_contact=None, opens_ticket=True)
    assert decision.action is AdmissionAction.SUSPEND
    assert [s.step for s in decision.trace()] == [
        "support_address",
        "sender",
        "spam",
        "admission",
    ]
    accepted = desk_steps(
        spam, settings, sender_contact=None, opens_ticket=True, accepted_by_agent=True
    )
    assert accepted.action is AdmissionAction.ADMIT
    party = accepted.party()
    assert party.contact == "unknown-contact"  # [import] unknown_sender = "default_contact"
    assert party.address == "winner@promo-blast.example"
    assert not party.create_contact
    blocked = parse_mail((DATA / "blocked-sender.eml").read_bytes())
    rejected = desk_steps(blocked, settings, sender_contact=None, opens_ticket=True)
    assert rejected.action is AdmissionAction.REJECT


def test_desk_steps_own_mail_and_ticket_fields() -> None:
    from helpmail.desk.steps import DeskSettings, desk_steps

    settings = DeskSettings.from_config(load())
    own = parse_mail(b"From: Acme <service@acme.example>\r\nTo: x@customer.example\r\n\r\nhi\r\n")
    decision = desk_steps(own, settings, sender_contact=None, opens_ticket=True)
    assert decision.own is not None
    assert decision.action is AdmissionAction.REJECT
    assert [s.step for s in decision.trace()] == ["own_sender"]
    billing = parse_mail(
        b"From: Dave <dave@eu.customer.example>\r\nTo: billing@acme.example\r\n\r\nhi\r\n"
    )
    decision = desk_steps(billing, settings, sender_contact="c-dave", opens_ticket=True)
    assert decision.action is AdmissionAction.ADMIT
    assert decision.ticket_fields() == (("priority", "high"), ("organisation", "customer-ltd"))
    assert decision.party().contact == "c-dave"
