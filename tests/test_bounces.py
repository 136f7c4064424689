"""parse_bounce and the reason tables, with hand-made bounces in each format and for each reason."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpmail import parse_mail
from helpmail.bounces import (
    REASONS,
    SISIMAI_REASONS,
    Bounce,
    BounceKind,
    BounceReason,
    SmtpCommand,
    classify,
    decide_reason,
    parse_bounce,
    valid_addr_spec,
)
from helpmail.bounces.parse import parse_bounce_unguarded
from helpmail.bounces.reasons import normalise_status, smtp_command
from helpmail.guard import DeliveryGuard

R = BounceReason
ORIGINAL = (
    "From: Support <support@desk.example>\n"
    "To: bob@example.com\n"
    "Subject: [Ticket#42] Your question\n"
    "Message-ID: <hm.n.42.abc.n1.sig@desk.example>\n"
    "\n"
    "Hello Bob\n"
)


def mail(text: str) -> Bounce:
    bounce = parse_bounce_unguarded(parse_mail(text.replace("\n", "\r\n").encode()))
    assert bounce is not None
    return bounce


def one(text: str) -> tuple[str, BounceReason, bool, str | None]:
    bounce = mail(text)
    (recipient,) = bounce.recipients
    return recipient.address, recipient.reason, recipient.hard, recipient.status


# --- the formats ----------------------------------------------------------------------------

POSTFIX = (
    "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
    "To: support@desk.example\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "\n"
    "This is the mail system at host mx.example.net.\n\n"
    "I'm sorry to have to inform you that your message could not\n"
    "be delivered to one or more recipients. It's attached below.\n\n"
    "                   The mail system\n\n"
    "<bob@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1\n"
    "    <bob@example.com>: Recipient address rejected: User unknown in virtual\n"
    "    mailbox table (in reply to RCPT TO command)\n\n"
    "--- Below this line is a copy of the message.\n\n" + ORIGINAL
)

EXIM = (
    "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\n"
    "To: support@desk.example\n"
    "Subject: Mail delivery failed: returning message to sender\n"
    "X-Failed-Recipients: bob@example.com\n"
    "Auto-Submitted: auto-replied\n"
    "\n"
    "This message was created automatically by mail delivery software.\n\n"
    "A message that you sent could not be delivered to one or more of its\n"
    "recipients. This is a permanent error. The following address(es) failed:\n\n"
    "  bob@example.com\n"
    "    host mx.example.com [192.0.2.1]\n"
    "    SMTP error from remote mail server after RCPT TO:<bob@example.com>:\n"
    "    552 5.2.2 Mailbox full\n\n"
    "------ This is a copy of the message, including all the headers. ------\n\n" + ORIGINAL
)

QMAIL = (
    "From: MAILER-DAEMON@mx.example.net\n"
    "To: support@desk.example\n"
    "Subject: failure notice\n"
    "\n"
    "Hi. This is the qmail-send program at mx.example.net.\n"
    "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
    "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
    "<bob@example.com>:\n"
    "Sorry, no mailbox here by that name. (#5.1.1)\n\n"
    "--- Below this line is a copy of the message.\n\n" + ORIGINAL
)

SENDMAIL = (
    "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>\n"
    "To: support@desk.example\n"
    "Subject: Returned mail: see transcript for details\n"
    "\n"
    "The original message was received at Mon, 5 Jan 2026 09:00:00 +0100\n"
    "from localhost [127.0.0.1]\n\n"
    "   ----- The following addresses had permanent fatal errors -----\n"
    "<bob@example.com>\n"
    "    (reason: 550 5.7.1 Message rejected as spam by Content Filtering)\n\n"
    "   ----- Transcript of session follows -----\n"
    "... while talking to mx.example.com.:\n"
    ">>> DATA\n"
    "<<< 550 5.7.1 Message rejected as spam by Content Filtering\n"
    "554 5.0.0 Service unavailable\n\n"
    "   ----- Original message follows -----\n\n" + ORIGINAL
)

EXCHANGE_2003 = (
    "From: System Administrator <postmaster@example.com>\n"
    "To: support@desk.example\n"
    "Subject: Undeliverable: [Ticket#42] Your question\n"
    "\n"
    "Your message\n\n"
    "  To:      bob@example.com\n"
    "  Subject: [Ticket#42] Your question\n\n"
    "did not reach the following recipient(s):\n\n"
    "bob@example.com on 1/5/2026 9:00 AM\n"
    "    The e-mail account does not exist at the organization this message was sent to.\n"
    "    <mx.example.com #5.1.1>\n"
)

OFFICE_365 = (
    "From: Microsoft Outlook <postmaster@example.onmicrosoft.com>\n"
    "To: support@desk.example\n"
    "Subject: Undeliverable: [Ticket#42] Your question\n"
    "\n"
    "Delivery has failed to these recipients or groups:\n\n"
    "bob@example.com\n"
    "The recipient's mailbox is full and can't accept messages now.\n\n"
    "Diagnostic information for administrators:\n\n"
    "Remote Server returned '554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceeded'\n"
)

GMAIL = (
    "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
    "To: support@desk.example\n"
    "Subject: Delivery Status Notification (Failure)\n"
    "\n"
    "Delivery to the following recipient failed permanently:\n\n"
    "     bob@example.com\n\n"
    "Technical details of permanent failure:\n"
    "The email account that you tried to reach is disabled.\n\n"
    "----- Original message -----\n\n" + ORIGINAL
)

YAHOO = (
    "From: MAILER-DAEMON@yahoo.com\n"
    "To: support@desk.example\n"
    "Subject: Failure Notice\n"
    "\n"
    "Sorry, we were unable to deliver your message to the following address.\n\n"
    "<bob@example.com>:\n"
    "Remote host said: 554 delivery error: dd This user doesn't have a yahoo.com account\n\n"
    "--- Below this line is a copy of the message.\n\n" + ORIGINAL
)

OPENSMTPD = (
    "From: Mailer Daemon <MAILER-DAEMON@mx.example.net>\n"
    "To: support@desk.example\n"
    "Subject: Delivery status notification: error\n"
    "\n"
    "    Hi!\n\n"
    "    This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.\n\n"
    "    An error has occurred while attempting to deliver a message for\n"
    "    the following list of recipients:\n\n"
    "bob@example.com: 550 5.7.1 Relaying denied\n\n"
    "    Below is a copy of the original message:\n\n" + ORIGINAL
)

DRAGONFLY = (
    "From: MAILER-DAEMON <>\n"
    "To: support@desk.example\n"
    "Subject: Mail delivery failed\n"
    "\n"
    "This is the DragonFly Mail Agent v0.13 at mx.example.net.\n\n"
    "There was an error delivering your mail to <bob@example.com>.\n\n"
    "mx.example.com [192.0.2.1] did not like our final DATA:\n"
    "550 5.7.26 Unauthenticated email from desk.example is not accepted due to domain's\n"
    "DMARC policy.\n\n"
    "Message headers follow.\n\n" + ORIGINAL
)


@pytest.mark.parametrize(
    ("text", "reason", "hard", "status"),
    [
        pytest.param(POSTFIX, R.USER_UNKNOWN, True, "5.1.1", id="postfix"),
        pytest.param(EXIM, R.MAILBOX_FULL, False, "5.2.2", id="exim"),
        pytest.param(QMAIL, R.USER_UNKNOWN, True, "5.1.1", id="qmail"),
        pytest.param(SENDMAIL, R.REJECTED_POLICY, False, "5.7.1", id="sendmail"),
        pytest.param(EXCHANGE_2003, R.USER_UNKNOWN, True, "5.1.1", id="exchange-2003"),
        pytest.param(OFFICE_365, R.MAILBOX_FULL, False, "5.2.2", id="office-365"),
        pytest.param(GMAIL, R.ACCOUNT_DISABLED, False, None, id="gmail"),
        pytest.param(YAHOO, R.USER_UNKNOWN, True, None, id="yahoo"),
        pytest.param(OPENSMTPD, R.RELAY_DENIED, False, "5.7.1", id="opensmtpd"),
        pytest.param(DRAGONFLY, R.REJECTED_POLICY, False, "5.7.26", id="dragonfly"),
    ],
)
def test_mta_text_formats(text: str, reason: BounceReason, hard: bool, status: str | None) -> None:
    assert one(text) == ("bob@example.com", reason, hard, status)
    assert classify(parse_mail(text.encode())).kind == "bounce"


SENDMAIL_V5 = (
    "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.desk.example>\n"
    "To: support@desk.example\n"
    "Subject: Returned mail: User unknown\n"
    "\n"
    "   ----- Transcript of session follows -----\n"
    "554 <bob@example.edu>... Remote protocol error: Connection reset by peer\n"
    "550 example.or.jp (smtp)... 550 Host unknown\n"
    "554 <carol@example.or.jp>... 550 Host unknown (Authoritative answer from name server)\n"
    "421 example.org (smtp)... Deferred: Connection timed out\n"
    "550 <dave@example.org>... User unknown\n"
    "   ----- Unsent message follows -----\n" + ORIGINAL
)


def test_sendmail_lines_with_reply_codes_end_each_recipients_diagnostic() -> None:
    """A recipient's diagnostic stops at the next "554 <user@host>..." or host line: Sendmail's
    "Host unknown" for one domain is not the reason of the recipient above it."""
    found = {r.address: (r.reason, r.hard) for r in mail(SENDMAIL_V5).recipients}
    assert found == {
        "bob@example.edu": (R.TRANSIENT, False),
        "carol@example.or.jp": (R.DOMAIN_UNKNOWN, True),
        "dave@example.org": (R.USER_UNKNOWN, True),
    }


def test_original_message_id_from_a_text_bounce() -> None:
    bounce = mail(POSTFIX)
    assert bounce.original_message_id == "hm.n.42.abc.n1.sig@desk.example"
    assert bounce.original_subject == "[Ticket#42] Your question"
    assert bounce.format == "postfix"


# --- RFC 3464 ---------------------------------------------------------------------------------


def dsn(
    recipients: str,
    *,
    returned: str = "text/rfc822-headers",
    part: str = "message/delivery-status",
    headers: str = "",
) -> str:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n"
        "To: support@desk.example\n"
        "Subject: Delivery Status Notification\n"
        f"{headers}"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        f"--b\nContent-Type: {part}\n\n"
        "Reporting-MTA: dns; mx.example.net\n"
        "Arrival-Date: Mon, 5 Jan 2026 09:00:00 +0000\n\n"
        f"{recipients}\n"
        f"--b\nContent-Type: {returned}\n\n{ORIGINAL}\n--b--\n"
    )


def test_rfc3464_several_recipients() -> None:
    bounce = mail(
        dsn(
            "Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.1.1\n"
            "Remote-MTA: dns; mx.example.com\n"
            "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: Recipient address rejected:\n"
            " User unknown in local recipient table\n\n"
            "Final-Recipient: rfc822; carol@example.com\nAction: failed\nStatus: 5.2.2\n"
            "Diagnostic-Code: smtp; 552 5.2.2 Over quota\n"
        )
    )
    assert bounce.kind is BounceKind.FAILURE
    assert bounce.original_message_id == "hm.n.42.abc.n1.sig@desk.example"
    assert bounce.reporting_mta == "mx.example.net"
    bob, carol = bounce.recipients
    assert (bob.address, bob.reason, bob.hard, bob.status, bob.reply_code) == (
        "bob@example.com", R.USER_UNKNOWN, True, "5.1.1", "550",
    )  # fmt: skip
    assert bob.diagnostic is not None
    assert "User unknown in local recipient table" in bob.diagnostic
    assert bob.remote_mta == "mx.example.com"
    assert bob.action == "failed"
    assert (carol.reason, carol.hard) == (R.MAILBOX_FULL, False)
    assert bounce.hard


def test_a_bounce_wrapped_by_a_gateway_is_read_from_the_inner_report() -> None:
    """A relay that bounces a bounce returns the DSN as its "original": the recipients are the
    inner report's, never the wrapped DSN's own To (our sender)."""
    inner = dsn(
        "Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.1.1\n",
        returned="message/rfc822",
    )
    outer = (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@gw.example.net>\n"
        "To: support@desk.example\n"
        "Subject: Returned mail: see transcript for details\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="outer"\n\n'
        "--outer\nContent-Type: text/plain\n\n"
        "----- The following addresses had permanent delivery errors -----\n\n"
        f"--outer\nContent-Type: message/rfc822\n\n{inner}\n--outer--\n"
    )
    bounce = mail(outer)
    assert [(r.address, r.reason, r.hard) for r in bounce.recipients] == [
        ("bob@example.com", R.USER_UNKNOWN, True)
    ]
    assert bounce.format == "wrapped-rfc3464"
    assert bounce.original_message_id == "hm.n.42.abc.n1.sig@desk.example"


def test_rfc3464_returned_message_rfc822_and_reply_fallback() -> None:
    text = dsn(
        "Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.1.1\n",
        returned="message/rfc822",
    )
    assert mail(text).original_message_id == "hm.n.42.abc.n1.sig@desk.example"
    without = text.replace("Message-ID: <hm.n.42.abc.n1.sig@desk.example>\n", "")
    with_reply = without.replace("MIME-Version", "In-Reply-To: <orig-1@desk.example>\nMIME-Version")
    assert mail(with_reply).original_message_id == "orig-1@desk.example"


def test_rfc6533_global_dsn_with_utf8_address() -> None:
    bounce = mail(
        dsn(
            "Final-Recipient: utf-8; jörg@bücher.example\nAction: failed\nStatus: 5.1.1\n",
            part="message/global-delivery-status",
        )
    )
    assert bounce.recipients[0].address == "jörg@bücher.example"


@pytest.mark.parametrize("action", ["failure", "bounced", "expired", "Failed", "failed (bad)"])
def test_non_standard_actions(action: str) -> None:
    bounce = mail(
        dsn(f"Final-Recipient: rfc822; bob@example.com\nAction: {action}\nStatus: 5.0.0\n")
    )
    assert bounce.recipients[0].action == "failed"


def test_success_dsn_is_not_a_bounce() -> None:
    text = dsn("Final-Recipient: rfc822; bob@example.com\nAction: delivered\nStatus: 2.0.0\n")
    assert parse_bounce(parse_mail(text.encode())) is None
    assert classify(parse_mail(text.encode())).kind == "delivery_report"


def test_delay_warning_has_a_cause_and_never_blocks() -> None:
    bounce = mail(
        dsn(
            "Final-Recipient: rfc822; bob@example.com\nAction: delayed\nStatus: 4.2.2\n"
            "Diagnostic-Code: smtp; 452 4.2.2 Mailbox full\n"
            "Will-Retry-Until: Wed, 7 Jan 2026 09:00:00 +0000\n"
        )
    )
    assert bounce.kind is BounceKind.DELAY
    (recipient,) = bounce.recipients
    assert (recipient.reason, recipient.cause, recipient.hard) == (
        R.DELAYED, R.MAILBOX_FULL, False,
    )  # fmt: skip
    guard = DeliveryGuard()
    assert guard.record_bounce(bounce, dt.datetime(2026, 1, 5, tzinfo=dt.UTC)) == ()


def test_original_recipient_is_what_the_guard_blocks() -> None:
    bounce = mail(
        dsn(
            "Original-Recipient: rfc822; bob@example.com\n"
            "Final-Recipient: rfc822; bob.smith@mailhost.example.com\nAction: failed\n"
            "Status: 5.1.1\n"
        )
    )
    (recipient,) = bounce.recipients
    assert recipient.address == "bob.smith@mailhost.example.com"
    assert recipient.original_recipient == "bob@example.com"
    guard = DeliveryGuard()
    now = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    guard.record_bounce(bounce, now)
    assert not guard.check("bob@example.com", "42", now)


def test_generic_status_yields_to_the_diagnostic() -> None:
    bounce = mail(
        dsn(
            "Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.0.0\n"
            "Diagnostic-Code: smtp; 550 #5.1.0 Address rejected.\n"
        )
    )
    assert (bounce.recipients[0].status, bounce.recipients[0].reason) == ("5.1.0", R.USER_UNKNOWN)


def test_x_failed_recipients() -> None:
    text = EXIM.replace(
        "X-Failed-Recipients: bob@example.com", "X-Failed-Recipients: bob@example.com, x"
    )
    bounce = mail(text)
    assert bounce.format == "x-failed-recipients"
    assert [r.address for r in bounce.recipients] == ["bob@example.com"]


# --- Amazon SES JSON ------------------------------------------------------------------------

SES = (
    "From: no-reply@sns.amazonaws.com\nTo: support@desk.example\n"
    "Subject: AWS Notification Message\n"
    "Content-Type: text/plain; charset=UTF-8\n\n"
    '{"notificationType":"Bounce","bounce":{"bounceType":"%s","bounceSubType":"%s",'
    '"bouncedRecipients":[{"emailAddress":"bob@example.com","action":"failed","status":"%s",'
    '"diagnosticCode":"smtp; %s"}],"reportingMTA":"dsn; a1.smtp-out.amazonses.com"},'
    '"mail":{"messageId":"0100-abc","destination":["bob@example.com"],'
    '"headers":[{"name":"Message-ID","value":"<hm.n.42.abc.n1.sig@desk.example>"},{"name":"!\n'
    ' To","value":"bob@example.com"}],"commonHeaders":{"to":["bob@example.com"]}}}\n\n'
    "--\nIf you wish to stop receiving notifications from this topic, please click...\n"
)


@pytest.mark.parametrize(
    ("kind", "subtype", "status", "diagnostic", "reason"),
    [
        ("Permanent", "General", "5.1.1", "550 5.1.1 user unknown", R.USER_UNKNOWN),
        ("Permanent", "Suppressed", "5.1.1", "Amazon SES has suppressed sending", R.SUPPRESSED),
        ("Permanent", "OnAccountSuppressionList", "5.1.1", "on the suppression list", R.SUPPRESSED),
        ("Transient", "MailboxFull", "5.2.2", "552 5.2.2 mailbox full", R.MAILBOX_FULL),
        ("Transient", "MessageTooLarge", "5.3.4", "552 5.3.4 too big", R.TOO_BIG),
    ],
)
def test_ses_json(
    kind: str, subtype: str, status: str, diagnostic: str, reason: BounceReason
) -> None:
    bounce = mail(SES % (kind, subtype, status, diagnostic))
    (recipient,) = bounce.recipients
    assert (recipient.address, recipient.reason) == ("bob@example.com", reason)
    assert bounce.original_message_id == "hm.n.42.abc.n1.sig@desk.example"
    assert bounce.format == "amazon-ses-json"


def test_ses_complaint_and_delivery_are_not_bounces_and_no_json_fragment_is_an_address() -> None:
    for kind in ("Complaint", "Delivery"):
        text = SES.replace('"Bounce"', f'"{kind}"') % ("Permanent", "General", "5.1.1", "x")
        assert parse_bounce(parse_mail(text.encode())) is None
    broken = (SES % ("Permanent", "General", "5.1.1", "x")).replace('"bounce":{', '"bounce":{{')
    bounce = parse_bounce(parse_mail(broken.encode()))
    for recipient in bounce.recipients if bounce else ():
        assert valid_addr_spec(recipient.address) == recipient.address
        assert '"' not in recipient.address
        assert "{" not in recipient.address


# --- line ends ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", [POSTFIX, QMAIL, SENDMAIL, GMAIL], ids=["postfix", "qmail", "sendmail", "gmail"]
)
def test_line_ends_do_not_matter(text: str) -> None:
    lf = text.encode()
    results = []
    for raw in (lf, lf.replace(b"\n", b"\r\n"), lf.replace(b"\n", b"\r")):
        bounce = parse_bounce(parse_mail(raw))
        assert bounce is not None
        results.append(
            (
                [(r.address, r.reason, r.hard, r.status) for r in bounce.recipients],
                bounce.original_message_id,
            )
        )
    assert results[0] == results[1] == results[2]


# --- reasons ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "text", "reason", "hard"),
    [
        ("5.1.1", "550 5.1.1 <bob@example.com>: User unknown", R.USER_UNKNOWN, True),
        ("5.0.0", "550 No such user here", R.USER_UNKNOWN, True),
        ("5.1.2", "Host or domain name not found. Name service error", R.DOMAIN_UNKNOWN, True),
        ("5.1.10", "556 5.1.10 Recipient address has null MX", R.DOMAIN_UNKNOWN, True),
        ("5.2.2", "552 5.2.2 Mailbox full", R.MAILBOX_FULL, False),
        ("5.0.0", "550 user is over quota", R.MAILBOX_FULL, False),
        ("4.3.1", "452 4.3.1 Insufficient system storage", R.SERVER_FULL, False),
        ("5.7.1", "550 5.7.1 Unable to relay", R.RELAY_DENIED, False),
        ("5.0.0", "554 Message rejected: Email address is not verified. The following "
         "identities failed the check in region EU-WEST-1: support@desk.example",
         R.RELAY_DENIED, False),
        ("5.3.4", "552 5.3.4 Message size exceeds fixed maximum message size", R.TOO_BIG, False),
        ("5.2.1", "The email account that you tried to reach is disabled", R.ACCOUNT_DISABLED,
         False),
        ("5.7.1", "550 5.7.1 Service unavailable; client host blocked using Spamhaus",
         R.REJECTED_POLICY, False),
        ("5.7.26", "Unauthenticated email is not accepted due to domain's DMARC policy",
         R.REJECTED_POLICY, False),
        ("4.4.1", "Connection timed out", R.TRANSIENT, False),
        ("4.7.0", "421 4.7.0 Try again later, closing connection", R.TRANSIENT, False),
        ("5.1.1", "Amazon SES has suppressed sending to this address", R.SUPPRESSED, False),
        (None, "something odd happened", R.UNKNOWN, False),
    ],
)  # fmt: skip
def test_each_reason(status: str | None, text: str, reason: BounceReason, hard: bool) -> None:
    assert decide_reason(status=status, reply_code=None, text=text) == (reason, hard)


def test_delayed_and_temporary_rules() -> None:
    assert decide_reason(status="4.2.2", reply_code=None, text="x", delayed=True) == (
        R.DELAYED, False,
    )  # fmt: skip
    # RFC 3463 §3.1: a 4.X.X failure is never hard, even "user unknown"
    assert decide_reason(status="4.1.1", reply_code="450", text="User unknown") == (
        R.TRANSIENT, False,
    )  # fmt: skip


def test_cause_beats_throttling_and_definitive_wording_beats_status_class() -> None:
    # a limit *because of* reputation is a reputation block, not a busy server
    assert decide_reason(
        status="4.7.650",
        reply_code="451",
        text="451 4.7.650 The mail server [192.0.2.25] has been temporarily rate limited due to "
        "IP reputation.",
    ) == (R.REJECTED_POLICY, False)
    assert decide_reason(
        status=None,
        reply_code="450",
        text="450 service permits 2 unverifyable sending IPs - a.example is not 203.0.113.2",
    ) == (R.REJECTED_POLICY, False)
    # Yahoo's TSS04: deferred because of complaints, a reputation block
    assert decide_reason(
        status="4.7.0",
        reply_code="421",
        text="421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected "
        "volume or user complaints",
    ) == (R.REJECTED_POLICY, False)
    # the remote server's quoted reply beats the relay's own label (Amazon SES)
    assert decide_reason(
        status="5.0.0",
        reply_code="550",
        text="5.1.0 - Unknown address error 550-'5.7.1 <0001@email-bounces.amazonses.com>... "
        "Access denied' (delivery attempts: 0)",
    ) == (R.REJECTED_POLICY, False)
    assert decide_reason(
        status="5.0.0",
        reply_code="550",
        text="5.1.0 - Unknown address error 550-'5.1.1 <bob@example.com>... User unknown'",
    ) == (R.USER_UNKNOWN, True)
    # plain rate limits stay transient
    assert decide_reason(status="4.7.0", reply_code="421", text="421 4.7.0 rate limited")[0] is (
        R.TRANSIENT
    )
    # a locked *account* exists; "try again later" does not make it a busy server
    assert decide_reason(
        status="5.7.1",
        reply_code="550",
        text="550 5.7.1 <k@example.com>: Recipient address rejected: User k@example.com "
        "temporary locked. Please try again later!",
    ) == (R.ACCOUNT_DISABLED, False)
    # a locked mailbox *file* is not an account: stays as the rest of the text says
    assert (
        decide_reason(
            status="4.2.0", reply_code="451", text="mailbox temporarily locked, try again later"
        )[0]
        is not R.ACCOUNT_DISABLED
    )
    # RFC 7505 null MX: the domain accepts no mail, even if the report says 4.0.0 (soft: the
    # status was temporary); other temporary "unknown domain" wording stays transient
    null_mx = (
        "DNS Error: 1 DNS type 'mx' lookup of a.example responded with code NOERROR The domain "
        "a.example doesn't receive email according to the administrator: returned Null MX"
    )
    assert decide_reason(status="4.0.0", reply_code=None, text=null_mx) == (
        R.DOMAIN_UNKNOWN, False,
    )  # fmt: skip
    assert decide_reason(status="5.1.10", reply_code="556", text=null_mx) == (
        R.DOMAIN_UNKNOWN, True,
    )  # fmt: skip
    assert decide_reason(status="4.4.0", reply_code="451", text="Host unknown")[0] is R.TRANSIENT


def test_text_beats_generic_codes_and_dialogue_corrects() -> None:
    assert decide_reason(status="5.0.0", reply_code="550", text="Mailbox full")[0] is R.MAILBOX_FULL
    assert decide_reason(status="5.7.1", reply_code="550", text="Relay access denied")[0] is (
        R.RELAY_DENIED
    )
    # "unknown user" after end of DATA: the recipient was accepted, a filter speaks
    assert decide_reason(status=None, reply_code="550", text="User unknown", command="DATA") == (
        R.REJECTED_POLICY, False,
    )  # fmt: skip
    # refused at MAIL FROM: about our sender, not the address
    assert (
        decide_reason(status="5.1.0", reply_code="550", text="Address unknown", command="MAIL")[0]
        is R.REJECTED_POLICY
    )
    # ... but a 553 reply ("mailbox name not allowed", RFC 5321 §4.2.3) is about the address
    # itself, whatever X.7.X status comes with it; a 550 with 5.7.1 stays a filter's refusal
    assert decide_reason(
        status="5.7.1", reply_code="553", text="553 Invalid recipient bob@example.net"
    ) == (R.USER_UNKNOWN, True)
    assert decide_reason(
        status="5.7.1", reply_code="550", text="550 5.7.1 550 User Unknown: bob@example.org"
    ) == (R.REJECTED_POLICY, False)
    assert smtp_command("host x said: 550 (in reply to end of DATA command)") == "DATA"
    assert smtp_command("SMTP error from remote mail server after RCPT TO:<a@b.c>:") == "RCPT"
    assert smtp_command(">>> MAIL From:<a@b.c>\n<<< 250 ok\n>>> RCPT To:<x@y.z>\n<<< 550 no") == (
        "RCPT"
    )
    assert normalise_status("#5.1.0 Address rejected") == "5.1.0"
    assert normalise_status("250 2.1.5 Ok; 451 4.3.0 error", failures_only=True) == "4.3.0"


# --- the SMTP command and the witnesses of "unknown user" ---------------------------------------


@pytest.mark.parametrize(
    ("text", "command"),
    [
        # Postfix, also folded over lines
        (
            "host mx said: 550 5.1.1 <b@x.example>: User unknown (in reply to RCPT TO command)",
            "RCPT",
        ),
        ("host mx said: 550 5.7.1 spam (in reply to\n    end of DATA command)", "DATA"),
        ("host mx said: 553 sender rejected (in reply to MAIL FROM command)", "MAIL"),
        # Exim
        ("SMTP error from remote mail server after RCPT TO:<b@x.example>: 550 no", "RCPT"),
        ("SMTP error from remote mail server after end of data: 550 spam", "DATA"),
        ("SMTP error from remote mail server after pipelined RCPT TO:<b@x.example>: 550", "RCPT"),
        ("SMTP error from remote server after RCPT command: host: mx 5.2.1 User Unknown", "RCPT"),
        ("SMTP error from remote mail server after initial connection: 554 go away", "CONNECT"),
        # DragonFly DMA
        ("mx [192.0.2.25] did not like our RCPT TO: 550 5.1.1 <b@x.example>: unknown", "RCPT"),
        ("mx [192.0.2.25] did not like our final DATA: 550 5.7.26 Unauthenticated", "DATA"),
        # qmail
        ("192.0.2.25 does not like recipient.\nRemote host said: 550 User unknown", "RCPT"),
        (
            "Connected to 192.0.2.25 but sender was rejected. 192.0.2.25 does not like sender.",
            "MAIL",
        ),
        ("Sorry, no SMTP connection got far enough; most progress was RCPT TO response", "RCPT"),
        # Yahoo, Sendmail-derived "X3", and other bracketed forms
        ("Remote host said: 550 5.1.1 <b@x.example>... User Unknown [RCPT_TO]", "RCPT"),
        ("SMTP:RCPT host 192.0.2.8: 553 5.3.0 <b@x.example>... No such user here", "RCPT"),
        (
            "The server refused to accept your message (DATA), with the following error",
            "DATA-COMMAND",
        ),
        # Oracle Messaging Server
        ("Reason: Remote SMTP server has rejected address", "RCPT"),
        ("Reason: Server rejected MAIL FROM address", "MAIL"),
        # transcripts: Sendmail (also indented), Postfix smtpd, InterScan
        (">>> MAIL From:<a@y.example>\n<<< 250 ok\n>>> RCPT To:<b@x.example>\n<<< 550 no", "RCPT"),
        ("    >>> RCPT TO:<b@x.example>\n    <<< 550 <b@x.example>: User unknown", "RCPT"),
        (
            " In:  RCPT TO:<b@x.example>\n Out: 250 ok\n In:  DATA\n Out: 451 4.3.0 error",
            "DATA-COMMAND",
        ),
        ("Sent <<< RCPT TO:<b@x.example>\nReceived >>> 550 5.1.1 <b@x.example>... unknown", "RCPT"),
        # nothing said
        ("550 5.1.1 User unknown", None),
        ("we received mail from a friend in data centre after a while", None),
    ],
)
def test_smtp_command_of_each_mta_format(text: str, command: str | None) -> None:
    assert smtp_command(text) == command


def test_pipelined_rcpt_answers_after_data_are_rcpt_refusals() -> None:
    """Sendmail prints ``>>> DATA`` before the answers to pipelined ``RCPT TO`` (RFC 2920); the
    server's "503 Need RCPT" to DATA proves every recipient was refused before it."""
    transcript = (
        "... while talking to mx.example.org.:\n>>> DATA\n"
        "<<< 550 5.0.0 <bob@example.org>... User unknown\n"
        "<<< 503 5.0.0 Need RCPT (recipient)\n"
    )
    assert smtp_command(transcript) == SmtpCommand.RCPT
    # without the 503 the DATA verb itself was refused
    assert smtp_command(transcript.replace("<<< 503 5.0.0 Need RCPT (recipient)\n", "")) == (
        SmtpCommand.DATA_COMMAND
    )
    # with several recipients, the command before the reply naming the address counts
    several = (
        ">>> RCPT To:<a@example.org>\n<<< 250 ok\n>>> DATA\n<<< 354 go\n"
        ">>> .\n<<< 554 5.0.0 <a@example.org>... message refused\n"
    )
    assert smtp_command(several, "a@example.org") == SmtpCommand.DATA_COMMAND


