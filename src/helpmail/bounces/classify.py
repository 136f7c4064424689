"""``classify``: is an inbound mail written by a person, or automated -- and which kind?

The rule this module keeps: **classify before any ticket action, first matching rule decides**
(prior-art §4.1). :data:`RULES` is the ordered table; each row names its kind and strength and a
matcher that returns the evidence it found. Only a mail with no evidence at all is ``human``.
Machine markers (headers, report parts, our signed Message-ID) are *strong*; words a person could
type (an "Out of office" subject) are *weak*: enough to hold back automatic answers (DESIGN.md:
"Inbound mail that is helpmail's own, a bounce, an auto-reply or bulk never triggers an automatic
mail"), and the evidence says it was a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

from helpmail.bounces.model import Classification, Evidence, MailKind, Strength
from helpmail.bounces.parse import (
    ACTIONS,
    DSN_TYPES,
    _dsn_groups,
    _looks_like_text_bounce,
    _normalised,
    _view,
    normalise_line_ends,
)
from helpmail.message_ids import looks_like_ours, read_message_id

if TYPE_CHECKING:
    from helpmail.mail.model import InboundMail

#: helpmail's own loop header, set on every mail helpmail sends (DESIGN.md "Loops").
LOOP_HEADER = "X-Helpmail-Loop"


def _key_tuple(value: Iterable[bytes]) -> tuple[bytes, ...]:
    return tuple(value)


def _lower_set(value: Iterable[str]) -> frozenset[str]:
    return frozenset(item.strip().lower() for item in value)


@attrs.frozen(kw_only=True)
class ClassifySettings:
    """What classification needs to know about the desk itself.

    ``keys`` verify helpmail's signed Message-IDs (:func:`helpmail.message_ids.read_message_id`);
    ``own_domains`` are the domains of our Message-IDs; ``system_addresses`` are our own sending
    addresses (support addresses, the bounce address), compared case-insensitively;
    ``loop_token``, when set, is the value our loop header must carry.
    """

    keys: tuple[bytes, ...] = attrs.field(default=(), converter=_key_tuple)
    own_domains: frozenset[str] = attrs.field(default=frozenset(), converter=_lower_set)
    system_addresses: frozenset[str] = attrs.field(default=frozenset(), converter=_lower_set)
    loop_token: str | None = None

    @property
    def system_keys(self) -> frozenset[str]:
        return self.system_addresses


_Found = list[tuple[str, str]]
Matcher = Callable[["InboundMail", ClassifySettings], _Found]


@attrs.frozen(kw_only=True)
class Rule:
    """One row of the classification table: when ``matcher`` finds something, ``kind`` it is."""

    name: str
    kind: MailKind
    strength: Strength
    matcher: Matcher
    doc: str = ""


def _header(name: str, pattern: str | None = None, *, negate: str | None = None) -> Matcher:
    """A matcher for header ``name`` (any value when ``pattern`` is None); values matching
    ``negate`` do not count."""
    rx = re.compile(pattern, re.IGNORECASE) if pattern else None
    neg = re.compile(negate, re.IGNORECASE) if negate else None

    def match(mail: InboundMail, settings: ClassifySettings) -> _Found:
        found: _Found = []
        for value in mail.header_all(name):
            text = value.strip()
            if neg is not None and neg.search(text):
                continue
            if rx is None or rx.search(text):
                found.append((f"header:{name}", text[:200]))
        return found

    return match


def _any(*matchers: Matcher) -> Matcher:
    def match(mail: InboundMail, settings: ClassifySettings) -> _Found:
        for matcher in matchers:
            found = matcher(mail, settings)
            if found:
                return found
        return []

    return match


# --- own loop ----------------------------------------------------------------------------------


def _signed_message_id(mail: InboundMail, settings: ClassifySettings) -> _Found:
    """Our own signed Message-ID on the mail itself: our mail came back (DESIGN.md "Loops")."""
    mid = mail.message_id
    if not mid or not looks_like_ours(mid):
        return []
    if settings.keys and read_message_id(mid, settings.keys) is not None:
        return [("header:Message-ID", f"{mid} (signature verifies)")]
    domain = mid.rpartition("@")[2].lower()
    if domain and domain in settings.own_domains:
        return [("header:Message-ID", f"{mid} (our shape and domain)")]
    return []


def _loop_header(mail: InboundMail, settings: ClassifySettings) -> _Found:
    found: _Found = []
    for value in mail.header_all(LOOP_HEADER):
        if settings.loop_token is None or value.strip() == settings.loop_token:
            found.append((f"header:{LOOP_HEADER}", value.strip()[:200]))
    return found


def _system_sender(mail: InboundMail, settings: ClassifySettings) -> _Found:
    keys = settings.system_keys
    if not keys:
        return []
    found: _Found = []
    for address in (*mail.from_, *((mail.sender,) if mail.sender else ())):
        if address.addr_spec.lower() in keys:
            found.append(("header:From", f"{address.addr_spec} is a system address"))
    return found


def _unverified_own_id(mail: InboundMail, settings: ClassifySettings) -> _Found:
    """Our Message-ID shape that does not verify, or a Message-ID at one of our domains: may be
    ours (keys rotated away) or a colleague's mail client on our domain."""
    mid = mail.message_id or ""
    if not mid:
        return []
    domain = mid.rpartition("@")[2].lower()
    if looks_like_ours(mid) and not _signed_message_id(mail, settings):
        return [("header:Message-ID", f"{mid} (our shape, not verified)")]
    if domain and domain in settings.own_domains:
        return [("header:Message-ID", f"{mid} (our domain)")]
    return []


