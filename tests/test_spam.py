"""Spam verdicts of real filters, trusted only when a trusted host added them."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpmail import parse_mail
from helpmail.desk.matching import DomainPattern
from helpmail.mail.model import InboundMail
from helpmail.spam import (
    Filter,
    HeaderSpamChecker,
    ImapFacts,
    SpamAction,
    SpamChecker,
    SpamSettings,
    SpamVerdict,
    Thresholds,
    combine_verdicts,
    parse_received,
    read_spam_verdict,
    trust_boundary,
    verdict_from_score,
)

SETTINGS = SpamSettings(
    trusted_hosts=(
        DomainPattern.parse("mx.desk.example"),
        DomainPattern.parse("*.int.desk.example"),
    ),
    trusted_networks=(ipaddress.ip_network("10.1.0.0/16"),),
)

#: Dovecot LMTP on imap.int.desk.example, fed by the MX at 10.1.0.5
TOP = (
    "Received: from mx.desk.example (mx.desk.example [10.1.0.5])\r\n"
    "\tby imap.int.desk.example (Dovecot) with LMTP id 6Ab1\r\n"
    "\tfor <support@desk.example>; Mon, 23 Nov 2026 08:00:02 +0000\r\n"
)
#: the MX received the mail from the outside world
MX = (
    "Received: from mail.sender.example (mail.sender.example [198.51.100.7])\r\n"
    "\tby mx.desk.example (Postfix) with ESMTPS id 4F1\r\n"
    "\tfor <support@desk.example>; Mon, 23 Nov 2026 08:00:01 +0000\r\n"
)
BODY = (
    "From: someone@sender.example\r\nTo: support@desk.example\r\nSubject: offer\r\n"
    "Message-ID: <s1@sender.example>\r\n\r\nbuy now\r\n"
)


def mail(*blocks: str) -> InboundMail:
    return parse_mail("".join(blocks).encode())


def test_trusted_spamassassin_score_above_suspend_suspends() -> None:
    verdict = read_spam_verdict(
        mail(
            TOP,
            "X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=7.3 required=5.0 tests=BAYES_99\r\n",
            MX,
            BODY,
        ),
        SETTINGS,
    )
    assert verdict.action is SpamAction.SUSPEND
    assert verdict.filters[0].filter is Filter.SPAMASSASSIN
    assert verdict.filters[0].score == 7.3
    assert verdict.step == "spam"


def test_trusted_score_above_reject_rejects() -> None:
    verdict = read_spam_verdict(
        mail(TOP, "X-Spam-Status: Yes, score=21.0 required=5.0\r\n", MX, BODY), SETTINGS
    )
    assert verdict.action is SpamAction.REJECT


def test_spoofed_no_from_untrusted_hop_does_not_whitelist() -> None:
    # the sender wrote "X-Spam-Status: No" itself, below the MX's Received line; our own
    # filter (above) says spam
    raw = (
        TOP
        + "X-Spam-Status: Yes, score=9.1 required=5.0 tests=URIBL_BLACK\r\n"
        + MX
        + "X-Spam-Status: No, score=-100.0 required=5.0\r\nX-Spam-Flag: NO\r\n"
        + BODY
    )
    verdict = read_spam_verdict(parse_mail(raw.encode()), SETTINGS)
    assert verdict.action is SpamAction.SUSPEND
    assert {i.header for i in verdict.ignored} == {"X-Spam-Status", "X-Spam-Flag"}
    assert "ignored 2 untrusted" in verdict.detail


def test_spoofed_no_alone_is_no_verdict() -> None:
    verdict = read_spam_verdict(mail(TOP, MX, "X-Spam-Status: No, score=-50\r\n", BODY), SETTINGS)
    assert verdict.action is SpamAction.NONE
    assert not verdict.filters
    assert len(verdict.ignored) == 1


def test_forged_received_line_claiming_our_mx_does_not_extend_trust() -> None:
    # the sender forged a Received "by mx.desk.example" and put a clean verdict under it; the real
    # MX line says it came from 198.51.100.7, so nothing below it is believed
    forged = (
        "Received: from mx.desk.example (mx.desk.example [10.1.0.5])\r\n"
        "\tby mx.desk.example (Postfix) with ESMTP id X; Mon, 23 Nov 2026 07:00:00 +0000\r\n"
        "X-Spam-Status: No, score=-9 required=5.0\r\n"
    )
    verdict = read_spam_verdict(
        mail(TOP, "X-Spam-Status: Yes, score=30 required=5.0\r\n", MX, forged, BODY), SETTINGS
    )
    assert verdict.action is SpamAction.REJECT
    assert len(verdict.ignored) == 1


def test_helo_name_is_not_trusted() -> None:
    # a spammer that says HELO mx.desk.example is still an outside client
    helo_spoof = (
        "Received: from mx.desk.example (unknown [198.51.100.9])\r\n"
        "\tby mx.desk.example (Postfix) with ESMTP id Y; Mon, 23 Nov 2026 08:00:01 +0000\r\n"
    )
    spoofed = (
        "Received: from x (x [10.1.0.5]) by mx.desk.example; Mon, 23 Nov 2026 07:00:00 +0000\r\n"
    )
    boundary = trust_boundary(
        mail(TOP, helo_spoof, spoofed, "X-Spam-Status: No\r\n", BODY), SETTINGS
    )
    assert len(boundary.hops) == 2
    assert "198.51.100.9" in boundary.stop


def test_no_trusted_hosts_means_nothing_is_trusted() -> None:
    verdict = read_spam_verdict(
        mail(TOP, "X-Spam-Status: Yes, score=30\r\n", MX, BODY), SpamSettings()
    )
    assert verdict.action is SpamAction.NONE
    assert len(verdict.ignored) == 1


def test_untrusted_top_hop_trusts_nothing() -> None:
    other = "Received: from a (a [10.1.0.5]) by relay.elsewhere.example; Mon, 23 Nov 2026\r\n"
    verdict = read_spam_verdict(
        mail(other, "X-Spam-Status: Yes, score=30\r\n", TOP, MX, BODY), SETTINGS
    )
    assert verdict.action is SpamAction.NONE


def test_amavis_on_the_mx_through_loopback() -> None:
    # Postfix -> amavis (localhost) -> Postfix: loopback hops are trusted by default
    raw = (
        "Received: from localhost (localhost [127.0.0.1])\r\n"
        "\tby mx.desk.example (Postfix) with ESMTP id 1; Mon, 23 Nov 2026 08:00:03 +0000\r\n"
        "X-Virus-Scanned: amavisd-new at desk.example\r\n"
        "X-Spam-Flag: YES\r\nX-Spam-Score: 6.2\r\nX-Spam-Level: ******\r\n"
        "X-Spam-Status: Yes, score=6.2 tagged_above=-999 required=5 tests=[BAYES_99=3.5]\r\n"
        "Received: from mx.desk.example ([127.0.0.1])\r\n"
        "\tby localhost (mx.desk.example [127.0.0.1]) (amavisd-new, port 10024)\r\n"
        "\twith ESMTP id 2; Mon, 23 Nov 2026 08:00:02 +0000\r\n"
    )
    verdict = read_spam_verdict(mail(raw, MX, "X-Spam-Status: No\r\n", BODY), SETTINGS)
    assert verdict.action is SpamAction.SUSPEND
    assert len(verdict.boundary.hops) == 3 if verdict.boundary else False
    assert len(verdict.ignored) == 1


def test_local_lmtp_without_ip_is_trusted_by_name() -> None:
    lmtp = (
        "Received: from mx.desk.example\r\n\tby imap.int.desk.example with LMTP id 9\r\n"
        "\tfor <support@desk.example>; Mon, 23 Nov 2026 08:00:02 +0000\r\n"
    )
    verdict = read_spam_verdict(mail(lmtp, "X-Spam-Status: Yes, score=5.5\r\n", MX, BODY), SETTINGS)
    assert verdict.action is SpamAction.SUSPEND


@pytest.mark.parametrize(
    ("headers", "action", "score"),
    [
        (
            "X-Spamd-Result: default: True [16.20 / 15.00]; BAYES_SPAM(5.10)[99.99%]\r\n",
            SpamAction.REJECT,
            16.2,
        ),
        (
            "X-Spamd-Result: default: False [7.00 / 15.00]; R_SPF_FAIL(1.00)\r\n",
            SpamAction.SUSPEND,
            7.0,
        ),
        ("X-Rspamd-Score: 2.5\r\nX-Spam: No\r\n", SpamAction.NONE, 2.5),
        ("X-Spam: Yes\r\n", SpamAction.SUSPEND, None),
    ],
)
def test_rspamd(headers: str, action: SpamAction, score: float | None) -> None:
    verdict = read_spam_verdict(mail(TOP, headers, MX, BODY), SETTINGS)
    assert verdict.action is action
    assert verdict.filters[0].filter is Filter.RSPAMD
    assert verdict.filters[0].score == score


@pytest.mark.parametrize(
    ("headers", "action"),
    [
        (
            "X-Forefront-Antispam-Report: CIP:198.51.100.7;CTRY:;LANG:en;SCL:5;SRV:;IPV:NLI;"
            "SFV:SPM;H:mail.sender.example;PTR:;CAT:SPM;SFS:(13230031);DIR:INB;\r\n",
            SpamAction.SUSPEND,
        ),
        (
            "X-Forefront-Antispam-Report: CIP:198.51.100.7;CTRY:US;LANG:en;SCL:9;SRV:;"
            "IPV:NLI;SFV:SPM;H:x;CAT:HSPM;DIR:INB;\r\n",
            SpamAction.REJECT,
        ),
        (
            "X-Forefront-Antispam-Report: CIP:198.51.100.7;CTRY:;LANG:en;SCL:1;SRV:;IPV:NLI;"
            "SFV:NSPM;H:x;DIR:INB;\r\n",
            SpamAction.NONE,
        ),
        ("X-MS-Exchange-Organization-SCL: 6\r\n", SpamAction.SUSPEND),
        ("X-MS-Exchange-Organization-SCL: -1\r\n", SpamAction.NONE),
    ],
)
def test_microsoft_scl(headers: str, action: SpamAction) -> None:
    verdict = read_spam_verdict(mail(TOP, headers, MX, BODY), SETTINGS)
    assert verdict.action is action
    assert verdict.filters[0].filter is Filter.MICROSOFT


def test_score_decides_not_the_filters_own_flag() -> None:
    # SpamAssassin says Yes at its required=3, but the desk suspends from 5
    verdict = read_spam_verdict(
        mail(TOP, "X-Spam-Status: Yes, score=4.0 required=3.0\r\n", MX, BODY), SETTINGS
    )
    assert verdict.action is SpamAction.NONE


def test_flag_without_score_only_suspends() -> None:
    verdict = read_spam_verdict(mail(TOP, "X-Spam-Flag: YES\r\n", MX, BODY), SETTINGS)
    assert verdict.action is SpamAction.SUSPEND


def test_one_filter_saying_clean_does_not_override_another_saying_spam() -> None:
    verdict = read_spam_verdict(
        mail(TOP, "X-Spam-Status: No, score=0.1\r\nX-Rspamd-Score: 8.0\r\n", MX, BODY), SETTINGS
    )
    assert verdict.action is SpamAction.SUSPEND


def test_topmost_trusted_copy_counts() -> None:
    verdict = read_spam_verdict(
        mail(TOP, "X-Spam-Status: Yes, score=6.0\r\nX-Spam-Status: No, score=1.0\r\n", MX, BODY),
        SETTINGS,
    )
    assert verdict.filters[0].score == 6.0


def test_thresholds_are_the_desks() -> None:
    strict = SpamSettings(
        trusted_hosts=SETTINGS.trusted_hosts,
        trusted_networks=SETTINGS.trusted_networks,
        spamassassin=Thresholds(suspend=3.0, reject=6.0),
    )
    verdict = read_spam_verdict(mail(TOP, "X-Spam-Status: Yes, score=7.3\r\n", MX, BODY), strict)
    assert verdict.action is SpamAction.REJECT


def test_gmail_spam_label_and_imap_keywords() -> None:
    plain = mail(TOP, MX, BODY)
    assert read_spam_verdict(plain, SETTINGS).action is SpamAction.NONE
    gmail = ImapFacts(labels=("\\Important", "\\Spam"))
    assert read_spam_verdict(plain, SETTINGS, gmail).action is SpamAction.SUSPEND
    junk_folder = ImapFacts(folder_special_use=frozenset({"\\Junk"}))
    assert read_spam_verdict(plain, SETTINGS, junk_folder).action is SpamAction.SUSPEND
    keyword = ImapFacts(flags=frozenset({"\\Seen", "$Junk"}))
    assert read_spam_verdict(plain, SETTINGS, keyword).action is SpamAction.SUSPEND
    not_junk = ImapFacts(flags=frozenset({"$NotJunk"}))
    assert read_spam_verdict(plain, SETTINGS, not_junk).action is SpamAction.NONE


def test_disabled_reads_nothing() -> None:
    off = SpamSettings(enabled=False, trusted_hosts=SETTINGS.trusted_hosts)
    assert (
        read_spam_verdict(mail(TOP, "X-Spam-Flag: YES\r\n", MX, BODY), off).action
        is SpamAction.NONE
    )


class AlwaysSpam:
    """A host's own checker (a real one would ask rspamd over HTTP)."""

    def check(self, mail: InboundMail, imap: ImapFacts | None = None) -> SpamVerdict:
        return verdict_from_score(12.0, Thresholds(suspend=5, reject=10), checker="always")