def _sendmail_dsn(reply: str, status: str, transcript_tail: str = "") -> str:
    return (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.desk.example>\n"
        "To: support@desk.example\nSubject: Returned mail: see transcript for details\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n<bob@example.com>\n\n"
        "   ----- Transcript of session follows -----\n"
        f"... while talking to mx.example.com.:\n>>> DATA\n<<< {reply}\n{transcript_tail}\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.desk.example\n\n"
        f"Final-Recipient: RFC822; bob@example.com\nAction: failed\nStatus: {status}\n"
        f"Diagnostic-Code: SMTP; {reply}\n\n"
        f"--b\nContent-Type: text/rfc822-headers\n\n{ORIGINAL}\n--b--\n"
    )


def test_the_smtp_command_is_kept_on_the_recipient() -> None:
    (bob,) = mail(POSTFIX).recipients
    assert bob.smtp_command == SmtpCommand.RCPT == "RCPT"
    pipelined = _sendmail_dsn(
        "550 5.0.0 <bob@example.com>... User unknown", "5.0.0", "<<< 503 5.0.0 Need RCPT\n"
    )
    (bob,) = mail(pipelined).recipients
    assert (bob.smtp_command, bob.reason, bob.hard) == (SmtpCommand.RCPT, R.USER_UNKNOWN, True)
    (bob,) = mail(EXIM).recipients
    assert bob.smtp_command is None or bob.smtp_command == SmtpCommand.RCPT


