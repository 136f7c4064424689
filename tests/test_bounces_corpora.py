"""The bounce corpora: every labelled mail, classified and parsed, against its label.

The corpora live in ``tests/data/bounces/<corpus>/`` with their licences and manifests (Sisimai's
set-of-emails, BSD-2; flufl.bounce's test data, Apache-2.0; bounce_email via bounced, MIT). The
even-numbered Sisimai samples are held out and not here: the rules are tuned for kinds of mail,
never for one file.

Misses are listed explicitly below, each with its reason, as strict ``xfail``: a listed file that
starts to pass fails the run, so the lists only ever shrink. Recurring reasons:

* ``LOCAL_VERDICT`` -- "user unknown" in a report that quotes no SMTP reply, no status and no
  command (a mail system's own verdict). helpmail believes it (as Sisimai's per-MTA modules do
  for Exchange, Domino, IMail, Notes, Verizon in this corpus); for the unknown MTAs "X1"/"X2"
  Sisimai's generic rule says "filtered".
* ``STATUS_CLASS`` -- a temporary failure or delay without telling text: helpmail reads the
  status class (``transient``), Sisimai decides from its MTA module.
* ``SISIMAI_DISAGREES`` -- the mail itself contradicts the label (see each entry).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from helpmail import InboundMail, parse_mail
from helpmail.bounces import (
    SISIMAI_REASONS,
    Bounce,
    BouncedRecipient,
    BounceReason,
    Classification,
    MailKind,
    Strength,
    classify,
)
from helpmail.bounces.parse import parse_bounce_unguarded

DATA = Path(__file__).parent / "data" / "bounces"
REPLIES = Path(__file__).parent / "data" / "replies"

GOOGLE_GROUP = (
    "X-Failed-Recipients names a Google group, the original's To another address; Sisimai takes "
    "the To, helpmail the header (a failed address outside To/Cc is as often a Bcc recipient or a "
    "list member, and blocking the To would be wrong)"
)
LOCAL_VERDICT = (
    "Sisimai's 'filtered' for an unknown MTA's 'user unknown' without reply, status or command; "
    "helpmail reads a mail system's own verdict as user_unknown"
)
STATUS_CLASS = "a temporary failure without telling text: helpmail reads the status class"

EXPECTED_KIND = {
    "bounce": MailKind.BOUNCE,
    "auto-reply": MailKind.AUTO_REPLY,
    "feedback-report": MailKind.COMPLAINT,
    "delivery-success": MailKind.DELIVERY_REPORT,
    "human": MailKind.HUMAN,
}

#: Labels we disagree with (the file is checked for *our* reading, with the reason).
DISPUTED = {
    "sisimai-dev/maildir/not/rb-issue-368-bug.eml": (
        "labelled not-bounce after Sisimai issue 368, but it is a real bounce: From postmaster, "
        "Auto-Submitted, 'reject reason: Mailbox full', 'target mail address: ...'"
    ),
}

KNOWN_KIND_MISSES = {
    "sisimai-dev/maildir/bsd/lhost-fml-03.eml": "bounce classified bulk",
    "sisimai-dev/maildir/bsd/lhost-kddi-03.eml": "bounce classified auto_reply",
    "sisimai-dev/maildir/err/make-test-36.eml": "bounce classified human",
    "flufl-bounce/simple_20.txt": "bounce classified human",
    "flufl-bounce/simple_38.txt": "bounce classified delivery_report",
}
KNOWN_RECIPIENT_MISSES = {
    "sisimai-dev/maildir/bsd/lhost-apachejames-01.eml": (
        "SISIMAI_DISAGREES: the label has 11 zeros, the mail says 000000000000@vtext.example.com"
    ),
    "sisimai-dev/maildir/bsd/lhost-fml-03.eml": "want neko@example.co.jp, got nothing",
    "sisimai-dev/maildir/bsd/lhost-googleworkspace-01.eml": GOOGLE_GROUP,
    "sisimai-dev/maildir/bsd/lhost-kddi-03.eml": "want kijitora@00000000000000.dion.ne.jp",
    "sisimai-dev/maildir/dos/lhost-apachejames-01.eml": (
        "SISIMAI_DISAGREES: the label has 11 zeros, the mail says 000000000000@vtext.example.com"
    ),
    "sisimai-dev/maildir/dos/lhost-googleworkspace-01.eml": GOOGLE_GROUP,
    "sisimai-dev/maildir/err/make-test-36.eml": (
        "want non-existent-user-address-of-ntt-docomo@docomo.ne.jp"
    ),
    "sisimai-dev/maildir/mac/lhost-apachejames-01.eml": (
        "SISIMAI_DISAGREES: the label has 11 zeros, the mail says 000000000000@vtext.example.com"
    ),
    "sisimai-dev/maildir/mac/lhost-googleworkspace-01.eml": GOOGLE_GROUP,
    "flufl-bounce/aol_01.txt": "want screenname@aol.com, got ['xxx@lists.xxx.com']",
    "flufl-bounce/simple_20.txt": "want userx@example.com, got nothing",
    "flufl-bounce/yale_01.txt": "want userx@cs.yale.edu, got ['name@cs.yale.edu']",
}
KNOWN_REASON_MISSES = {
    "sisimai-dev/maildir/bsd/lhost-dragonfly-17.eml": (
        "Sisimai: unknown; helpmail: rejected_policy (status 5.0.0)"
    ),
    "sisimai-dev/maildir/bsd/lhost-office365-13.eml": (
        "SISIMAI_DISAGREES: '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found' is "
        "user_unknown; Sisimai says undefined"
    ),
    "sisimai-dev/maildir/bsd/lhost-postfix-07.eml": (
        "Sisimai: filtered (Postfix did not say the command); helpmail: user_unknown, the reply "
        "'550 <address>: User unknown' repeats the recipient as replies to RCPT TO do"
    ),
    "sisimai-dev/maildir/bsd/lhost-postfix-49.eml": STATUS_CLASS,
    "sisimai-dev/maildir/bsd/lhost-receivingses-03.eml": STATUS_CLASS,
    "sisimai-dev/maildir/bsd/lhost-sendmail-21.eml": STATUS_CLASS,
    "sisimai-dev/maildir/bsd/lhost-sendmail-27.eml": (
        "SISIMAI_DISAGREES: '>>> DATA / <<< 550 ... User unknown / <<< 503 Need RCPT': the 503 "
        "to DATA proves the 550 answered a pipelined RCPT TO (RFC 2920); Sisimai reads DATA"
    ),
    "sisimai-dev/maildir/bsd/lhost-trendmicro-03.eml": (
        "Sisimai: user_unknown; helpmail: rejected_policy (status None)"
    ),
    "sisimai-dev/maildir/bsd/lhost-v5sendmail-05.eml": (
        "Sisimai: rejected_policy; helpmail: transient (status None)"
    ),
    "sisimai-dev/maildir/bsd/lhost-x1-01.eml": LOCAL_VERDICT,
    "sisimai-dev/maildir/bsd/lhost-x2-01.eml": LOCAL_VERDICT,
    "sisimai-dev/maildir/bsd/rfc3464-43.eml": STATUS_CLASS,
    "sisimai-dev/maildir/bsd/rhost-messagelabs-03.eml": (
        "Sisimai: user_unknown; helpmail: rejected_policy (status 5.0.0)"
    ),
    "sisimai-dev/maildir/bsd/rhost-spectrum-01.eml": (
        "Sisimai: transient; helpmail: rejected_policy (status 5.1.0)"
    ),
    "sisimai-dev/maildir/dos/lhost-x1-01.eml": LOCAL_VERDICT,
    "sisimai-dev/maildir/dos/lhost-x2-01.eml": LOCAL_VERDICT,
    "sisimai-dev/maildir/dos/rhost-cloudflare-01.eml": STATUS_CLASS,
    "sisimai-dev/maildir/dos/rhost-spectrum-01.eml": (
        "Sisimai: transient; helpmail: rejected_policy (status 5.1.0)"
    ),
    "sisimai-dev/maildir/err/make-test-03.eml": (
        "Sisimai: mailbox_full; helpmail: too_big (status 5.2.2)"
    ),
    "sisimai-dev/maildir/err/make-test-22.eml": (
        "SISIMAI_DISAGREES: Yahoo's '554 delivery error: dd This user doesn't have a yahoo.com "
        "account', its wording for a nonexistent account; Sisimai labels the same reply "
        "userunknown in lhost-sendmail-41 and rhost-yahooinc-03 and filtered here (silver)"
    ),
    "sisimai-dev/maildir/mac/lhost-x1-01.eml": LOCAL_VERDICT,
    "sisimai-dev/maildir/mac/lhost-x2-01.eml": LOCAL_VERDICT,
    "sisimai-dev/maildir/mac/rhost-cloudflare-01.eml": STATUS_CLASS,
    "sisimai-dev/maildir/mac/rhost-spectrum-01.eml": (
        "Sisimai: transient; helpmail: rejected_policy (status 5.1.0)"
    ),
}


@attrs.frozen(kw_only=True)
class Sample:
    key: str
    path: Path
    kind: str
    recipients: tuple[str, ...] = ()
    rows: tuple[tuple[str, BounceReason, bool], ...] = ()


def _sisimai() -> Iterator[Sample]:
    base = DATA / "sisimai-dev"
    for name, label in sorted(json.loads((base / "labels.json").read_text())["files"].items()):
        kind = {"not-bounce": "human"}.get(label["kind"], label["kind"])
        rows = tuple(
            (r["recipient"], SISIMAI_REASONS[r["reason"]], bool(r["hardbounce"]))
            for r in label["recipients"]
            if r.get("recipient") and r.get("reason") in SISIMAI_REASONS
        )
        yield Sample(
            key=f"sisimai-dev/{name}",
            path=base / name,
            kind=kind,
            rows=rows,
            recipients=tuple(r[0] for r in rows) if kind == "bounce" else (),
        )


def _flufl() -> Iterator[Sample]:
    base = DATA / "flufl-bounce"
    for name, label in sorted(json.loads((base / "labels.json").read_text())["files"].items()):
        recipients = tuple(label.get("recipients") or ())
        kind = "bounce" if label.get("labelled", True) and recipients else "unknown"
        yield Sample(
            key=f"flufl-bounce/{name}", path=base / "data" / name, kind=kind, recipients=recipients
        )


def _bounce_email() -> Iterator[Sample]:
    base = DATA / "bounce_email-via-bounced"
    for name, label in sorted(json.loads((base / "labels.json").read_text())["files"].items()):
        kind = {"not-bounce": "human"}.get(label["kind"], label["kind"])
        yield Sample(
            key=f"bounce_email-via-bounced/{name}",
            path=base / name,
            kind=kind,
            recipients=tuple(label.get("recipients") or ()),
        )


SAMPLES = [*_sisimai(), *_flufl(), *_bounce_email()]
CORPORA = ("sisimai-dev", "flufl-bounce", "bounce_email-via-bounced")


@functools.cache
def _read(key: str) -> tuple[InboundMail, Classification, Bounce | None]:
    sample = next(s for s in SAMPLES if s.key == key)
    mail = parse_mail(sample.path.read_bytes())
    return mail, classify(mail), parse_bounce_unguarded(mail)


def _found(bounce: Bounce | None) -> dict[str, BouncedRecipient]:
    found: dict[str, BouncedRecipient] = {}
    for r in bounce.recipients if bounce else ():
        found[r.address.lower()] = r
        if r.original_recipient:
            found.setdefault(r.original_recipient.lower(), r)
    return found


def _params(selected: list[Sample], known: dict[str, str]) -> list[object]:
    return [
        pytest.param(
            s,
            id=s.key,
            marks=[pytest.mark.xfail(reason=known[s.key], strict=True)] if s.key in known else [],
        )
        for s in selected
    ]


def test_corpora_are_complete() -> None:
    for corpus in CORPORA:
        assert (DATA / corpus / "MANIFEST.md").is_file()
        assert any(p.name.startswith("LICENSE") for p in (DATA / corpus).iterdir())
    assert len(SAMPLES) == 533 + 117 + 45
    listed = {*KNOWN_KIND_MISSES, *KNOWN_RECIPIENT_MISSES, *KNOWN_REASON_MISSES, *DISPUTED}
    assert listed <= {s.key for s in SAMPLES}


@pytest.mark.parametrize(
    "sample",
    _params(
        [s for s in SAMPLES if s.kind in EXPECTED_KIND and s.key not in DISPUTED], KNOWN_KIND_MISSES
    ),
)
def test_kind(sample: Sample) -> None:
    _, verdict, _ = _read(sample.key)
    assert verdict.kind is EXPECTED_KIND[sample.kind], verdict.explain()


@pytest.mark.parametrize(
    "sample", _params([s for s in SAMPLES if s.recipients], KNOWN_RECIPIENT_MISSES)
)
def test_recipient(sample: Sample) -> None:
    _, _, bounce = _read(sample.key)
    assert {r.lower() for r in sample.recipients} & set(_found(bounce))


@pytest.mark.parametrize("sample", _params([s for s in SAMPLES if s.rows], KNOWN_REASON_MISSES))
def test_reason_and_hard(sample: Sample) -> None:
    _, _, bounce = _read(sample.key)
    found = _found(bounce)
    for address, reason, hard in sample.rows:
        got = found.get(address.lower())
        if got is None:
            continue  # a missing recipient is test_recipient's business
        assert (got.cause or got.reason, got.hard) == (reason, hard), (address, got)


def test_every_address_is_valid_and_nothing_raises() -> None:
    from helpmail.bounces import valid_addr_spec

    for sample in SAMPLES:
        _, _, bounce = _read(sample.key)  # parse_bounce_unguarded: a bug would raise here
        for recipient in bounce.recipients if bounce else ():
            assert valid_addr_spec(recipient.address) == recipient.address, sample.key
            assert "{" not in recipient.address, sample.key
            assert '"' not in recipient.address, sample.key


def test_disputed_labels_read_our_way() -> None:
    _, verdict, bounce = _read("sisimai-dev/maildir/not/rb-issue-368-bug.eml")
    assert verdict.kind is MailKind.BOUNCE
    assert bounce is not None
    assert [(r.address, r.reason) for r in bounce.recipients] == [
        ("xxxx@yyyyyy.net", BounceReason.MAILBOX_FULL)
    ]


#: The issue's aims, per corpus; ``None`` where the aim is not met yet (see the known misses):
#: the floor asserted there is the level reached, so it cannot silently fall.
AIMS = {
    # corpus: (recipients, reasons, hard/soft)
    "sisimai-dev": (0.98, 0.93, 0.955),
    "flufl-bounce": (0.95, None, None),
    "bounce_email-via-bounced": (0.95, None, None),
}


@pytest.mark.parametrize("corpus", CORPORA)
def test_aims(corpus: str) -> None:
    want_rcpt, want_reason, want_hard = AIMS[corpus]
    selected = [s for s in SAMPLES if s.key.startswith(corpus + "/")]
    with_recipients = [s for s in selected if s.recipients]
    hits = sum(
        bool({r.lower() for r in s.recipients} & set(_found(_read(s.key)[2])))
        for s in with_recipients
    )
    assert hits / len(with_recipients) >= want_rcpt
    rows = agree = hard_agree = 0
    for s in selected:
        found = _found(_read(s.key)[2])
        for address, reason, hard in s.rows:
            rows += 1
            got = found.get(address.lower())
            if got is None:
                continue
            agree += (got.cause or got.reason) is reason
            hard_agree += got.hard == hard
    if want_reason is not None:
        assert agree / rows >= want_reason
    if want_hard is not None:
        assert hard_agree / rows >= want_hard


def _human_mails() -> Iterator[tuple[str, bytes]]:
    for sample in SAMPLES:
        if sample.kind == "human" and sample.key not in DISPUTED:
            yield sample.key, sample.path.read_bytes()
    if not REPLIES.is_dir():
        return
    for index, path in enumerate(sorted(p for p in REPLIES.rglob("*") if p.is_file())):
        if path.suffix in (".json", ".md") or path.name.startswith(("LICENSE", "MANIFEST")):
            continue
        data = path.read_bytes()
        if path.suffix != ".eml":
            kind = "html" if path.suffix in (".html", ".htm") else "plain"
            data = (
                f"From: Customer <customer{index}@example.com>\r\nTo: support@example.org\r\n"
                f"Subject: Re: [Ticket#{index}] My order\r\nMessage-ID: <r{index}@example.com>\r\n"
                f"MIME-Version: 1.0\r\nContent-Type: text/{kind}; charset=utf-8\r\n\r\n"
            ).encode() + data
        yield str(path.relative_to(REPLIES)), data


HUMANS = list(_human_mails())


def test_human_mails_are_never_automated_by_strong_evidence() -> None:
    assert len(HUMANS) > 100
    for name, raw in HUMANS:
        mail = parse_mail(raw)
        verdict = classify(mail)
        assert not (verdict.automated and verdict.strength is Strength.STRONG), (name, verdict)
        assert parse_bounce_unguarded(mail) is None, name