def test_plugged_in_checker_and_combination() -> None:
    checkers: list[SpamChecker] = [HeaderSpamChecker(settings=SETTINGS), AlwaysSpam()]
    message = mail(TOP, "X-Spam-Status: No, score=0.0\r\n", MX, BODY)
    verdicts = [c.check(message) for c in checkers]
    assert verdicts[0].action is SpamAction.NONE
    combined = combine_verdicts(*verdicts)
    assert combined.action is SpamAction.REJECT
    assert combined.checker == "headers+always"
    assert "checker: score 12 -> reject" in combined.detail


def test_received_forms() -> None:
    exim = parse_received(
        "from mail.sender.example ([198.51.100.7] helo=fake.example) by mx.desk.example "
        "with esmtps (Exim 4.96) id 1; Mon, 23 Nov 2026 08:00:00 +0000"
    )
    assert (exim.client_name, exim.client_ip, exim.helo) == (
        "mail.sender.example",
        "198.51.100.7",
        "fake.example",
    )
    postfix = parse_received("from fake (unknown [198.51.100.7]) by mx.desk.example (Postfix); d")
    assert (postfix.client_name, postfix.helo) == (None, "fake")
    local = parse_received("by mx.desk.example (Postfix, from userid 1000) id 3; d")
    assert local.local
    assert local.by_host == "mx.desk.example"
    sendmail = parse_received(
        "from [10.0.0.1] (authenticated bits=0) by mx.desk.example (8.15.2/8.15.2) with ESMTPSA; d"
    )
    assert sendmail.client_ip == "10.0.0.1"
    assert sendmail.by_host == "mx.desk.example"
    exchange = parse_received(
        "from AM0PR01.eurprd01.prod.outlook.com (2603:10a6:208:11::25) by "
        "AM9PR02.eurprd02.prod.outlook.com (2603:10a6:20b:3c6::8) with Microsoft SMTP Server; d"
    )
    assert exchange.client_ip == "2603:10a6:208:11::25"
    assert exchange.client_name is None