def test_a_mailbox_status_beats_unknown_user_words_unless_refused_at_rcpt() -> None:
    """RFC 3463 X.2.1 "mailbox disabled": the mailbox exists. With "User Unknown" words and no
    command (PowerMTA), the specific status wins; refused at RCPT TO, the words do."""
    words = "550 5.2.1 <bob@example.com>... User Unknown"
    assert decide_reason(status="5.2.1", reply_code="550", text=words) == (
        R.ACCOUNT_DISABLED, False,
    )  # fmt: skip
    assert decide_reason(status="5.2.1", reply_code="550", text=words, command="RCPT") == (
        R.USER_UNKNOWN, True,
    )  # fmt: skip
    # X.2.2 "mailbox full" likewise; X.2.0 is a carrier's filter
    assert decide_reason(status="5.2.2", reply_code="550", text="550 User unknown")[0] is (
        R.MAILBOX_FULL
    )
    assert decide_reason(status="5.2.0", reply_code="550", text="550 : User unknown")[0] is (
        R.REJECTED_POLICY
    )
    # an X.1.X status confirms the words whatever the stage
    assert decide_reason(status="5.1.1", reply_code="550", text="550 User unknown") == (
        R.USER_UNKNOWN, True,
    )  # fmt: skip


def test_unknown_user_after_data_is_a_filter_and_unconfirmed_remote_replies_are_soft() -> None:
    # refused after the end of DATA: the recipient had been accepted; a filter speaks
    for command in ("DATA", SmtpCommand.DATA):
        assert decide_reason(
            status="5.0.0", reply_code="550", text="550 User unknown", command=command
        ) == (R.REJECTED_POLICY, False)
    # a remote reply quoted without its command and without an X.1.X status: soft (Sisimai's
    # "filtered"): a wrong hard block silences a good address until someone clears it
    assert decide_reason(status="5.0.0", reply_code="550", text="550 : User unknown") == (
        R.REJECTED_POLICY, False,
    )  # fmt: skip
    # ... unless the reply repeats the recipient, as replies to RCPT TO do
    echoed = "550 <bob@example.com>: User unknown"
    assert decide_reason(
        status="5.0.0", reply_code="550", text=echoed, address="bob@example.com"
    ) == (R.USER_UNKNOWN, True)
    assert decide_reason(
        status="5.0.0", reply_code="550", text=echoed, address="carol@example.com"
    ) == (R.REJECTED_POLICY, False)
    # ... or in a provider's wording kept only for nonexistent accounts, even after DATA
    yahoo = "554 delivery error: dd This user doesn't have a yahoo.com account (bob@yahoo.com)"
    for stage in ("DATA", "DATA-COMMAND", None):
        assert decide_reason(status="5.0.0", reply_code="554", text=yahoo, command=stage) == (
            R.USER_UNKNOWN, True,
        )  # fmt: skip
    # Sendmail shows the answer to the end of the data under its ">>> DATA" line
    assert decide_reason(
        status="5.0.0", reply_code="550", text="550 : User unknown", command="DATA-COMMAND"
    ) == (R.REJECTED_POLICY, False)
    # ... but an X.1.X status still speaks, whatever the stage (Sisimai: 5.1.1 is userunknown)
    assert decide_reason(
        status="5.1.1", reply_code="550", text="550 5.1.1 User unknown", command="DATA"
    ) == (R.USER_UNKNOWN, True)
    # a report with no remote reply is the reporting system's own directory verdict
    assert decide_reason(
        status=None,
        reply_code=None,
        text="User bob (bob@example.com) not listed in Domino Directory",
    ) == (R.USER_UNKNOWN, True)
    # the same through the parser: a Sendmail transcript that shows the end of the data refused
    after_data = _sendmail_dsn("550 5.0.0 User unknown", "5.0.0").replace(
        ">>> DATA\n", ">>> DATA\n<<< 354 go ahead\n>>> .\n"
    )
    (bob,) = mail(after_data).recipients
    assert (bob.reason, bob.hard) == (R.REJECTED_POLICY, False)
    # a remote reply quoted without stage or witness is soft; "[RCPT_TO]" (Yahoo's tag) is one
    plain = YAHOO.replace("dd This user doesn't have a yahoo.com account", "user unknown")
    (bob,) = mail(plain).recipients
    assert (bob.smtp_command, bob.reason, bob.hard) == (None, R.REJECTED_POLICY, False)
    (bob,) = mail(plain.replace("user unknown\n", "user unknown [RCPT_TO]\n")).recipients
    assert (bob.smtp_command, bob.reason, bob.hard) == ("RCPT", R.USER_UNKNOWN, True)
    # the reply repeating the recipient as a path anywhere after its code is a witness too
    (bob,) = mail(plain.replace("user unknown\n", "unknown user <bob@example.com>\n")).recipients
    assert (bob.reason, bob.hard) == (R.USER_UNKNOWN, True)