# --- reports ---------------------------------------------------------------------------------


def _report_type(mail: InboundMail) -> str:
    for part in mail.parts:
        if part.content_type == "multipart/report":
            return (part.param("report-type") or "").lower()
    return ""


def _dsn_actions(mail: InboundMail) -> set[str]:
    actions: set[str] = set()
    for part in mail.parts:
        if part.content_type in DSN_TYPES:
            text = normalise_line_ends(part.text or part.payload.decode("utf-8", "replace"))
            for group in _dsn_groups(text):
                if "final-recipient" in group or "original-recipient" in group:
                    raw = (group.get("action") or "").strip().lower().split(" ")[0].rstrip(";,.")
                    status = (group.get("status") or "").strip()[:1]
                    actions.add(
                        ACTIONS.get(raw)
                        or {"5": "failed", "4": "delayed", "2": "delivered"}.get(status, "failed")
                    )
    return actions


def _dsn_failure(mail: InboundMail, settings: ClassifySettings) -> _Found:
    """RFC 3464 report with a failed or delayed recipient (or no readable recipient at all)."""
    report_type = _report_type(mail)
    has_dsn = any(p.content_type in DSN_TYPES for p in mail.parts)
    if not has_dsn and report_type not in ("delivery-status", "global-delivery-status"):
        return []
    actions = _dsn_actions(mail)
    if actions and not actions & {"failed", "delayed"}:
        return []
    where = "part:message/delivery-status" if has_dsn else "header:Content-Type"
    what = ", ".join(sorted(actions)) if actions else f"report-type={report_type}"
    return [(where, f"DSN (RFC 3464) {what}")]


def _dsn_success(mail: InboundMail, settings: ClassifySettings) -> _Found:
    actions = _dsn_actions(mail)
    if actions and not actions & {"failed", "delayed"}:
        return [("part:message/delivery-status", "DSN actions: " + ", ".join(sorted(actions)))]
    if any(p.content_type == "message/disposition-notification" for p in mail.parts):
        return [("part:message/disposition-notification", "MDN (RFC 8098)")]
    return []


_SES_KIND = re.compile(r'"(?:notificationType|eventType)"\s*:\s*"(\w+)"')


def _ses_kind(mail: InboundMail) -> str:
    text = mail.text.lstrip()
    if not text.startswith("{") and not text[:200].count("{"):
        return ""
    match = _SES_KIND.search(text[:2000])
    return match[1].lower() if match else ""


def _ses(kind: str) -> Matcher:
    def match(mail: InboundMail, settings: ClassifySettings) -> _Found:
        return [("body", f"Amazon SES notification: {kind}")] if _ses_kind(mail) == kind else []

    return match