@given(st.text(max_size=300))
def test_received_parser_never_raises(value: str) -> None:
    hop = parse_received(value)
    assert hop.by_host is None or isinstance(hop.by_host, str)


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200))
def test_spam_header_readers_never_raise(value: str) -> None:
    raw = TOP + "".join(
        f"{name}: {value.replace(chr(13), ' ').replace(chr(10), ' ')}\r\n"
        for name in (
            "X-Spam-Status",
            "X-Spamd-Result",
            "X-Forefront-Antispam-Report",
            "X-Spam-Score",
        )
    )
    verdict = read_spam_verdict(parse_mail((raw + MX + BODY).encode()), SETTINGS)
    assert verdict.action in set(SpamAction)


def test_hundreds_of_forged_hops_stay_bounded_in_the_trace() -> None:
    forged = "".join(
        f"Received: from mx.desk.example (mx.desk.example [10.1.0.5]) by mx.desk.example; d{i}\r\n"
        f"X-Spam-Status: No, score=-{i}\r\n"
        for i in range(300)
    )
    verdict = read_spam_verdict(
        mail(TOP, "X-Spam-Status: Yes, score=8\r\n", MX, forged, BODY), SETTINGS
    )
    assert verdict.action is SpamAction.SUSPEND
    assert verdict.boundary is not None
    assert len(verdict.boundary.hops) == 2
    assert len(verdict.ignored) == 20
    assert verdict.ignored_count == 300
    assert "ignored 300 untrusted" in verdict.detail
    assert "and 297 more" in verdict.detail
    assert len(verdict.detail) < 400