def test_a_final_failure_after_temporary_user_unknown_replies_is_hard() -> None:
    """``Action: failed`` after 4.X.X answers: the sending MTA retried and gave up; "user unknown"
    each time is a dead mailbox. A delay warning with the same answer stays a delay."""
    text = (
        "450 4.1.1 <bob@example.com>: Recipient address rejected: User unknown in virtual alias "
        "table"
    )
    assert decide_reason(status="4.1.1", reply_code="450", text=text, final=True) == (
        R.USER_UNKNOWN, True,
    )  # fmt: skip
    assert decide_reason(status="4.1.1", reply_code="450", text=text) == (R.TRANSIENT, False)
    # other hard reasons under a 4.X.X stay soft (a DNS failure is often passing)
    assert decide_reason(status="4.4.0", reply_code="451", text="Host unknown", final=True)[0] is (
        R.TRANSIENT
    )
    failed = dsn(
        "Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 4.1.1\n"
        f"Diagnostic-Code: smtp; {text}\n"
    )
    (bob,) = mail(failed).recipients
    assert (bob.reason, bob.hard) == (R.USER_UNKNOWN, True)
    delayed = failed.replace("Action: failed", "Action: delayed")
    (bob,) = mail(delayed).recipients
    assert (bob.reason, bob.hard, bob.cause) == (R.DELAYED, False, R.TRANSIENT)


