"""``helpmail demo`` end to end: every sample mail ends up where the story says it should.

This doubles as an end-to-end test of the import pipeline on the embedded SQLite store: parsing,
classification, bounce parsing, ticket references (signed Message-IDs, In-Reply-To, subject tags),
the subject-tag policy, reply extraction, attachment policy, duplicates and own-mail loops.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import helpmail
from helpmail import demo
from helpmail.cli import main

#: file -> (outcome, ticket number, a phrase the summary line must contain)
EXPECTED: dict[str, tuple[str, str | None, str]] = {
    "01-en-new-login": ("created", "1", "ticket #1 created"),
    "02-de-new-printer": ("created", "2", "ticket #2 created"),
    "03-nl-new-invoice": ("created", "3", "ticket #3 created"),
    "04-en-new-screenshot": ("created", "4", "kept attachment screenshot.png (image/png)"),
    "05-en-followup-login": ("follow_up", "1", "follow-up on #1"),
    "06-en-new-html-only": ("created", "5", "ticket #5 created"),
    "07-de-followup-printer": ("follow_up", "2", "follow-up on #2"),
    "08-en-new-disguised-exe": ("created", "6", "refused attachment invoice.png"),
    "09-en-new-forwarded": ("created", "7", "ticket #7 created"),
    "10-nl-followup-invoice": ("follow_up", "3", "follow-up on #3"),
    "11-bounce-notification": ("bounce_attached", "4", "bounce attached to #4"),
    "12-en-out-of-office": ("follow_up", "5", "auto-reply filed on #5"),
    "13-bulk-newsletter": ("created", "8", "filed as automated mail (bulk): never answered"),
    "14-de-new-broken-charset": ("created", "9", "repaired while parsing"),
    "15-en-new-no-message-id": ("created", "10", "missing Message-ID"),
    "16-en-new-two-addresses-a": ("created", "11", "ticket #11 created"),
    "17-en-new-two-addresses-b": ("duplicate", "11", "duplicate"),
    "18-de-new-vpn-access": ("created", "12", "ticket #12 created"),
    "19-nl-new-password": ("created", "13", "ticket #13 created"),
    "20-en-followup-export": ("follow_up", "4", "follow-up on #4"),
    "21-en-followup-signed-id": ("follow_up", "10", "found by signed Message-ID"),
    "22-en-tag-from-stranger": ("created", "14", "is not on it"),
    "23-de-followup-bottom-post": ("follow_up", "12", "follow-up on #12"),
    "24-nl-followup-password": ("follow_up", "13", "follow-up on #13"),
    "25-own-notification-loop": ("dropped", None, "own mail"),
    "26-en-new-feature-request": ("created", "15", "ticket #15 created"),
    "27-nl-new-html-inline-image": ("created", "16", "kept attachment logo.png"),
    "28-de-followup-order": ("follow_up", "9", "found by subject tag"),
    # issue 7: the desk's own SpamAssassin scored it 7.4 (suspend at 5); the sender's own
    # "X-Spam-Status: No" below the trusted hops is ignored
    "29-spam-prize-trusted-spamassassin": ("suspended", None, "suspended: spam"),
    # [admission] blocklist: leadgen-blast.example with strength "reject"
    "30-blocked-sender-leadgen": ("dropped", None, "rejected (blocklist)"),
    # the delivery guard: Petra's mailbox is full (a soft bounce blocks her address for 3 h) ...
    "31-de-bounce-mailbox-full": ("bounce_attached", "12", "(mailbox_full)"),
    # ... so her next request gets no confirmation, with the guard's reason
    "32-de-new-from-full-mailbox": ("created", "17", "ticket #17 created"),
}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    directory = tmp_path_factory.mktemp("demo") / "run"
    out = _capture(["demo", "--dir", str(directory), "--json"])
    return directory, json.loads(out)


def _capture(argv: list[str]) -> str:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(argv)
    assert code == 0, buffer.getvalue()
    return buffer.getvalue()


def test_the_sample_mailbox_is_package_data_written_for_the_project() -> None:
    mails = demo.mails()
    assert len(mails) >= 25
    assert [name for name, _ in mails] == sorted(name for name, _ in mails)
    assert {name.removesuffix(".eml") for name, _ in mails} == set(EXPECTED)
    languages = {name.split("-")[1] for name, _ in mails}
    assert {"en", "de", "nl"} <= languages
    for _name, raw in mails:
        mail = helpmail.parse_mail(raw)
        assert mail.subject
        # every address in the sample is in a reserved example domain (RFC 2606) or ours
        for address in (*mail.from_, *mail.to):
            assert address.domain.endswith(".example"), address


def test_every_demo_mail_ends_up_where_the_story_says(
    demo_run: tuple[Path, dict[str, object]],
) -> None:
    _directory, result = demo_run
    messages = result["messages"]
    assert isinstance(messages, list)
    seen = {}
    for message in messages:
        stem = message["file"].removesuffix(".eml")
        seen[stem] = (message["outcome"], message["ticket"], message["summary"])
    assert list(seen) == list(EXPECTED)
    for stem, (outcome, ticket, phrase) in EXPECTED.items():
        got_outcome, got_ticket, summary = seen[stem]
        assert (got_outcome, got_ticket) == (outcome, ticket), (stem, summary)
        assert phrase in summary, (stem, summary)
    assert result["counts"] == {
        "created": 17,
        "follow_up": 9,
        "bounce_attached": 2,
        "duplicate": 1,
        "dropped": 2,
        "suspended": 1,
    }


def test_the_demo_database_holds_the_tickets(demo_run: tuple[Path, dict[str, object]]) -> None:
    from helpmail.adapters.sqlite import SqliteStore

    _directory, result = demo_run
    store = SqliteStore(Path(str(result["database"])), readonly=True)
    try:
        tickets = {ticket.number: ticket for ticket in store.tickets()}
        assert len(tickets) == 17
        assert tickets["1"].title == "Cannot log in after password reset"
        assert tickets["1"].status == "customer replied"  # follow_up_status of the demo config
        assert tickets["6"].status == "email imported"
        assert tickets["2"].title == "Drucker im 2. Stock druckt nicht mehr"
        login = store.messages_of(tickets["1"].id)
        follow_up = [m for m in login if m.kind.value == "follow_up"]
        assert len(follow_up) == 1
        assert "still fails" in follow_up[0].text
        assert "clear your browser cache" not in follow_up[0].text  # the quote is not the reply
        exe = store.messages_of(tickets["6"].id)
        assert all(not m.attachments for m in exe)  # the .exe named .png was refused
        screenshot = store.messages_of(tickets["4"].id)
        kept = [a for m in screenshot for a in m.attachments]
        assert [(a.filename, a.media_type) for a in kept] == [("screenshot.png", "image/png")]
        html_only = store.messages_of(tickets["5"].id)[0]
        assert "Dana Evans" in html_only.text
        assert "<b>" not in html_only.text
    finally:
        store.close()


def test_importing_the_demo_mailbox_again_imports_nothing_new(
    demo_run: tuple[Path, dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, _result = demo_run
    monkeypatch.setenv(demo.DEMO_KEY_VARIABLE, demo.DEMO_SIGNING_KEY)
    again = json.loads(
        _capture(["import", "demo", "--config", str(directory / "demo.toml"), "--json"])
    )
    assert again["counts"] == {"already_imported": len(EXPECTED)}


def test_the_readable_summary_names_every_mail(tmp_path: Path) -> None:
    out = _capture(["demo", "--dir", str(tmp_path / "text")])
    lines = out.splitlines()
    assert lines[0] == "helpmail demo: 32 sample mails imported into a fresh SQLite store"
    for stem, (_outcome, _ticket, phrase) in EXPECTED.items():
        line = next(line for line in lines if line.startswith(stem[:2] + "  "))
        assert phrase in line, line
    summary = "32 messages: 17 created, 9 follow up, 2 bounce attached, 1 duplicate, 2 dropped"
    assert summary + ", 1 suspended" in out
    assert f"database:  {tmp_path / 'text' / 'helpmail-demo.sqlite3'}" in out
    assert f"outbox:    {tmp_path / 'text' / 'outbox'}" in out
    # under its line, each mail shows the automatic mails it caused
    login = lines.index(next(line for line in lines if line.startswith("01  ")))
    assert "-> mail to alice.miller@customer.example: [Ticket#1] Ticket 1 - " in lines[login + 1]
    newsletter = lines.index(next(line for line in lines if line.startswith("13  ")))
    assert "x no mail: automated mail never triggers an automatic mail" in lines[newsletter + 1]


def test_the_demo_refuses_a_directory_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "something").write_text("x", encoding="utf-8")
    assert main(["demo", "--dir", str(tmp_path)]) == 2
    assert "is not empty" in capsys.readouterr().err


def _mails(result: dict[str, object]) -> dict[str, dict[str, list[dict[str, str]]]]:
    messages = result["messages"]
    assert isinstance(messages, list)
    return {m["file"].removesuffix(".eml"): m["mails"] for m in messages}


def test_the_demo_shows_the_mails_its_import_caused_in_an_outbox(
    demo_run: tuple[Path, dict[str, object]],
) -> None:
    from helpmail.adapters.outbox import MaildirOutbox

    directory, result = demo_run
    mails = _mails(result)
    sent = {stem: [(m["to"], m["subject"]) for m in found["sent"]] for stem, found in mails.items()}
    # a new ticket from a customer: the confirmation to the customer, the importer notice to the
    # ticket manager and the mail to the queue's own address
    assert sent["01-en-new-login"] == [
        (
            "alice.miller@customer.example",
            "[Ticket#1] Ticket 1 - Cannot log in after password reset is registered",
        ),
        (
            "dana@acme.example",
            "[Ticket#1] Ticket 1 - Cannot log in after password reset added via the importer",
        ),
        ("first-level@acme.example", "[Ticket#1] New ticket: Cannot log in after password reset"),
    ]
    # a follow-up by mail: the assignee hears of it
    assert [to for to, _ in sent["05-en-followup-login"]] == ["sam@acme.example"]
    # the outbox is a Maildir holding exactly these mails
    assert result["outbox"] == str(directory / "outbox")
    files = list(MaildirOutbox(directory / "outbox").messages())
    assert len(files) == result["mails_sent"] == sum(len(v) for v in sent.values())


def test_german_and_dutch_customers_get_german_and_dutch_mail(
    demo_run: tuple[Path, dict[str, object]],
) -> None:
    """The ticket's language comes from the mail's Content-Language (RFC 3282)."""
    mails = _mails(demo_run[1])

    def to_customer(stem: str) -> str:
        subjects = [m["subject"] for m in mails[stem]["sent"] if "acme.example" not in m["to"]]
        assert len(subjects) == 1, mails[stem]
        return subjects[0]

    assert to_customer("02-de-new-printer").endswith(" ist registriert")
    assert to_customer("18-de-new-vpn-access").endswith(" ist registriert")
    assert to_customer("03-nl-new-invoice").endswith(" is geregistreerd")
    assert to_customer("19-nl-new-password").endswith(" is geregistreerd")
    # no Content-Language: the desk's language ([desk] language, "en")
    assert to_customer("14-de-new-broken-charset").endswith(" is registered")


@pytest.mark.parametrize(
    "stem",
    [
        "11-bounce-notification",
        "12-en-out-of-office",
        "13-bulk-newsletter",
        "17-en-new-two-addresses-b",
        "25-own-notification-loop",
        "29-spam-prize-trusted-spamassassin",
        "30-blocked-sender-leadgen",
    ],
)
def test_automated_duplicate_suspended_and_rejected_mail_cause_no_mail(
    demo_run: tuple[Path, dict[str, object]], stem: str
) -> None:
    found = _mails(demo_run[1])[stem]
    assert found["sent"] == []


def test_an_address_the_guard_holds_gets_no_mail_and_the_reason_is_shown(
    demo_run: tuple[Path, dict[str, object]],
) -> None:
    found = _mails(demo_run[1])["32-de-new-from-full-mailbox"]
    assert "petra.schulz@kunde.example" not in [m["to"] for m in found["sent"]]
    assert [m["to"] for m in found["sent"]] == ["dana@acme.example", "first-level@acme.example"]
    (held,) = found["suppressed"]
    assert held["who"] == "petra.schulz@kunde.example (import_customer)"
    assert held["why"].startswith(
        "held by the delivery guard (address blocked: mailbox_full) until"
    )


def test_automated_mail_says_why_nobody_got_a_mail(
    demo_run: tuple[Path, dict[str, object]],
) -> None:
    mails = _mails(demo_run[1])
    for stem in ("12-en-out-of-office", "13-bulk-newsletter"):
        assert mails[stem]["suppressed"] == [
            {"who": "", "why": "automated mail never triggers an automatic mail"}
        ]
    assert mails["11-bounce-notification"]["suppressed"] == [
        {"who": "", "why": "nobody is notified of bounce attached"}
    ]


def test_the_suspended_spam_mail_waits_in_the_suspended_queue(
    demo_run: tuple[Path, dict[str, object]],
) -> None:
    from helpmail.adapters.sqlite_suspended import SqliteSuspendedQueue

    queue = SqliteSuspendedQueue(Path(str(demo_run[1]["database"])))
    try:
        entries = queue.entries()
        assert [e.suspension.sender for e in entries] == ["winner@promo-blast.example"]
    finally:
        queue.close()
