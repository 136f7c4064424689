"""Bounce reasons as data: what each reason means, how long it blocks, and how it is recognised.

The rule this module keeps: **a status code alone does not decide the reason.** Many MTAs send
``5.0.0`` or ``5.7.1`` for every failure, so the diagnostic text is matched against ordered pattern
tables, and specific text beats a generic code (DESIGN.md, prior-art §1.5). Everything here is a
table: extend a table to teach helpmail a new wording, don't add an ``if``.

* :data:`REASONS` -- per reason: hard or soft, the default block, whether to alert an operator,
  and why (DESIGN.md's bounce table).
* :data:`TEXT_PATTERNS` -- ordered ``(reason, regex)`` rows matched on diagnostic text; first match
  wins.
* :data:`STATUS_REASONS` -- enhanced status codes (RFC 3463 §3) to reasons, by ``subject.detail``.
* :data:`GENERIC_STATUSES` -- codes that say nothing specific, so text decides.
* :data:`REPLY_CODE_REASONS` -- bare SMTP reply codes (RFC 5321 §4.2.3), the last resort.
* :data:`SISIMAI_REASONS` -- Sisimai's reason names mapped to helpmail's (for corpora and tests).
* :data:`COMMAND_PHRASES` -- where MTAs say which SMTP command a refusal answered
  (:func:`smtp_command`); with the status it decides whether "unknown user" words are a dead
  mailbox (:func:`decide_reason`, :data:`UNCONFIRMED_USER_UNKNOWN`).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from helpmail.bounces.model import BounceReason, SmtpCommand

R = BounceReason


@attrs.frozen(kw_only=True)
class ReasonPolicy:
    """What one bounce reason means for automatic mail to the address.

    ``blocks`` false: the address is not blocked at all (delay warnings). ``block_for`` ``None``
    with ``blocks`` true: blocked until an admin (or a successful delivery) clears it.
    """

    hard: bool
    blocks: bool
    block_for: dt.timedelta | None
    alert: bool = False
    why: str = ""


_H = dt.timedelta(hours=1)

#: DESIGN.md's bounce table. Blocks apply to automatic mail only; an agent can still write by hand.
REASONS: Mapping[BounceReason, ReasonPolicy] = MappingProxyType(
    {
        R.USER_UNKNOWN: ReasonPolicy(
            hard=True,
            blocks=True,
            block_for=None,
            why="the mailbox does not exist; retrying cannot help until someone fixes the address",
        ),
        R.DOMAIN_UNKNOWN: ReasonPolicy(
            hard=True,
            blocks=True,
            block_for=None,
            why="the domain does not exist or accepts no mail (RFC 7505 null MX)",
        ),
        R.MAILBOX_FULL: ReasonPolicy(
            hard=False,
            blocks=True,
            block_for=3 * _H,
            why="full mailboxes are emptied; often sent as 5.2.2 although it is temporary",
        ),
        R.SERVER_FULL: ReasonPolicy(
            hard=False,
            blocks=True,
            block_for=3 * _H,
            why="the receiving system is out of storage (RFC 3463 X.3.1); it usually recovers",
        ),
        R.RELAY_DENIED: ReasonPolicy(
            hard=False,
            blocks=True,
            block_for=3 * _H,
            why="a routing or configuration problem (ours or theirs), not a dead address",
        ),
        R.TOO_BIG: ReasonPolicy(
            hard=False,
            blocks=True,
            block_for=3 * _H,
            why="the next, smaller mail may pass; the block stops a repeat of the same mail",
        ),
        R.ACCOUNT_DISABLED: ReasonPolicy(
            hard=False,
            blocks=True,
            block_for=24 * _H,
            why="suspended accounts come back, but rarely within hours",
        ),
        R.REJECTED_POLICY: ReasonPolicy(
            hard=False,
            blocks=True,
            block_for=3 * _H,
            alert=True,
            why="spam filter, blocklist, SPF/DKIM/DMARC or content policy: an operator should "
            "look, "
            "the address itself is fine",
        ),
        R.TRANSIENT: ReasonPolicy(
            hard=False,
            blocks=True,
            block_for=_H,
            why="time-outs, busy servers, rate limits: try again soon",
        ),
        R.SUPPRESSED: ReasonPolicy(
            hard=False,
            blocks=True,
            block_for=24 * _H,
            why="the sending provider suppresses the address after earlier bounces or complaints",
        ),
        R.DELAYED: ReasonPolicy(
            hard=False,
            blocks=False,
            block_for=None,
            why="a delay warning (RFC 3464 Action: delayed): the MTA is still trying; never "
            "answered",
        ),
        R.UNKNOWN: ReasonPolicy(
            hard=False,
            blocks=True,
            block_for=3 * _H,
            why="a bounce whose reason could not be read: block briefly, look at the diagnostic",
        ),
    }
)

#: The reasons that are hard failures (the address is wrong, not the moment).
HARD_REASONS = frozenset(r for r, p in REASONS.items() if p.hard)

#: Sisimai's reason names (https://libsisimai.org/en/reason/) -> helpmail's, as DESIGN.md says.
SISIMAI_REASONS: Mapping[str, BounceReason] = MappingProxyType(
    {
        "userunknown": R.USER_UNKNOWN,
        "hasmoved": R.USER_UNKNOWN,
        "hostunknown": R.DOMAIN_UNKNOWN,
        "notaccept": R.DOMAIN_UNKNOWN,
        "mailboxfull": R.MAILBOX_FULL,
        "systemfull": R.SERVER_FULL,
        "norelaying": R.RELAY_DENIED,
        "mesgtoobig": R.TOO_BIG,
        "exceedlimit": R.TOO_BIG,
        "suspend": R.ACCOUNT_DISABLED,
        **dict.fromkeys(
            (
                "blocked",
                "rejected",
                "filtered",
                "spamdetected",
                "virusdetected",
                "policyviolation",
                "securityerror",
                "authfailure",
                "requireptr",
                "badreputation",
                "notcompliantrfc",
                "contenterror",
                "syntaxerror",
                "failedstarttls",
            ),
            R.REJECTED_POLICY,
        ),
        **dict.fromkeys(
            ("expired", "networkerror", "systemerror", "toomanyconn", "speeding", "mailererror"),
            R.TRANSIENT,
        ),
        "suppressed": R.SUPPRESSED,
        "onhold": R.UNKNOWN,
        "undefined": R.UNKNOWN,
    }
)


def _rx(*alternatives: str) -> re.Pattern[str]:
    """One case-insensitive regex from plain alternatives (each linear: no nested quantifiers)."""
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)


#: Ordered text patterns: the first row whose regex matches the diagnostic text decides.
#: Specific wordings come before generic ones (a full mailbox before "rejected", a dead domain
#: before "does not exist"). White space in the text is collapsed to single spaces first.
TEXT_PATTERNS: tuple[tuple[BounceReason, re.Pattern[str]], ...] = (
    # Our *sender* was refused (RFC 5321 §3.3 MAIL FROM, RFC 5322 §3.6.2 From): never the
    # recipient's fault, so it comes before every wording about addresses.
    (
        R.REJECTED_POLICY,
        _rx(
            r"provide a valid from",
            r"sender (?:address |domain )?(?:was |is )?(?:rejected|invalid|"
            r"refused|denied|unknown|not allowed|blocked)",
            r"domain of sender address",
            r"sender verify failed",
            r"from: domain is invalid",
            r"mismatch(?:es)? client ip",
            r"multiple addresses in from",
            r"unknown sender",
            r"sender address rejected",
            r"envelope sender",
            r"sender (?:is )?(?:on|in) (?:a |the )?(?:block|black|deny)",
            r"your (?:ip|domain|server) (?:address )?(?:has been |is |was )?"
            r"(?:blocked|listed|banned)",
            r"service refused",
            r"purported responsible address",
        ),
    ),
    # A limit *because of* reputation or an unverifiable sending host is a reputation block that
    # throttles: the cause decides, not the throttling (Microsoft "451 4.7.650 ... rate limited
    # due to IP reputation"; Yahoo "[TSS04] Messages from ... temporarily deferred due to user
    # complaints"; "service permits 2 unverifyable sending IPs", a PTR check).
    (
        R.REJECTED_POLICY,
        _rx(
            r"(?:because of|due to) (?:(?:your|the|our|poor|bad|low|ip|sender|sending) ){0,3}"
            r"reputation",
            r"(?:user|spam) complaints",
            r"unverif(?:y|i)able sending ip",
        ),
    ),
    # Rate limits before "blocked" (Tencent: "Ip frequency limited ... Blocked").
    (
        R.TRANSIENT,
        _rx(
            r"frequency limited",
            # a local delivery program failed (Sendmail's "Diagnostic-Code: X-Unix; 77", procmail):
            # a mailer error on their side, not a verdict on the address
            r"^\d{1,3}$",
            r"command output:",
            r"procmail:",
            r"couldn'?t create",
            r"insufficient permission",
            r"receiving mail at a rate",
            r"rate limit(?:ed)? exceeded",
            r"rate limit",
            r"too many (?:connections|concurrent|sessions|messages|mails|emails)",
            r"hop count exceeded",
            r"possible mail loop",
            r"loops back to myself",
            r"too many hops",
        ),
    ),
    (
        R.SUPPRESSED,
        _rx(
            r"suppression list",
            r"(?:has |have )?suppressed sending",
            r"address is suppressed",
            r"recipient is suppressed",
            r"on (?:the|our|your|an) (?:account[- ]level )?suppress",
            r"suppressed (?:address|recipient|due to)",
        ),
    ),
    (
        R.RELAY_DENIED,
        _rx(
            r"relay(?:ing)? (?:access )?"
            r"(?:denied|not (?:permitted|allowed|authori[sz]ed)|prohibited)",
            r"unable to relay",
            r"(?:we|i) do not relay",
            r"not permitted to relay",
            r"no relaying",
            r"relay not (?:permitted|allowed)",
            r"cannot relay",
            r"relaying (?:mail )?(?:to|from) "
            r"\S+ (?:is )?(?:not allowed|denied|prohibited)",
            r"not (?:a )?local (?:host|domain)",
            r"relay access denied",
            r"denied relay",
            r"sorry, that domain isn'?t in my list of allowed rcpthosts",
            r"does not (?:accept|relay) mail for",
            # a sending service refuses to send for an identity it has not verified (Amazon
            # SES: "Email address is not verified. The following identities failed the
            # check"): our relay refuses us, the recipient is fine
            r"identities failed the check",
            r"message rejected: email address is not verified",
        ),
    ),
    (
        R.MAILBOX_FULL,
        _rx(
            r"mail ?box (?:is |was )?(?:full|over ?quota|overfull)",
            r"mailbox size limit",
            r"over ?quota",
            r"quota (?:exceeded|full|limit)",
            r"exceeded (?:the |its |his |her )?"
            r"(?:storage|quota|mailbox)",
            r"(?:disk|mailbox|storage) quota",
            r"account is full",
            r"mail ?box (?:has )?exceeded",
            r"mailfolder is full",
            r"full mail ?box",
            r"(?:user|recipient)(?:'s)? (?:mail ?box|account|storage) is full",
            r"is over (?:the |its )?"
            r"(?:storage )?(?:quota|limit)",
            r"too many messages (?:in|on) (?:this|the|his|her) "
            r"(?:mail ?box|account)",
            r"not enough (?:storage|space) (?:in|on) (?:the |this )?"
            r"(?:mail ?box|account)",
            r"inbox is full",
            # Sisimai's MailboxFull wording for a disk that holds the mailbox
            r"not (?:enough|sufficient) disk space",
            r"mailbox unavailable or full",
            r"exceeds? (?:the |its )?(?:mail ?box|storage|disk) (?:size|quota|limit|space)",
            r"user has (?:too many messages|exhausted allowed storage)",
            r"out of (?:storage|quota)",
            r"maildir over quota",
            r"mail ?box (?:storage )?limit",
            r"insufficient (?:disk )?space "
            r"(?:in|for) (?:the )?(?:recipient|user|mail ?box)",
            r"storage (?:limit|space) "
            r"(?:has been )?(?:reached|exceeded)",
            r"boite (?:de reception )?pleine",
            r"exceeding its mailbox quota",
            r"user mailbox exceeds allowed size",
            r"recipient storage full",
            r"requested mail action aborted: exceeded storage",
        ),
    ),
    (
        R.SERVER_FULL,
        _rx(
            r"insufficient system (?:storage|resources)",
            r"no space left on device",
            r"(?:mail )?system (?:is )?full",
            r"out of (?:disk|memory)",
            r"disk (?:is )?full",
            r"insufficient (?:disk )?space",
            r"file system full",
            r"server (?:storage )?is full",
        ),
    ),
    (
        R.TOO_BIG,
        _rx(
            r"message (?:is |was )?too (?:big|large|long)",
            r"(?:message|mail|data|email) size "
            r"(?:exceeds|limit|too|is larger)",
            r"exceeds? (?:the )?(?:maximum |max )?(?:allowed )?"
            r"(?:message |mail |email )?size",
            r"size (?:limit )?exceeded",
            r"too much mail data",
            r"message length exceeds",
            r"message exceeds (?:the )?(?:fixed |local )?(?:maximum|limit)",
            r"exceeds? (?:the )?size limit",
            r"message (?:header )?size exceeds",
            r"larger than (?:the )?(?:maximum|allowed|limit)",
            r"maximum message size",
            r"mail too large",
            r"message too big",
        ),
    ),
    (
        R.ACCOUNT_DISABLED,
        _rx(
            r"(?:account|mail ?box|user|recipient|address) (?:has been |is |was )?(?:currently )?"
            r"(?:disabled|suspended|deactivated|inactive|locked|frozen|closed|expired|not active|"
            r"discontinued|de-?activated|on hold|blocked by (?:the )?administrator)",
            r"(?:disabled|suspended|inactive|deactivated|locked|closed|expired) "
            r"(?:account|mail ?box|"
            r"user|recipient)",
            r"account (?:has been )?disabled or discontinued",
            r"mailbox (?:currently )?suspended",
            r"is not an active (?:user|account)",
            r"user is (?:inactive|suspended|terminated)",
            r"boite du destinataire archivee",
            r"this account is not allowed",
            r"(?:mailbox|account) (?:is )?temporarily disabled",
            r"has been (?:suspended|disabled|terminated)",
            r"account (?:is )?unavailable",
            r"tried to reach is (?:disabled|inactive|suspended)",
            r"recipient account is blocked",
            # "User kijitora@example.com temporary locked. Please try again later!" (a locked
            # account: it exists, it is not a busy server)
            # (a *user* or *account*: "mailbox locked" is also a busy file lock, Dovecot's)
            r"(?:account|user) (?:\S+ )?(?:is |has been )?temporar(?:y|ily) locked",
            r"compte du destinataire est bloque",
        ),
    ),
    (
        R.DOMAIN_UNKNOWN,
        _rx(
            r"host (?:or domain name )?not found",
            r"domain (?:name )?not found",
            r"(?:domain|host) (?:name )?(?:does not|doesn'?t|did not) exist",
            r"unknown (?:host|domain)",
            r"name or service not known",
            r"no such (?:host|domain)",
            r"host unknown",
            r"unrouteable (?:mail )?domain",
            r"unroutable (?:mail )?domain",
            r"invalid (?:recipient )?domain",
            r"domain (?:is )?(?:invalid|not valid|unknown)",
            r"nxdomain",
            r"no (?:valid )?mx (?:record|host)",
            r"mx lookup failed",
            r"null mx",
            r"does not accept (?:any )?(?:e-?)?mail",
            r"not accepting (?:network )?messages",
            r"dns (?:lookup|resolution) (?:failed|error)",
            r"recipient domain (?:must|does not) exist",
            r"bad destination (?:host|system)",
            r"domain (?:has )?no (?:mail|mx)",
            r"no route to (?:the )?domain",
            r"unrouteable address",
            r"unroutable address",
            r"all relevant mx records point to non-existent hosts",
            r"illegal host/domain name",
            r"could not find an? (?:mx|mail exchanger)",
            r"couldn'?t find any host named",
            r"host name lookup failure",
            r"hostname lookup failed",
            r"domain lookup failed",
            r"account or domain may not exist",
            r"indicated no smtp service",
            r"no smtp service",
            r"domain is not reachable",
            r"(?<![@\w.-])[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,8} "
            r"does not exist",
        ),
    ),
    (
        R.USER_UNKNOWN,
        _rx(
            r"user (?:is )?unknown",
            r"unknown (?:user|recipient|mail ?box|local[- ]?part|address|alias|"
            r"account|e-?mail address|or illegal alias)",
            r"no such (?:user|mail ?box|recipient|account|address|person|local user|e-?mail)",
            r"(?:user|mail ?box|recipient|account|address|addressee|e-?mail(?: address)?|"
            r"local part|"
            r"person) (?:name )?(?:\S+ )?(?:does not|doesn'?t|did not|not) exists?",
            r"(?:user|mail ?box|recipient|address|account|addressee) (?:was |is )?not found",
            r"invalid (?:recipient|mail ?box|user|address|e-?mail address|account)",
            r"(?:recipient|address|mailbox|user) (?:is )?"
            r"(?:invalid|not valid|unavailable|not local)",
            r"addressee unknown",
            r"not a valid (?:user|mail ?box|recipient|address|account)",
            r"no mail ?box (?:here|by that name|found)",
            r"mailbox not available",
            r"user not (?:found|known|exist|listed)",
            r"(?:user|recipient) (?:\S+ )?(?:doesn'?t|does not)"
            r" have (?:a|an) \S+ account",
            r"email account that you tried to reach does not exist",
            r"recipient not (?:found|known|exist|listed)",
            r"is not a (?:known|valid) (?:user|recipient)",
            r"bad (?:recipient|destination mail ?box|address)",
            r"(?:user|address) has moved",
            r"has (?:been )?(?:moved|disconnected)",
            r"no longer (?:with|at|employed|in use|"
            r"exists|valid|available|active)",
            r"address (?:is )?no longer",
            r"recipient address rejected: (?:user unknown|undeliverable|access denied|"
            r"unknown|invalid)",
            r"unknown in (?:local|virtual|relay) (?:recipient|mailbox|alias)",
            r"mailbox (?:is )?unavailable",
            r"mailbox (?:does not|doesn'?t) exist",
            r"no account by that name",
            r"no such address",
            r"not our customer",
            r"rejected: user unknown",
            r"recipient unknown",
            r"sorry, no mailbox here by that name",
            r"destin(?:ation|atario) (?:unknown|inexistente?|no existe)",
            r"utilisateur inconnu",
            r"doesn'?t have an? \S+ account",
            r"not a valid mailbox",
            r"address not present",
            r"unknown or invalid",
            r"is not a valid e-?mail",
            r"requested action not taken: "
            r"mailbox unavailable",
            r"mailbox name not allowed",
            r"we do not have a user",
            r"recipient rejected",
            r"no valid recipients",
            r"invalid mailbox",
            r"user invalid",
            r"invalid (?:final )?(?:delivery )?userid",
            r"not listed in (?:the )?(?:[\w-]+ )?(?:directory|address book|public names)",
            r"not a registered (?:[\w-]+ )?user",
            r"not our user",
            r"(?<!sender )address rejected(?![:\w])",
            r"couldn'?t be found, or is unable to receive mail",
        ),
    ),
    (
        R.REJECTED_POLICY,
        _rx(
            r"spam",
            r"block(?:ed|list|listed)",
            r"black ?list",
            r"deny ?list",
            r"\brbl\b",
            r"\bdnsbl\b",
            r"spamhaus",
            r"spamcop",
            r"barracuda",
            r"policy",
            r"not authori[sz]ed",
            r"access denied",
            r"\bdmarc\b",
            r"\bspf\b",
            r"\bdkim\b",
            r"authentication (?:required|"
            r"failed|failure)",
            r"\bptr\b",
            r"reverse (?:dns|lookup|hostname)",
            r"rdns",
            r"virus",
            r"malware",
            r"infected",
            r"content (?:rejected|filter)",
            r"reputation",
            r"banned",
            r"unsolicited",
            r"starttls",
            r"tls (?:is )?required",
            r"encryption required",
            r"syntax error",
            r"\brfc ?(?:5322|2822|822)\b(?![;=])",
            r"bare lf",
            r"line too long",
            r"not compliant",
            r"bulk mail",
            r"listed (?:at|in|on|by)",
            r"poor reputation",
            r"suspicious",
            r"phishing",
            r"domain of sender address",
            r"sender (?:domain )?(?:verify|verification)",
            r"recipient preferences",
            r"unauthenticated",
            r"invalid (?:sender|from)",
            r"protocol violation",
            r"improper sequence",
            r"command (?:parameter )?not (?:implemented|recognized)",
            r"not verified",
            r"envelope (?:sender|from)",
            r"badrcptto",
            r"mail from .{0,60} (?:rejected|refused|denied)",
            r"blacklisted",
        ),
    ),
    (
        R.TRANSIENT,
        _rx(
            r"timed? ?out",
            r"frequency limited",
            r"receiving mail at a rate",
            r"name service error",
            r"did not accept our requests to connect",
            r"not (?:been )?delivered within",
            r"(?:host|server) (?:is )?not responding",
            r"(?:host|server) (?:is )?(?:not reachable|unreachable)",
            r"time-?out",
            r"connection (?:refused|reset|timed out|lost|closed|dropped)",
            r"too many (?:connections|concurrent|sessions|recipients|messages|mails|emails)",
            r"rate limit",
            r"rate exceeded",
            r"try (?:again )?later",
            r"please try again",
            r"temporar(?:il)?y "
            r"(?:unavailable|failure|deferred|rejected|error|blocked|not available)",
            r"temporary (?:failure|error|problem|local problem)",
            r"service (?:is )?currently unavailable",
            r"service (?:not available|"
            r"unavailable|temporarily)",
            r"resources temporarily",
            r"deferred",
            r"retry (?:time(?:out)?|timeout) exceeded",
            r"message expired",
            r"delivery time expired",
            r"could not be delivered within",
            r"(?:was|been) undeliverable for",
            r"network (?:is )?unreachable",
            r"no route to host",
            r"host is down",
            r"server (?:is )?busy",
            r"local error",
            r"system error",
            r"mailer error",
            r"command (?:died|failed)",
            r"pipe to",
            r"lost connection",
            r"i/o error",
            r"loops back to myself",
            r"too many hops",
            r"mail (?:forwarding )?loop",
            r"routing loop",
            r"internal (?:server )?error",
            r"could not connect",
            r"unable to connect",
            r"connection (?:attempt )?failed",
            r"exceeded (?:the )?(?:maximum )?(?:retry|time)",
            r"expired",
            r"greylist",
            r"throttl",
            r"insufficient resources",
            r"congestion",
            r"shutting down",
            r"transaction failed",
            r"delivery (?:temporarily )?(?:suspended|deferred)",
            r"giving up",
            r"retry limit",
            r"unable to deliver (?:in|within)",
            r"not yet been delivered",
            r"hasn'?t been delivered",
            r"delivery (?:is )?delayed",
        ),
    ),
)

#: Broad words, matched only after the status code had its say (a ``5.1.1`` "Recipient address
#: rejected" is an unknown user, not a policy rejection).
FALLBACK_PATTERNS: tuple[tuple[BounceReason, re.Pattern[str]], ...] = (
    (
        R.REJECTED_POLICY,
        _rx(
            r"denied",
            r"rejected",
            r"refused",
            r"prohibited",
            r"forbidden",
            r"not allowed",
            r"junk",
            r"filtered",
            r"security",
            r"header",
            r"message content",
            r"attachment",
            r"abuse",
        ),
    ),
)

#: Providers whose bounces mean one thing whatever their text says, by a header of the bounce:
#: ``(header, regex on its value, reason)``. Google Groups answers "the group may not exist, or
#: you may not have permission to post" -- a refusal, not a dead address.
PROVIDER_REASONS: tuple[tuple[str, re.Pattern[str], BounceReason], ...] = (
    ("X-Google-Group-Id", re.compile(r"."), R.REJECTED_POLICY),
    (
        "From",
        re.compile(r"mail-noreply@google\.com|googlegroups", re.IGNORECASE),
        R.REJECTED_POLICY,
    ),
)

#: Enhanced status codes (RFC 3463 §3.x) by ``subject.detail``. Class (2/4/5) is read apart.
STATUS_REASONS: Mapping[str, BounceReason] = MappingProxyType(
    {
        "1.1": R.USER_UNKNOWN,  # bad destination mailbox address
        "1.2": R.DOMAIN_UNKNOWN,  # bad destination system address
        "1.3": R.USER_UNKNOWN,  # bad destination mailbox address syntax
        "1.4": R.USER_UNKNOWN,  # destination mailbox address ambiguous
        "1.6": R.USER_UNKNOWN,  # destination mailbox has moved, no forwarding address
        "1.7": R.REJECTED_POLICY,  # bad sender's mailbox address syntax
        "1.8": R.REJECTED_POLICY,  # bad sender's system address
        "1.10": R.DOMAIN_UNKNOWN,  # recipient address has null MX (RFC 7505 §3)
        # X.2.0 "other mailbox status": the mailbox exists; in practice carriers' domain filters
        # (Sisimai's "filtered"), so a refusal, not a dead address.
        "2.0": R.REJECTED_POLICY,
        "2.1": R.ACCOUNT_DISABLED,  # mailbox disabled, not accepting messages
        "2.2": R.MAILBOX_FULL,  # mailbox full
        "2.3": R.TOO_BIG,  # message length exceeds administrative limit
        "2.4": R.TRANSIENT,  # mailing list expansion problem
        "3.1": R.SERVER_FULL,  # mail system full
        "3.2": R.DOMAIN_UNKNOWN,  # system not accepting network messages
        "3.3": R.TRANSIENT,  # system not capable of selected features
        "3.4": R.TOO_BIG,  # message too big for system
        "3.5": R.TRANSIENT,  # system incorrectly configured
        "4.1": R.TRANSIENT,  # no answer from host
        "4.2": R.TRANSIENT,  # bad connection
        "4.3": R.TRANSIENT,  # directory server failure
        "4.4": R.DOMAIN_UNKNOWN,  # unable to route
        "4.5": R.TRANSIENT,  # mail system congestion
        "4.6": R.TRANSIENT,  # routing loop detected
        "4.7": R.TRANSIENT,  # delivery time expired
        "5.1": R.REJECTED_POLICY,  # invalid command
        "5.2": R.REJECTED_POLICY,  # syntax error
        "5.3": R.TRANSIENT,  # too many recipients
        "5.4": R.REJECTED_POLICY,  # invalid command arguments
        "5.5": R.REJECTED_POLICY,  # wrong protocol version
        "5.6": R.REJECTED_POLICY,  # authentication exchange line too long (RFC 4954)
        "6.1": R.REJECTED_POLICY,
        "6.2": R.REJECTED_POLICY,
        "6.3": R.REJECTED_POLICY,
        "6.4": R.REJECTED_POLICY,
        "6.5": R.REJECTED_POLICY,
        "6.6": R.REJECTED_POLICY,
        "7.2": R.REJECTED_POLICY,  # mailing list expansion prohibited
        "7.3": R.REJECTED_POLICY,  # security conversion required but not possible
        "7.4": R.REJECTED_POLICY,
        "7.5": R.REJECTED_POLICY,
        "7.6": R.REJECTED_POLICY,
        "7.7": R.REJECTED_POLICY,  # message integrity failure
        "7.8": R.REJECTED_POLICY,  # authentication credentials invalid (RFC 4954)
        "7.9": R.REJECTED_POLICY,
        "7.10": R.REJECTED_POLICY,
        "7.11": R.REJECTED_POLICY,
        "7.13": R.ACCOUNT_DISABLED,  # user account disabled (RFC 3463 update, RFC 5248 registry)
        "7.14": R.REJECTED_POLICY,  # trust relationship required
        "7.15": R.REJECTED_POLICY,
        "7.16": R.MAILBOX_FULL,
        "7.17": R.USER_UNKNOWN,
        "7.18": R.USER_UNKNOWN,
        "7.19": R.REJECTED_POLICY,
        **{f"7.{n}": R.REJECTED_POLICY for n in range(20, 31)},  # DKIM/SPF/DMARC/PTR (RFC 7372)
    }
)

#: Statuses that name no specific cause (``X.0.0`` "other", ``X.7.1`` "delivery not authorised",
#: which servers send for spam, unknown users and blocklists alike): the text decides.
GENERIC_STATUSES = frozenset(
    {"0.0", "1.0", "2.0", "3.0", "4.0", "5.0", "6.0", "7.0", "7.1", "1.1", "4.4", "4.7", "4.1"}
)

#: Wording that names a condition which is permanent by definition, whatever the class of the
#: status beside it. RFC 7505 §4.1: a domain that publishes a null MX accepts no mail, and an
#: SMTP client "MUST NOT" attempt delivery; Gmail still reports it with ``4.0.0``. Such a reason
#: is kept (it stays soft: the status was temporary), instead of turning into ``transient``.
PERMANENT_BY_DEFINITION: tuple[tuple[BounceReason, re.Pattern[str]], ...] = (
    (R.DOMAIN_UNKNOWN, _rx(r"null mx", r"rfc ?7505")),
)

#: Bare SMTP reply codes (RFC 5321 §4.2.3) when there is neither a status nor a telling text.
REPLY_CODE_REASONS: Mapping[str, BounceReason] = MappingProxyType(
    {
        "421": R.TRANSIENT,
        "450": R.TRANSIENT,
        "451": R.TRANSIENT,
        "452": R.SERVER_FULL,
        "454": R.TRANSIENT,
        "550": R.UNKNOWN,
        "551": R.USER_UNKNOWN,
        "552": R.MAILBOX_FULL,
        "553": R.USER_UNKNOWN,
        "554": R.UNKNOWN,
        "556": R.DOMAIN_UNKNOWN,
    }
)


_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SPACE = re.compile(r"\s+")

_VERB = (
    r"(end\s+of\s+data|final\s+data|data|rcpt\s+to|mail\s+from|rcpt|mail|helo|ehlo|starttls|"
    r"initial\s+connection)\b"
)

#: Where MTAs say which SMTP command a refusal answered, as data: ``(who writes it, regex)``;
#: each regex has one group, the command's words (mapped by :data:`COMMAND_WORDS`). White space
#: may wrap (Postfix folds its long lines). Loose forms require the verb in capitals, as servers
#: write it, so prose ("in mail from a friend") is not read as a command.
COMMAND_PHRASES: tuple[tuple[str, str], ...] = (
    # Postfix: "(in reply to RCPT TO command)", "(in reply to end of DATA command)"
    ("postfix", r"\bin\s+reply\s+to\s+(?:the\s+)?" + _VERB),
    # Exim: "SMTP error from remote mail server after RCPT TO:<...>:", "after pipelined RCPT
    # TO:<...>", "after end of data:", "after initial connection:"; GMX/Mail.ru "after RCPT
    # command"
    ("exim", r"\bafter\s+(?:our\s+|pipelined\s+)?" + _VERB),
    # DragonFly DMA: "did not like our RCPT TO:", "did not like our final DATA:"
    ("dma", r"\bdid\s+not\s+like\s+our\s+" + _VERB),
    # Session transcripts: Sendmail ">>> RCPT To:<...>", Postfix smtpd " In:  RCPT TO:<...>",
    # InterScan "Sent <<< RCPT TO:<...>" (indented in some reports)
    ("transcript", r"^[ \t]*(?:>{3,4}|in:|sent[ \t]+<<<)[ \t]*" + _VERB),
    # qmail-remote: "... does not like recipient." / "does not like sender."; "most progress was
    # RCPT TO response"; "192.0.2.32 said 550 for RCPT TO response"
    ("qmail", r"\bdoes\s+not\s+like\s+(recipient|sender)\b"),
    ("qmail", r"(?-i:\b(RCPT\s+TO|MAIL\s+FROM|DATA)\s+response\b)"),
    # Yahoo "[RCPT_TO]"; "SMTP:RCPT host 192.0.2.8: 553 ..."; "(DATA)"; "User unknown in RCPT TO"
    ("bracketed", r"\[(rcpt_to|mail_from|data)\]"),
    ("bracketed", r"(?-i:\bSMTP:(RCPT|MAIL|DATA)\b)"),
    ("bracketed", r"(?-i:\((RCPT\s+TO|MAIL\s+FROM|DATA)\))"),
    ("bracketed", r"(?-i:\bin\s+(RCPT\s+TO|MAIL\s+FROM)\b)"),
    # Oracle/Sun Messaging Server: "Remote SMTP server has rejected address" (the recipient, at
    # RCPT TO), "Server rejected MAIL FROM address"
    ("messaging-server", r"\brejected\s+(mail\s+from)\s+address"),
    ("messaging-server", r"\bserver\s+has\s+rejected\s+(address)\b"),
)
_COMMAND = re.compile(
    "|".join(f"(?:{pattern})" for _, pattern in COMMAND_PHRASES), re.IGNORECASE | re.MULTILINE
)

#: The command words of :data:`COMMAND_PHRASES` -> :class:`SmtpCommand`.
COMMAND_WORDS: Mapping[str, SmtpCommand] = MappingProxyType(
    {
        "end of data": SmtpCommand.DATA,
        "final data": SmtpCommand.DATA,
        # A bare DATA is not proof: with pipelining (RFC 2920) the RCPT answers arrive after it.
        "data": SmtpCommand.DATA_COMMAND,
        "rcpt to": SmtpCommand.RCPT,
        "rcpt": SmtpCommand.RCPT,
        "rcpt_to": SmtpCommand.RCPT,
        "recipient": SmtpCommand.RCPT,
        "address": SmtpCommand.RCPT,
        "mail from": SmtpCommand.MAIL,
        "mail": SmtpCommand.MAIL,
        "mail_from": SmtpCommand.MAIL,
        "sender": SmtpCommand.MAIL,
        "helo": SmtpCommand.HELO,
        "ehlo": SmtpCommand.HELO,
        "starttls": SmtpCommand.HELO,
        "initial connection": SmtpCommand.CONNECT,
    }
)

#: Content-filter gateways, recognised by a header of their bounce: ``(header, regex)``. They
#: accept mail and relay it, so whatever they refuse they refuse after DATA (RFC 5321 §3.3), and
#: their "unknown user" also covers their own filter rules: it reads as a refusal, not a dead
#: mailbox (Sisimai's "filtered" for the same MTAs).
FILTERING_GATEWAYS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("X-NAI-Header", re.compile(r"mcafee", re.IGNORECASE)),
    ("X-Mailer", re.compile(r"m-filter|surfcontrol", re.IGNORECASE)),
    ("From", re.compile(r"@[\w.-]*mxlogic\.net", re.IGNORECASE)),
    ("Received", re.compile(r"\(mailfoundry\)", re.IGNORECASE)),
)

#: Recipient domains whose refusals mean one thing (:data:`PROVIDER_REASONS` is by header).
RECIPIENT_DOMAIN_REASONS: Mapping[str, BounceReason] = MappingProxyType(
    {"googlegroups.com": R.REJECTED_POLICY}
)


_FAILURE_STATUS = re.compile(r"\b([45])\.(\d{1,3})\.(\d{1,3})\b")


def normalise_status(status: str | None, *, failures_only: bool = False) -> str | None:
    """The first RFC 3463 enhanced status code in ``status`` (``"5.1.1"``), or ``None``; with
    ``failures_only`` the first ``4.X.X`` or ``5.X.X`` (transcripts also hold ``250 2.1.5 Ok``)."""
    if not status:
        return None
    match = (_FAILURE_STATUS if failures_only else _STATUS).search(status)
    if match is None:
        return None
    return f"{match[1]}.{int(match[2])}.{int(match[3])}"


#: An error reply in a session transcript: Sendmail "<<< 550 ...", Postfix smtpd " Out: 550 ...",
#: InterScan "Received >>> 550 ...".
_ERROR_REPLY = re.compile(
    r"^[ \t]*(?:<<<|out:|received[ \t]+>>>)[ \t]*[45]\d\d", re.IGNORECASE | re.MULTILINE
)
#: The server's answer to DATA when it refused every recipient before (RFC 5321 §3.3: "503
#: command out of sequence" or "554 no valid recipients"): proof that the error replies before
#: it answered pipelined RCPT TO commands (RFC 2920 §3.1), not the DATA.
_NO_RECIPIENTS = re.compile(
    r"^[ \t]*(?:<<<|out:|received[ \t]+>>>)[ \t]*(?:503|554)\b[^\n]{0,40}?"
    r"(?:need\s+rcpt|rcpt\s+first|no\s+valid\s+recipients|start\s+afresh)",
    re.IGNORECASE | re.MULTILINE,
)


def smtp_command(text: str | None, address: str | None = None) -> SmtpCommand | None:
    """The SMTP command a refusal answered (:class:`SmtpCommand`), when the text says so
    (:data:`COMMAND_PHRASES`).

    In a session transcript (``>>>`` / ``<<<``, ``In:`` / ``Out:`` lines) it is the last command
    before the error reply -- the first one naming ``address`` when given, else the first one.
    A ``DATA`` there followed by a 503/554 "need RCPT" answer means the error before it answered
    a pipelined ``RCPT TO`` (RFC 2920 §3.1, RFC 5321 §3.3). Elsewhere the first mention counts.
    """
    if not text:
        return None
    errors = list(itertools.islice(_ERROR_REPLY.finditer(text), 50))
    if errors:
        error = errors[0]
        if address:
            wanted = address.lower()
            for candidate in errors:
                line_end = text.find("\n", candidate.start())
                line = text[candidate.start() : line_end if line_end >= 0 else len(text)]
                if wanted in line.lower():
                    error = candidate
                    break
        found = list(_COMMAND.finditer(text, 0, error.start()))
        if found:
            command = _command_name(found[-1])
            if command is SmtpCommand.DATA_COMMAND and _NO_RECIPIENTS.search(text, error.end()):
                return SmtpCommand.RCPT
            return command
    match = _COMMAND.search(text)
    return None if match is None else _command_name(match)


def _command_name(match: re.Match[str]) -> SmtpCommand | None:
    word = next(g for g in match.groups() if g)
    return COMMAND_WORDS.get(" ".join(word.lower().split()))


def _first(
    table: tuple[tuple[BounceReason, re.Pattern[str]], ...], flat: str
) -> BounceReason | None:
    for reason, pattern in table:
        if pattern.search(flat):
            return reason
    return None


@functools.lru_cache(maxsize=4096)
def _specific(flat: str) -> BounceReason | None:
    """:data:`TEXT_PATTERNS` on collapsed text (cached: a report's text recurs for every
    recipient, and large alternations are not cheap in ``re``)."""
    return _first(TEXT_PATTERNS, flat) if flat else None


@functools.lru_cache(maxsize=4096)
def _broad(flat: str) -> BounceReason | None:
    return _first(FALLBACK_PATTERNS, flat) if flat else None


#: A remote server's own reply quoted inside a relay's diagnostic: "550-'5.7.1 ..." or
#: "said: 550 5.7.1 ...", a reply code and an enhanced status.
_QUOTED_REPLY = re.compile(r"\b[45]\d\d[ -]['\"]?[45]\.\d{1,3}\.\d{1,3}\b")


def _remote_reply(flat: str) -> str:
    """The remote server's reply when a relay quotes it after words of its own (Amazon SES:
    "5.1.0 - Unknown address error 550-'5.7.1 <bounce@...>... Access denied'"): the server that
    refused knows why; the relay's label is its guess. Empty when nothing is quoted after a
    prefix."""
    match = _QUOTED_REPLY.search(flat, 1)
    return flat[match.start() :] if match is not None else ""


#: Soft reasons whose wording in a report's own notification text outweighs a per-recipient
#: "unknown user" (:func:`soft_reason_in_report`).
REPORT_SOFT_REASONS = (R.MAILBOX_FULL, R.SERVER_FULL, R.ACCOUNT_DISABLED, R.RELAY_DENIED)


_REPORT_SOFT_PATTERNS = tuple((r, p) for r, p in TEXT_PATTERNS if r in REPORT_SOFT_REASONS)


@functools.lru_cache(maxsize=1024)
def soft_reason_in_report(report: str) -> BounceReason | None:
    """The first of :data:`REPORT_SOFT_REASONS` whose :data:`TEXT_PATTERNS` wording is in
    ``report`` (white space collapsed), else ``None``."""
    flat = _SPACE.sub(" ", report)
    for reason, pattern in _REPORT_SOFT_PATTERNS:
        if reason in REPORT_SOFT_REASONS and pattern.search(flat):
            return reason
    return None


def reason_from_text(text: str | None) -> BounceReason | None:
    """The first :data:`TEXT_PATTERNS` row that matches ``text`` (white space collapsed)."""
    if not text:
        return None
    return _specific(_SPACE.sub(" ", text))


def reason_from_status(status: str | None) -> BounceReason | None:
    """The reason an enhanced status code names, or ``None`` for an unknown code."""
    code = normalise_status(status)
    if code is None:
        return None
    return STATUS_REASONS.get(code.partition(".")[2])


#: What a remote server's "unknown user" is taken for when nothing confirms it: no refusal at
#: ``RCPT TO``, no ``X.1.X`` status, and the report does not say which command was refused
#: (:func:`_weigh_user_unknown`). Soft, as Sisimai reads it ("filtered"): after ``DATA`` the same
#: words come from filters, and a wrong hard block silences a good address until someone clears
#: it, while a wrong soft one costs a retry in 3 h and an operator alert.
UNCONFIRMED_USER_UNKNOWN = R.REJECTED_POLICY


#: Reply codes that speak about the mailbox name itself (RFC 5321 §4.2.2).
_ADDRESS_REPLIES = frozenset({"551", "553"})

#: Wording that a provider uses only for a mailbox that does not exist, whatever the stage of
#: the dialogue it is said at (Sisimai keeps the same knowledge in its per-provider "rhost"
#: modules). Yahoo answers a nonexistent account after the end of DATA ("554 delivery error: dd
#: This user doesn't have a yahoo.com account"); Gmail and Microsoft name their own lookups.
PROVIDER_USER_UNKNOWN = _rx(
    r"delivery error: dd this user doesn'?t have an? \S+ account",
    r"the email account that you tried to reach does not exist",
    r"resolver\.adr\.recip(?:ient)?notfound",
)


def _weigh_user_unknown(
    *,
    detail: str | None,
    command: str | None,
    reply_code: str | None,
    text_said_it: bool,
    echoes_recipient: bool,
    provider_said_it: bool = False,
) -> BounceReason:
    """Whether "unknown user" is a dead mailbox, given the SMTP command and the status.

    Words alone are not enough when other evidence disagrees (RFC 5321 §3.3 says where each check
    happens; RFC 3463 §3 what each status class and subject mean). In order:

    * refused at ``MAIL FROM``: about our sender, not the address -> ``rejected_policy``;
    * an ``X.7.X`` security/policy status (unless the reply is ``553`` "mailbox name not
      allowed", RFC 5321 §4.2.3, which speaks about the address itself) -> ``rejected_policy``;
    * refused at ``RCPT TO``, the stage where servers look mailboxes up, or an ``X.1.X``
      addressing status (RFC 3463 §3.2: the address is bad), or a reply code about the mailbox
      name (RFC 5321 §4.2.2: ``551`` user not local, ``553`` mailbox name not allowed), or a
      provider's wording for a nonexistent account (:data:`PROVIDER_USER_UNKNOWN`), or the
      status or code alone said it (no "unknown user" words to doubt) -> ``user_unknown``;
    * an ``X.2.X`` *mailbox* status (RFC 3463 §3.3: the mailbox exists and has a state --
      ``X.2.1`` disabled, ``X.2.2`` full, ``X.2.0`` other, which carriers' filters send) -> the
      reason the status names: words and status disagree and nothing else decides;
    * refused after ``DATA``: the server had accepted the recipient at ``RCPT TO``; what refuses
      the content is a filter (Sisimai's "filtered") -> ``rejected_policy``. A Sendmail
      transcript's ``>>> DATA`` line counts: Sendmail shows the answer to the end of the data
      under it (its "503 Need RCPT" case is a pipelined ``RCPT TO``, :func:`smtp_command`);
    * the reply repeats the recipient's address in angle brackets ("550 <bob@example.org>: User
      unknown", "550 unknown user <bob@...>"): servers echo the argument of the command they
      answer, and only ``RCPT TO`` has the recipient as its argument (RFC 5321 §4.1.1.3); an
      answer to the message content concerns no single recipient -> ``user_unknown``;
    * a remote server's reply quoted (a reply code) without any of that, command not known ->
      :data:`UNCONFIRMED_USER_UNKNOWN` (soft);
    * no remote reply at all: the reporting system's own verdict on its own directory (Exchange
      "The recipient name is not recognized", Domino "not listed in Domino Directory") ->
      ``user_unknown``.

    This follows Sisimai's UserUnknown/Filtered checks (which read "user unknown" as a dead
    mailbox only at ``RCPT TO`` or with ``X.1.1``); Sisimai's per-MTA modules add the local
    verdicts and the provider wordings, which helpmail reads from the report itself.
    """
    subject = (detail or "").partition(".")[0]
    if command == SmtpCommand.MAIL:
        return R.REJECTED_POLICY
    if subject == "7" and reply_code != "553":
        return R.REJECTED_POLICY
    if (
        command == SmtpCommand.RCPT
        or subject == "1"
        or reply_code in _ADDRESS_REPLIES
        or provider_said_it
        or not text_said_it
    ):
        return R.USER_UNKNOWN
    if subject == "2" and detail is not None:
        return STATUS_REASONS.get(detail, R.REJECTED_POLICY)
    if command in (SmtpCommand.DATA, SmtpCommand.DATA_COMMAND):
        return R.REJECTED_POLICY
    if echoes_recipient:
        return R.USER_UNKNOWN
    return UNCONFIRMED_USER_UNKNOWN if reply_code else R.USER_UNKNOWN


def _echoes(address: str | None, reply: str, around: str = "") -> bool:
    """Whether a server's reply repeats ``address`` in angle brackets after its reply code: in
    the diagnostic ``reply`` anywhere in the reply ("550 unknown user <bob@...>"), in the
    report's other words ``around`` only right after the code ("550 <bob@example.org>: User
    unknown", "550 5.1.1 <bob@...>... User unknown"), where a copy of the original's headers
    may stand nearby. An MTA's own prefix before the code never counts."""
    if not address:
        return False
    target = f"<{re.escape(address)}>"
    if f"<{address.lower()}>" in reply.lower():
        pattern = rf"(?<![\d.])[45]\d\d\b[^<>]{{0,120}}{target}"
        if re.search(pattern, reply, re.IGNORECASE):
            return True
    if f"<{address.lower()}>" in around.lower():
        pattern = rf"(?<![\d.])[45]\d\d[ -]+(?:#?[245]\.\d{{1,3}}\.\d{{1,3}}[ -]+)?{target}"
        return re.search(pattern, around, re.IGNORECASE) is not None
    return False


def decide_reason(
    *,
    status: str | None,
    reply_code: str | None,
    text: str | None,
    context: str | None = None,
    delayed: bool = False,
    command: str | None = None,
    domain: str | None = None,
    final: bool = False,
    address: str | None = None,
) -> tuple[BounceReason, bool]:
    """The reason and hard flag for one bounced recipient.

    ``text`` is the server's diagnostic for this recipient, ``context`` the report's other words
    about it (less exact: a transcript may hold several answers), ``address`` the recipient (a
    reply that repeats it is a witness of a refusal at ``RCPT TO``). Order: a delay warning is
    ``delayed``. Otherwise the specific wording of the diagnostic (:data:`TEXT_PATTERNS`) decides,
    because a code alone does not -- many servers send ``5.0.0``, ``5.7.1`` or ``5.1.1`` for
    everything (DESIGN.md); then the enhanced status code (:data:`STATUS_REASONS`); then the
    specific wording of the context; then broad wording (:data:`FALLBACK_PATTERNS`); then the
    recipient's provider (:data:`RECIPIENT_DOMAIN_REASONS`); then the status class (a ``4.X.X``
    is ``transient`` by definition); then the bare reply code; else ``unknown``.

    Then what the SMTP dialogue (``command``, :class:`~helpmail.bounces.model.SmtpCommand`) and
    the status say corrects it: a failure at ``MAIL FROM`` concerns our sender, not the address;
    "unknown user" is a dead mailbox only with a witness (:func:`_weigh_user_unknown`).

    A temporary status (RFC 3463 §3.1: ``4.X.X``) gives no hard reason: it becomes ``transient``,
    unless its wording is permanent by definition (:data:`PERMANENT_BY_DEFINITION`: it keeps its
    reason and stays soft), or the report is ``final`` -- the sending MTA gave up (RFC 3464
    §2.3.3 ``Action: failed``, not a delay warning) after its retries were answered "user
    unknown" each time: then it is ``user_unknown`` and hard, as the remote server's directory
    has had days to find the mailbox. Hard means user or domain unknown with a permanent status
    (or that final user unknown).
    """
    if delayed:
        return BounceReason.DELAYED, False
    code = normalise_status(status)
    flat = _SPACE.sub(" ", text) if text else ""
    around = _SPACE.sub(" ", context) if context else ""
    from_text = _specific(_remote_reply(flat)) or _specific(flat)
    from_status = reason_from_status(code)
    from_context = None if from_text or from_status else _specific(around)
    reason = (
        from_text
        or from_status
        or from_context
        or _broad(flat)
        or _broad(around)
        or (RECIPIENT_DOMAIN_REASONS.get(domain.lower()) if domain else None)
        or (R.TRANSIENT if (code or "").startswith("4") else None)
        or (REPLY_CODE_REASONS.get(reply_code) if reply_code else None)
        or BounceReason.UNKNOWN
    )
    detail = code.partition(".")[2] if code else None
    if command == SmtpCommand.MAIL and reason in (R.USER_UNKNOWN, R.DOMAIN_UNKNOWN, R.UNKNOWN):
        reason = R.REJECTED_POLICY
    if reason is R.USER_UNKNOWN:
        # a remote server's reply quoted by a relay speaks with its own status
        quoted = normalise_status(_remote_reply(flat), failures_only=True)
        reason = _weigh_user_unknown(
            detail=quoted.partition(".")[2] if quoted else detail,
            command=command,
            reply_code=reply_code,
            text_said_it=from_text is R.USER_UNKNOWN or from_context is R.USER_UNKNOWN,
            echoes_recipient=_echoes(address, flat, around),
            provider_said_it=PROVIDER_USER_UNKNOWN.search(flat) is not None,
        )
    temporary = (code or "").startswith("4") or (not code and (reply_code or "").startswith("4"))
    if temporary and reason in HARD_REASONS:
        if final and reason is R.USER_UNKNOWN:
            return reason, True
        if not _first(PERMANENT_BY_DEFINITION, flat):
            reason = R.TRANSIENT
    return reason, reason in HARD_REASONS and not temporary