def test_a_generic_dsn_status_gives_way_to_the_reports_own() -> None:
    """OpenSMTPD writes ``Status: 5.0.0`` without a Diagnostic-Code and the real reply in its
    text: the specific status of the same class is taken (RFC 3463 §3.1: X.0.0 is "other")."""
    text = dsn("Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.0.0\n").replace(
        "Your message could not be delivered.",
        "bob@example.com: 550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown",
    )
    (bob,) = mail(text).recipients
    assert (bob.status, bob.reason, bob.hard) == ("5.1.1", R.USER_UNKNOWN, True)


def test_an_expanded_address_keeps_the_address_helpmail_wrote() -> None:
    """A forwarder expanded bob@example.com into bob@mail.example.org, which failed: the guard
    must block the address helpmail writes to (RFC 3464 §2.3.1 Original-Recipient's meaning)."""
    forwarded = EXIM.replace(
        "X-Failed-Recipients: bob@example.com", "X-Failed-Recipients: bob@mail.example.org"
    ).replace("  bob@example.com\n", "  bob@mail.example.org\n")
    (bob,) = mail(forwarded).recipients
    assert (bob.address, bob.original_recipient) == ("bob@mail.example.org", "bob@example.com")
    # the failed address is the one the original was written to: nothing to add
    (bob,) = mail(EXIM).recipients
    assert (bob.address, bob.original_recipient) == ("bob@example.com", None)
    # several addressees in the original: which one expanded is not known
    several = forwarded.replace("To: bob@example.com\n", "To: bob@example.com, eve@example.com\n")
    (bob,) = mail(several).recipients
    assert bob.original_recipient is None
    # another local part: as likely a Bcc recipient or a list member; the To is not blocked
    bcc = EXIM.replace("bob@example.com", "carol@example.net").replace(
        "To: carol@example.net\n", "To: bob@example.com\n"
    )
    (carol,) = mail(bcc).recipients
    assert (carol.address, carol.original_recipient) == ("carol@example.net", None)


