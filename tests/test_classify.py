"""classify: every rule row of the table, with hand-made mails."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpmail import parse_mail
from helpmail.bounces import (
    RULES,
    ClassifySettings,
    MailKind,
    Strength,
    classify,
)
from helpmail.message_ids import make_message_id
from helpmail.testing import make_mail

KEY = b"k1"
DESK = ClassifySettings(
    keys=(KEY,),
    own_domains=frozenset({"desk.example"}),
    system_addresses=frozenset({"Support@Desk.example"}),
    loop_token="desk-1",
)


def kind_of(raw: bytes, desk: ClassifySettings = DESK) -> tuple[MailKind, Strength, str]:
    verdict = classify(parse_mail(raw), desk)
    rule = verdict.evidence[0].rule if verdict.evidence else ""
    return verdict.kind, verdict.strength, rule


def test_rules_table_is_data() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    assert {rule.kind for rule in RULES} == set(MailKind) - {MailKind.HUMAN}
    assert all(rule.doc for rule in RULES)
    assert [m.value for m in MailKind] == [
        "human", "bounce", "auto_reply", "bulk", "own_loop", "complaint", "delivery_report",
    ]  # fmt: skip


def test_human_mail() -> None:
    verdict = classify(parse_mail(make_mail()), DESK)
    assert verdict.kind is MailKind.HUMAN
    assert verdict.evidence == ()
    assert not verdict.automated
    assert "no sign" in verdict.explain()


def test_own_signed_message_id() -> None:
    mid = make_message_id(key=KEY, domain="desk.example", kind="n", ticket="42", recipient="a@b.c")
    assert kind_of(make_mail(message_id=mid)) == (
        MailKind.OWN_LOOP, Strength.STRONG, "own-signed-id",
    )  # fmt: skip
    # signed with a key we do not hold, at another domain: our shape only, weak
    other = make_message_id(key=b"other", domain="elsewhere.example", kind="n", ticket="42")
    assert kind_of(make_mail(message_id=other)) == (
        MailKind.OWN_LOOP, Strength.WEAK, "own-domain-id",
    )  # fmt: skip
    # without keys, our shape at our domain still counts (keys rotated away)
    assert kind_of(make_mail(message_id=mid), ClassifySettings(own_domains=frozenset(
        {"desk.example"}))) == (MailKind.OWN_LOOP, Strength.STRONG, "own-signed-id")  # fmt: skip


def test_own_loop_header_and_system_sender() -> None:
    raw = make_mail(headers=[("X-Helpmail-Loop", "desk-1")])
    assert kind_of(raw)[::2] == (MailKind.OWN_LOOP, "own-loop-header")
    # another desk's token is not ours (loop_token set)
    assert kind_of(make_mail(headers=[("X-Helpmail-Loop", "desk-2")]))[0] is MailKind.HUMAN
    assert kind_of(make_mail(sender="Desk <support@desk.example>"))[::2] == (
        MailKind.OWN_LOOP, "system-sender",
    )  # fmt: skip


def test_own_domain_message_id_is_weak() -> None:
    # a colleague's mail client on our domain writes a Message-ID there: weak, never strong
    assert kind_of(make_mail(message_id="abc@desk.example")) == (
        MailKind.OWN_LOOP, Strength.WEAK, "own-domain-id",
    )  # fmt: skip


DSN = (
    "From: MAILER-DAEMON@mx.example.net\r\nTo: a@example.org\r\nSubject: {subject}\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/report; report-type={report}; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain\r\n\r\nreport\r\n"
    "--b\r\nContent-Type: {part}\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
    "Final-Recipient: rfc822; bob@example.com\r\nAction: {action}\r\nStatus: {status}\r\n\r\n"
    "--b--\r\n"
)


@pytest.mark.parametrize(
    ("action", "status", "kind"),
    [
        ("failed", "5.1.1", MailKind.BOUNCE),
        ("delayed", "4.4.7", MailKind.BOUNCE),
        ("delivered", "2.0.0", MailKind.DELIVERY_REPORT),
        ("relayed", "2.0.0", MailKind.DELIVERY_REPORT),
        ("expanded", "2.0.0", MailKind.DELIVERY_REPORT),
        ("failure", "5.0.0", MailKind.BOUNCE),  # non-standard Action value
    ],
)
def test_dsn(action: str, status: str, kind: MailKind) -> None:
    raw = DSN.format(
        subject="Delivery Status Notification", report="delivery-status",
        part="message/delivery-status", action=action, status=status,
    ).encode()  # fmt: skip
    assert kind_of(raw)[:2] == (kind, Strength.STRONG)


def test_global_dsn_and_mdn() -> None:
    raw = DSN.format(
        subject="x", report="global-delivery-status", part="message/global-delivery-status",
        action="failed", status="5.1.1",
    ).encode()  # fmt: skip
    assert kind_of(raw)[0] is MailKind.BOUNCE
    mdn = DSN.format(
        subject="Read: hello", report="disposition-notification",
        part="message/disposition-notification", action="x", status="x",
    ).encode()  # fmt: skip
    assert kind_of(mdn)[::2] == (MailKind.DELIVERY_REPORT, "dsn-success")


def test_arf_complaint() -> None:
    raw = DSN.format(
        subject="Abuse report", report="feedback-report", part="message/feedback-report",
        action="x", status="x",
    ).encode()  # fmt: skip
    assert kind_of(raw) == (MailKind.COMPLAINT, Strength.STRONG, "arf")
    plain = make_mail(subject="complaint about message from 192.0.2.1", sender="staff@hotmail.com")
    assert kind_of(plain) == (MailKind.COMPLAINT, Strength.WEAK, "complaint-subject")


@pytest.mark.parametrize(
    ("notification", "kind"),
    [("Bounce", MailKind.BOUNCE), ("Complaint", MailKind.COMPLAINT),
     ("Delivery", MailKind.DELIVERY_REPORT)],
)  # fmt: skip
def test_ses_json_notifications(notification: str, kind: MailKind) -> None:
    body = '{"notificationType":"%s","mail":{"messageId":"x"}}' % notification  # noqa: UP031
    raw = make_mail(sender="no-reply@sns.amazonaws.com", subject="AWS Notification Message",
                    body=body)  # fmt: skip
    assert kind_of(raw)[:2] == (kind, Strength.STRONG)


def test_x_failed_recipients_and_text_bounce() -> None:
    raw = make_mail(headers=[("X-Failed-Recipients", "bob@example.com")], sender="x@mx.example")
    assert kind_of(raw)[::2] == (MailKind.BOUNCE, "x-failed-recipients")
    text = make_mail(
        sender="Mail Delivery System <MAILER-DAEMON@mx.example.net>",
        subject="Undelivered Mail Returned to Sender",
        body="<bob@example.com>: host mx said: 550 5.1.1 User unknown",
    )  # fmt: skip
    assert kind_of(text) == (MailKind.BOUNCE, Strength.STRONG, "mta-text-bounce")


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Auto-Submitted", "auto-replied"),
        ("Auto-Submitted", "auto-generated"),
        ("Auto-Submitted", "auto-notified"),
        ("Auto-Submitted", "auto-replied; owner-email=x@example.org"),
        ("X-Autoreply", "yes"),
        ("X-Autorespond", "Vacation"),
        ("X-Autogenerated", "Reply"),
        ("Precedence", "auto_reply"),
        ("X-Precedence", "auto_reply"),
        ("X-Apple-Action", "VACATION"),
        ("X-MS-Exchange-Inbox-Rules-Loop", "bob@example.com"),
        ("X-Auto-Response-Suppress", "All"),
        ("X-Amazon-Auto-Reply", "true"),
        ("Thread-Topic", "AutoResponse"),
    ],
)
def test_auto_reply_headers(header: str, value: str) -> None:
    assert kind_of(make_mail(headers=[(header, value)]))[:2] == (
        MailKind.AUTO_REPLY, Strength.STRONG,
    )  # fmt: skip


def test_auto_submitted_no_is_a_person() -> None:
    # RFC 3834 §5: "no" means the message was originated by a human
    assert kind_of(make_mail(headers=[("Auto-Submitted", "no")]))[0] is MailKind.HUMAN


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Precedence", "bulk"),
        ("Precedence", "list"),
        ("Precedence", "junk"),
        ("List-Id", "<users.lists.example.org>"),
        ("List-Unsubscribe", "<mailto:leave@example.org>"),
        ("List-Post", "<mailto:users@example.org>"),
        ("X-Loop", "yes"),
        ("Mailing-List", "contact users-help@example.org"),
    ],
)
def test_bulk_headers(header: str, value: str) -> None:
    assert kind_of(make_mail(headers=[(header, value)])) == (
        MailKind.BULK, Strength.STRONG, "bulk-headers",
    )  # fmt: skip


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Your order",
        "Automatische Antwort: Ihre Bestellung",
        "Abwesenheitsnotiz: Rechnung",
        "Out of Office: invoice",
        "Réponse automatique : commande",
        "Respuesta automática: pedido",
        "Risposta automatica: ordine",
        "Automatisch antwoord: bestelling",
        "Resposta automática: pedido",
        "Autosvar: faktura",
        "Automaattinen vastaus: lasku",
        "Automatyczna odpowiedź: zamówienie",
        "Автоматический ответ: заказ",
        "自動応答: ご注文",
        "自动回复: 订单",
        "Otomatik yanıt: sipariş",
        "Αυτόματη απάντηση: παραγγελία",
        "I am out of the office",
        "Auto: Re: ticket",
    ],
)
def test_out_of_office_subjects_are_weak(subject: str) -> None:
    assert kind_of(make_mail(subject=subject)) == (
        MailKind.AUTO_REPLY, Strength.WEAK, "auto-reply-subject",
    )  # fmt: skip


def test_weak_sender_rules() -> None:
    assert kind_of(make_mail(sender="MAILER-DAEMON@mx.example", subject="hello", body="hi"))[
        :2
    ] == (MailKind.BOUNCE, Strength.WEAK)
    assert kind_of(make_mail(sender="noreply@shop.example"))[:2] == (MailKind.BULK, Strength.WEAK)
    assert kind_of(make_mail(headers=[("Return-Path", "<>")]))[:2] == (
        MailKind.AUTO_REPLY, Strength.WEAK,
    )  # fmt: skip
    assert kind_of(make_mail(subject="Undeliverable: your order", sender="bob@example.com"))[
        :2
    ] == (MailKind.BOUNCE, Strength.WEAK)


@pytest.mark.parametrize(
    "subject",
    ["Fwd: Undeliverable: your order", "Re: [Ticket#1] Delivery failed for my order",
     "AW: Mail delivery failed"],
)  # fmt: skip
def test_people_forwarding_or_answering_about_bounces_are_not_strong(subject: str) -> None:
    raw = make_mail(
        subject=subject, body="The delivery failed again, error 550, please help!",
        sender="Bob <bob@example.com>",
    )  # fmt: skip
    kind, strength, _ = kind_of(raw)
    assert kind is MailKind.HUMAN or strength is Strength.WEAK


def test_first_row_decides() -> None:
    # an auto-reply that is also bulk is an auto-reply (row order); own loop beats everything
    raw = make_mail(headers=[("Auto-Submitted", "auto-replied"), ("Precedence", "bulk")])
    assert kind_of(raw)[0] is MailKind.AUTO_REPLY
    mid = make_message_id(key=KEY, domain="desk.example", kind="n", ticket="1")
    raw = make_mail(message_id=mid, headers=[("Auto-Submitted", "auto-generated")])
    assert kind_of(raw)[0] is MailKind.OWN_LOOP


def test_evidence_names_the_header() -> None:
    verdict = classify(parse_mail(make_mail(headers=[("X-Autoreply", "yes")])))
    (evidence,) = verdict.evidence
    assert evidence.where == "header:X-Autoreply"
    assert evidence.value == "yes"
    assert "X-Autoreply" in verdict.explain()


def test_settings_accept_any_iterables() -> None:
    desk = ClassifySettings(
        keys=[KEY], own_domains={"desk.example"}, system_addresses=["support@desk.example"]
    )
    assert isinstance(desk.keys, tuple)
    assert isinstance(desk.own_domains, frozenset)
    assert kind_of(make_mail(sender="support@desk.example"), desk)[0] is MailKind.OWN_LOOP


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_classify_never_raises(raw: bytes) -> None:
    verdict = classify(parse_mail(raw), DESK)
    assert verdict.kind in set(MailKind)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "From: MAILER-DAEMON@x",
                'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
                "--b",
                "Content-Type: message/delivery-status",
                "Action: failed",
                "Final-Recipient: rfc822; a@b.c",
                "",
                "Auto-Submitted: auto-replied",
                "\r",
                "--b--",
                "Subject: Undeliverable",
                '{"notificationType":"Bounce"',
            ],
        ),
        max_size=30,
    )
)
def test_classify_never_raises_on_broken_reports(lines: list[str]) -> None:
    classify(parse_mail("\n".join(lines).encode()), DESK)


def test_docs_list_every_rule() -> None:
    from pathlib import Path

    docs = Path(__file__).parent.parent / "docs" / "bounces.md"
    text = docs.read_text(encoding="utf-8")
    for rule in RULES:
        assert f"| `{rule.name}` | `{rule.kind}` | {rule.strength} |" in text, rule.name