def _feedback_report(mail: InboundMail, settings: ClassifySettings) -> _Found:
    """RFC 5965 ARF: multipart/report; report-type=feedback-report, message/feedback-report."""
    if _report_type(mail) == "feedback-report" or any(
        p.content_type == "message/feedback-report" for p in mail.parts
    ):
        return [("part:message/feedback-report", "ARF feedback report (RFC 5965)")]
    return []


def _text_bounce(mail: InboundMail, settings: ClassifySettings) -> _Found:
    """An MTA's text bounce: an MTA sender or bounce subject *and* failure wording."""
    normal = _normalised(mail)
    if _looks_like_text_bounce(_view(normal)):
        sender = normal.from_[0].addr_spec if normal.from_ else normal.return_path or ""
        return [("header:From", f"{sender}: {normal.subject[:120]}")]
    return []


# --- auto replies and bulk -----------------------------------------------------------------------

_MTA_LOCAL = re.compile(
    r"^(?:mailer-daemon|postmaster|mail-daemon|maildaemon|mailerdaemon|mdaemon)@", re.IGNORECASE
)
_NOREPLY_LOCAL = re.compile(
    r"^(?:no-?reply|do-?not-?reply|donotreply|noreply[-.+\w]*|notifications?|listserv|majordomo|"
    r"owner-[^@]+|[^@]+-request|[^@]+-bounces?|[^@]+-admin|bounces?|auto-?reply|autoresponder)@",
    re.IGNORECASE,
)


def _mta_sender(mail: InboundMail, settings: ClassifySettings) -> _Found:
    found: _Found = []
    for address in mail.from_:
        if _MTA_LOCAL.match(address.addr_spec):
            found.append(("header:From", address.addr_spec))
    return found


def _noreply_sender(mail: InboundMail, settings: ClassifySettings) -> _Found:
    """RFC 3834 §2 and Zammad's ``send_no_auto_response_reg_exp``: machine senders."""
    found: _Found = []
    for address in mail.from_:
        if _NOREPLY_LOCAL.match(address.addr_spec):
            found.append(("header:From", address.addr_spec))
    return found


def _null_return_path(mail: InboundMail, settings: ClassifySettings) -> _Found:
    """``Return-Path: <>`` -- the null reverse-path of RFC 5321 §4.5.5 (bounces, auto-replies)."""
    if mail.return_path is not None and mail.return_path.strip().replace(" ", "") == "<>":
        return [("header:Return-Path", "<> (null reverse-path)")]
    return []


#: Out-of-office and auto-reply subjects in many languages (weak: a person may type them).
AUTO_REPLY_SUBJECTS = re.compile(
    r"^\s*(?:\[[^\]]{0,40}\]\s*)?(?:"
    r"auto(?:matic|matische|matisch|matique|matico|mático|matica|mática|matyczna|maattinen|"
    r"matikus|matická|matické)?[ -]?(?:reply|response|antwort|antwoord|réponse|respuesta|"
    r"risposta|resposta|odpowiedź|vastaus|válasz|odpověď|svar|responder)|"
    r"(?:r[ée]ponse|respuesta|risposta|resposta|r[ée]ponse)\s+autom[aá]ti\w*|"
    r"auto:|autoreply|autoresponder|out of (?:the )?office|ooo\b|on vacation|vacation|"
    r"away from (?:the )?office|i am (?:away|out)|i'?m (?:away|out of)|i will be out|"
    r"abwesenheit|abwesend|nicht im büro|urlaub|außer haus|"
    r"absence|absent|congés?|en congé|hors du bureau|"
    r"fuera de la oficina|ausente|vacaciones|fuori (?:sede|ufficio)|assente|ferie|"
    r"afwezig|niet aanwezig|buiten kantoor|met vakantie|"
    r"fora do escritório|ausência|férias|"
    r"frånvaro|semester|fraværende|ikke på kontoret|poissa|lomalla|"
    r"poza biurem|nieobecn|mimo kancelář|nepřítomn|házon kívül|szabadság|"
    r"otomatik yanıt|ofis dışında|izinde|αυτόματη απάντηση|εκτός γραφείου|"
    r"автоматический ответ|автоответ|нет на месте|в отпуске|не в офисе|"
    r"自動応答|自動返信|不在|休暇|自动回复|自動回覆|外出|休假|자동 응답|부재중|"
    r"תשובה אוטומטית|رد تلقائي|خارج المكتب"
    r")",
    re.IGNORECASE,
)