def test_exims_failed_address_line_is_read_even_for_the_bounces_own_recipient() -> None:
    """An address line followed by Exim's "SMTP error from remote mail server" is unambiguous,
    so it counts even when the failed address is also the bounce's To (mail to oneself)."""
    to_self = (
        EXIM.replace("X-Failed-Recipients: bob@example.com\n", "")
        .replace("To: support@desk.example", "To: bob@example.com")
        .replace("    host mx.example.com [192.0.2.1]\n", "")
    )
    (bob,) = mail(to_self).recipients
    assert (bob.address, bob.source, bob.reason) == ("bob@example.com", "exim", R.MAILBOX_FULL)


def test_a_labelled_reply_code_is_a_reply_code() -> None:
    """Zoho: "Invalid Address, ERROR_CODE :550, ERROR_CODE :Requested action not taken": a
    remote server's reply, quoted without its command -- so "invalid address" is soft."""
    text = (
        "From: mailer-daemon@mail.zoho.example\nTo: support@desk.example\n"
        "Subject: Undelivered Mail Returned to Sender\n\n"
        "This message was created automatically by mail delivery software.\n"
        "A message that you sent could not be delivered to one or more of its recipients. "
        "This is a permanent error.\n\nbob@example.com Invalid Address, ERROR_CODE :550, "
        "ERROR_CODE :Requested action not taken: mailbox unavailable\n\n"
        "Original message follows.\n\n" + ORIGINAL
    )
    (bob,) = mail(text).recipients
    assert (bob.reply_code, bob.reason, bob.hard) == ("550", R.REJECTED_POLICY, False)


def test_a_reports_own_soft_wording_beats_unknown_user_for_its_one_recipient() -> None:
    """EZweb: "The user(s) account is disabled." above "<bob@...>: user unknown"; a DSN whose
    text says "Not enough disk space": the soft reading wins (Sisimai lets another reason's
    text beat even 5.1.1)."""
    disabled = dsn(
        "Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.0.0\n"
    ).replace(
        "Your message could not be delivered.",
        "The user(s) account is disabled.\n\n<bob@example.com>: user unknown",
    )
    (bob,) = mail(disabled).recipients
    assert (bob.reason, bob.hard) == (R.ACCOUNT_DISABLED, False)
    full = dsn(
        "Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>... User Unknown\n"
    ).replace(
        "Your message could not be delivered.", "Your message was rejected:\nNot enough disk space"
    )
    (bob,) = mail(full).recipients
    assert (bob.reason, bob.hard) == (R.MAILBOX_FULL, False)
    # with two recipients the report's words are not about one of them: the DSN decides
    two = full.replace(
        "\n--b\nContent-Type: text/rfc822-headers",
        "\nFinal-Recipient: rfc822; carol@example.com\nAction: failed\nStatus: 5.1.1\n"
        "\n--b\nContent-Type: text/rfc822-headers",
    )
    assert {(r.address, r.reason) for r in mail(two).recipients} == {
        ("bob@example.com", R.USER_UNKNOWN),
        ("carol@example.com", R.USER_UNKNOWN),
    }