#: Bounce subjects (weak alone: a person may forward one; a forwarded one is excluded).
BOUNCE_SUBJECTS = re.compile(
    r"^\s*(?:undeliver(?:able|ed)|delivery status notification|mail delivery failed|"
    r"failure notice|returned mail|undelivered mail|delivery failure|non[- ]?delivery|"
    r"mail delivery (?:system|subsystem)|delivery has failed|unzustellbar|"
    r"nondeliverable|message not delivered|delivery notification|warning: could not send|"
    r"delayed mail|mail system error|message delivery failure|permanent delivery failure)",
    re.IGNORECASE,
)


#: Complaints sent as plain mail by older feedback loops (weak: words only).
COMPLAINT_SUBJECTS = re.compile(
    r"^\s*(?:complaint about message from|abuse report|spam complaint|fbl report)", re.IGNORECASE
)


def _subject(pattern: re.Pattern[str]) -> Matcher:
    def match(mail: InboundMail, settings: ClassifySettings) -> _Found:
        subject = mail.subject or ""
        found = pattern.search(subject)
        return [("subject", subject[:200])] if found else []

    return match


#: The ordered classification table (prior-art §4.1). First row with evidence decides.
RULES: tuple[Rule, ...] = (
    Rule(
        name="own-signed-id",
        kind=MailKind.OWN_LOOP,
        strength=Strength.STRONG,
        matcher=_signed_message_id,
        doc="our own HMAC-signed Message-ID on the mail itself",
    ),
    Rule(
        name="own-loop-header",
        kind=MailKind.OWN_LOOP,
        strength=Strength.STRONG,
        matcher=_loop_header,
        doc=f"our loop header {LOOP_HEADER}",
    ),
    Rule(
        name="system-sender",
        kind=MailKind.OWN_LOOP,
        strength=Strength.STRONG,
        matcher=_system_sender,
        doc="From or Sender is one of our system addresses",
    ),
    Rule(
        name="arf",
        kind=MailKind.COMPLAINT,
        strength=Strength.STRONG,
        matcher=_any(_feedback_report, _ses("complaint")),
        doc="RFC 5965 feedback report, or an SES complaint notification",
    ),
    Rule(
        name="dsn-failure",
        kind=MailKind.BOUNCE,
        strength=Strength.STRONG,
        matcher=_dsn_failure,
        doc="RFC 3464 / RFC 6533 report with a failed or delayed recipient",
    ),
    Rule(
        name="dsn-success",
        kind=MailKind.DELIVERY_REPORT,
        strength=Strength.STRONG,
        matcher=_any(_dsn_success, _ses("delivery")),
        doc="a DSN with only delivered/relayed/expanded recipients, an MDN (RFC 8098), an "
        "SES delivery notification",
    ),
    Rule(
        name="ses-bounce",
        kind=MailKind.BOUNCE,
        strength=Strength.STRONG,
        matcher=_ses("bounce"),
        doc="an Amazon SES bounce notification (JSON)",
    ),
    Rule(
        name="x-failed-recipients",
        kind=MailKind.BOUNCE,
        strength=Strength.STRONG,
        matcher=_header("X-Failed-Recipients"),
        doc="Exim's and Gmail's X-Failed-Recipients",
    ),
    Rule(
        name="mta-text-bounce",
        kind=MailKind.BOUNCE,
        strength=Strength.STRONG,
        matcher=_text_bounce,
        doc="an MTA sender (MAILER-DAEMON, postmaster, Mail Delivery System) or a bounce subject "
        "that is no reply or forward, and failure wording in the report",
    ),
    # RFC 3834 §5: Auto-Submitted: no means a person; every other value is automated.
    Rule(
        name="auto-submitted",
        kind=MailKind.AUTO_REPLY,
        strength=Strength.STRONG,
        matcher=_header("Auto-Submitted", negate=r"^\s*no\b"),
        doc="RFC 3834 Auto-Submitted other than 'no'",
    ),
    Rule(
        name="auto-reply-headers",
        kind=MailKind.AUTO_REPLY,
        strength=Strength.STRONG,
        matcher=_any(
            _header("X-Autoreply"),
            _header("X-Autorespond"),
            _header("X-Autoresponse"),
            _header("X-AutoReply-From"),
            _header("X-Mail-Autoreply"),
            _header("X-Autogenerated", r"reply"),
            _header("Precedence", r"auto[_-]?reply"),
            _header("X-Precedence", r"auto[_-]?reply"),
            _header("X-Apple-Action", r"vacation"),
            _header("X-MS-Exchange-Inbox-Rules-Loop"),
            _header("X-Amazon-Auto-Reply"),
            _header("X-FC-MachineGenerated", r"true|yes"),
            _header("Thread-Topic", r"^\s*auto(?:matic)?[ -]?respon"),
            _header("X-Mailer", r"^\s*vacation\b"),
            _header("X-Auto-Response-Suppress", r"\b(?:all|oof|autoreply)\b"),
        ),
        doc="vendor auto-reply markers (X-Autoreply, Precedence: auto_reply, X-Apple-Action, "
        "X-MS-Exchange-Inbox-Rules-Loop, X-Auto-Response-Suppress on inbound, ...)",
    ),
    Rule(
        name="bulk-headers",
        kind=MailKind.BULK,
        strength=Strength.STRONG,
        matcher=_any(
            _header("Precedence", r"\b(?:bulk|list|junk)\b"),
            _header("X-Precedence", r"\b(?:bulk|list|junk)\b"),
            _header("List-Id"),
            _header("List-Unsubscribe"),
            _header("List-Post"),
            _header("Mailing-List"),
            _header("X-Mailing-List"),
            _header("X-Loop"),
            _header("X-No-Loop"),
        ),
        doc="Precedence bulk/list/junk, RFC 2369/2919 List-* headers, X-Loop",
    ),
    Rule(
        name="mta-sender",
        kind=MailKind.BOUNCE,
        strength=Strength.WEAK,
        matcher=_mta_sender,
        doc="From MAILER-DAEMON / postmaster without a readable report",
    ),
    Rule(
        name="bounce-subject",
        kind=MailKind.BOUNCE,
        strength=Strength.WEAK,
        matcher=_subject(BOUNCE_SUBJECTS),
        doc="a bounce subject alone",
    ),
    Rule(
        name="complaint-subject",
        kind=MailKind.COMPLAINT,
        strength=Strength.WEAK,
        matcher=_subject(COMPLAINT_SUBJECTS),
        doc="abuse complaints without an ARF part (Hotmail's 'complaint about message from')",
    ),
    Rule(
        name="auto-reply-subject",
        kind=MailKind.AUTO_REPLY,
        strength=Strength.WEAK,
        matcher=_subject(AUTO_REPLY_SUBJECTS),
        doc="out-of-office / automatic-reply subjects in many languages",
    ),
    Rule(
        name="null-return-path",
        kind=MailKind.AUTO_REPLY,
        strength=Strength.WEAK,
        matcher=_null_return_path,
        doc="Return-Path: <> (RFC 5321 §4.5.5)",
    ),
    Rule(
        name="noreply-sender",
        kind=MailKind.BULK,
        strength=Strength.WEAK,
        matcher=_noreply_sender,
        doc="no-reply, list-robot and -request senders",
    ),
    Rule(
        name="own-domain-id",
        kind=MailKind.OWN_LOOP,
        strength=Strength.WEAK,
        matcher=_unverified_own_id,
        doc="a Message-ID in our shape that does not verify, or at one of our domains",
    ),
)


def classify(
    mail: InboundMail,
    settings: ClassifySettings | None = None,
    *,
    rules: Sequence[Rule] = RULES,
) -> Classification:
    """Classify one inbound mail; the first row of ``rules`` with evidence decides.

    Never raises: a rule that fails on malformed input is skipped (and the mail may end up
    ``human``, which the guard's caps still bound).
    """
    settings = settings or ClassifySettings()
    for rule in rules:
        try:
            found = rule.matcher(mail, settings)
        except Exception:
            continue
        if found:
            evidence = tuple(
                Evidence(rule=rule.name, where=where, value=value, strength=rule.strength)
                for where, value in found
            )
            return Classification(kind=rule.kind, evidence=evidence, strength=rule.strength)
    return Classification(kind=MailKind.HUMAN)