def test_reason_table_is_complete() -> None:
    assert set(REASONS) == set(BounceReason)
    assert [r.value for r in BounceReason] == [
        "user_unknown", "domain_unknown", "mailbox_full", "server_full", "relay_denied", "too_big",
        "account_disabled", "rejected_policy", "transient", "suppressed", "delayed", "unknown",
    ]  # fmt: skip
    assert {r for r, p in REASONS.items() if p.hard} == {R.USER_UNKNOWN, R.DOMAIN_UNKNOWN}
    assert all(p.why for p in REASONS.values())
    assert SISIMAI_REASONS["filtered"] is R.REJECTED_POLICY
    assert SISIMAI_REASONS["hasmoved"] is R.USER_UNKNOWN
    assert len(SISIMAI_REASONS) == 33


# --- robustness ---------------------------------------------------------------------------


def test_human_mail_is_not_a_bounce() -> None:
    text = (
        "From: Bob <bob@example.com>\nTo: support@desk.example\n"
        "Subject: Re: [Ticket#42] delivery failed\n\n"
        "Hi, the delivery failed again: user unknown <carol@example.com>. Error 550.\n"
    )
    assert parse_bounce(parse_mail(text.encode())) is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\x01\x02",
        b"Content-Type: multipart/report; report-type=delivery-status\n\nno boundary",
        b'Content-Type: multipart/report; boundary="b"\n\n--b\n'
        b"Content-Type: message/delivery-status"
        b'\n\nFinal-Recipient: rfc822; {"a":1}@x\nAction: failed\n',
        b"From: MAILER-DAEMON\nSubject: Undeliverable\n\n<" + b"a" * 5000 + b"@example.com>:\n",
        b"X-Failed-Recipients: ,,,@,<>\n\nx",
        b"Content-Type: message/delivery-status\n\nFinal-Recipient: ;;;\n\n\n",
    ],
)
def test_malformed_mail_never_raises(raw: bytes) -> None:
    bounce = parse_bounce_unguarded(parse_mail(raw))
    for recipient in bounce.recipients if bounce else ():
        assert valid_addr_spec(recipient.address) == recipient.address


@settings(max_examples=80, deadline=None)
@given(st.sampled_from([POSTFIX, EXIM, QMAIL, SENDMAIL, OPENSMTPD]), st.data())
def test_mutated_bounces_never_raise(text: str, data: st.DataObject) -> None:
    raw = bytearray(text.encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=20))):
        position = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[position] = data.draw(st.sampled_from(b'\r\n<>@:;"{}=\x00\xff-. '))
    bounce = parse_bounce_unguarded(parse_mail(bytes(raw)))
    for recipient in bounce.recipients if bounce else ():
        assert valid_addr_spec(recipient.address) == recipient.address


def test_linear_time_on_a_big_bounce() -> None:
    import time

    big = POSTFIX.replace("The mail system", "The mail system " + "x " * 200_000)
    started = time.perf_counter()
    parse_bounce(parse_mail(big.encode()))
    assert time.perf_counter() - started < 5  # a generous bound on a shared machine


def test_thousands_of_recipients_are_capped_and_stay_fast() -> None:
    import time

    from helpmail.bounces.parse import MAX_RECIPIENTS

    lines = "".join(
        f"<u{i}@example.com>: host mx said: 550 5.1.1 User unknown\n" for i in range(3000)
    )
    text = POSTFIX.replace("<bob@example.com>: host", lines + "<bob@example.com>: host")
    started = time.perf_counter()
    bounce = mail(text)
    assert time.perf_counter() - started < 10  # generous on a shared machine; ~0.5 s alone
    assert len(bounce.recipients) == MAX_RECIPIENTS
    assert all(r.reason is R.USER_UNKNOWN for r in bounce.recipients)


def test_returned_part_without_the_blank_line_still_gives_the_original_id() -> None:
    text = dsn(
        "Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.1.1\n",
        returned="message/rfc822",
    ).replace("Content-Type: message/rfc822\n\n", "Content-Type: message/rfc822\n")
    assert mail(text).original_message_id == "hm.n.42.abc.n1.sig@desk.example"
