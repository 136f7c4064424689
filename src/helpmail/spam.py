"""Spam verdicts: read what the real filters in front of the mailbox decided; never guess.

helpmail has no spam filter of its own. It reads the verdicts that SpamAssassin (``X-Spam-Flag``,
``X-Spam-Status``, ``X-Spam-Score``), Rspamd (``X-Spamd-Result``, ``X-Rspamd-Score``, ``X-Spam``),
Microsoft Exchange / Exchange Online Protection (``X-Forefront-Antispam-Report`` ``SCL`` and
``SFV``, ``X-MS-Exchange-Organization-SCL``) wrote, and what the IMAP server knows (Gmail's spam
label, the ``$Junk`` keyword, a folder with the RFC 6154 ``\\Junk`` special use). The desk sets two
thresholds per filter: a score at or above ``suspend`` sends the mail to the suspended queue, at or
above ``reject`` drops it. A verdict without a score (a bare "Yes", a label) can only suspend:
silently dropping mail needs a number.

**Trust.** Anybody can write ``X-Spam-Status: No`` into the mail they send. A filter's header is
believed only when a configured trusted host added it (RFC 5321 §4.4: each relay prepends its
``Received`` line, so the header block grows upwards from the sender). :func:`trust_boundary`
walks the ``Received`` chain from the top: the top hop counts when its ``by`` host is trusted, and
the walk goes on below a hop only when that hop *received from* a trusted host (its client IP is in
``trusted_networks``, or the client's verified reverse-DNS name is a trusted host), which then
wrote the next line down. The headers
above the last trusted ``Received`` line (inclusive) were written by our own systems; everything
below it, including a ``Received`` line that claims ``by mx.example.com``, came from the sender
and is ignored (and listed in the verdict, so ``helpmail explain`` shows it). The client's
HELO name is never trusted: the client chooses it.

A host can plug in its own checker (one that asks a running rspamd over HTTP, say) through the
:class:`SpamChecker` protocol; the service calls it and hands the :class:`SpamVerdict` to the
pipeline like the built-in one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import attrs

from helpmail.desk.matching import DomainPattern

if TYPE_CHECKING:
    from helpmail.mail.model import InboundMail

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Loopback is always trusted: a hop from 127.0.0.1 / ::1 is the same host handing mail to itself
#: (Postfix to amavis and back, for example).
LOOPBACK: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


#: At most this many ignored filter headers are kept in a verdict (all are counted).
MAX_IGNORED = 20


class SpamAction(StrEnum):
    """What a verdict asks for, in order of severity."""

    NONE = "none"
    SUSPEND = "suspend"
    REJECT = "reject"


_SEVERITY = {SpamAction.NONE: 0, SpamAction.SUSPEND: 1, SpamAction.REJECT: 2}


def most_severe(actions: Iterable[SpamAction]) -> SpamAction:
    """The most severe of ``actions`` (``none`` for none)."""
    return max(actions, key=_SEVERITY.__getitem__, default=SpamAction.NONE)


@attrs.frozen(kw_only=True)
class Thresholds:
    """Scores at or above ``suspend`` suspend the mail, at or above ``reject`` reject it."""

    suspend: float
    reject: float

    def action(self, score: float) -> SpamAction:
        if score >= self.reject:
            return SpamAction.REJECT
        if score >= self.suspend:
            return SpamAction.SUSPEND
        return SpamAction.NONE


class Filter(StrEnum):
    """The filters whose verdicts helpmail reads."""

    SPAMASSASSIN = "spamassassin"
    RSPAMD = "rspamd"
    MICROSOFT = "microsoft"
    IMAP = "imap"
    CHECKER = "checker"


@attrs.frozen(kw_only=True)
class SpamSettings:
    """Configuration section ``spam``.

    ``trusted_hosts``: host names (``mx.example.com``) or subdomain rules (``*.example.com``) of
    the MTAs that run or follow the filters. ``trusted_networks``: client IPs of trusted hops
    (loopback is always included). Defaults: SpamAssassin 5 / 15 (5 is its own ``required``
    score), Rspamd 6 / 15 (its ``add header`` and ``reject`` actions), Microsoft SCL 5 / 9 (5-6
    spam, 9 high-confidence spam). ``flag_action`` is what a verdict without a score does.
    """

    enabled: bool = True
    trusted_hosts: tuple[DomainPattern, ...] = ()
    trusted_networks: tuple[IPNetwork, ...] = ()
    spamassassin: Thresholds = Thresholds(suspend=5.0, reject=15.0)
    rspamd: Thresholds = Thresholds(suspend=6.0, reject=15.0)
    microsoft: Thresholds = Thresholds(suspend=5.0, reject=9.0)
    flag_action: SpamAction = SpamAction.SUSPEND

    def thresholds(self, spam_filter: Filter) -> Thresholds | None:
        return {
            Filter.SPAMASSASSIN: self.spamassassin,
            Filter.RSPAMD: self.rspamd,
            Filter.MICROSOFT: self.microsoft,
        }.get(spam_filter)


# --------------------------------------------------------------------------------------------
# The Received chain


@attrs.frozen(kw_only=True)
class Hop:
    """One ``Received`` header, read (RFC 5321 §4.4 ``Stamp``).

    ``by_host`` is the host that added it; ``client_ip`` and ``client_name`` (the reverse-DNS name
    the receiving MTA looked up, not the HELO) name the host it received the mail from; ``helo``
    is what that client called itself (never trusted). ``index`` is the header's position in
    :attr:`InboundMail.headers`.
    """

    index: int
    by_host: str | None
    helo: str | None = None
    client_name: str | None = None
    client_ip: str | None = None
    local: bool = False


_BY = re.compile(r"(?:^|\s)by\s+(\S+)", re.IGNORECASE)
_FROM = re.compile(r"^\s*from\s+(\S+)", re.IGNORECASE)
_BRACKET_IP = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]{2,45})\]")
_BARE_IP = re.compile(r"^(?:IPv6:)?([0-9A-Fa-f:.]{2,45})$")
_HELO_EQ = re.compile(r"helo=(\S+)", re.IGNORECASE)
_PARENS = re.compile(r"[()]")


def _split_comments(text: str) -> tuple[str, list[tuple[int, str]]]:
    """``text`` with parenthesised comments blanked out, and the comments with their positions.

    RFC 5322 §3.2.2 comments nest; blanking keeps positions so the top-level ``from`` and ``by``
    clauses can be told from words inside comments (``(authenticated by ...)``).
    """
    if "(" not in text:
        return text, []
    flat: list[str] = []
    comments: list[tuple[int, str]] = []
    depth = 0
    start = 0
    last = 0
    for match in _PARENS.finditer(text):
        position = match.start()
        if match.group() == "(":
            if depth == 0:
                flat.append(text[last:position])
                start = position
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                comments.append((start, text[start + 1 : position]))
                flat.append(" " * (position + 1 - start))
                last = position + 1
    if depth:
        flat.append(" " * (len(text) - start))
    else:
        flat.append(text[last:])
    return "".join(flat), comments


def _ip(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text.strip("[]").removeprefix("IPv6:")))
    except ValueError:
        return None


def parse_received(value: str, index: int = 0) -> Hop:
    """Read the ``from`` and ``by`` clauses of one ``Received`` header value.

    Understands the Postfix/Sendmail form ``from HELO (rdns [ip])``, the Exim form
    ``from rdns ([ip] helo=HELO)``, the Exchange form ``from NAME (ip)`` and hops without a
    ``from`` clause (local submission: ``by host (Postfix, from userid 1000)``).
    """
    stamp = value.rpartition(";")[0] if ";" in value else value
    flat, comments = _split_comments(stamp)
    by_match = _BY.search(flat)
    by_host = None
    if by_match:
        by_host = by_match.group(1).strip("[]").rstrip(".").lower()
    from_end = by_match.start() if by_match else len(flat)
    from_match = _FROM.match(flat[:from_end])
    if from_match is None:
        return Hop(index=index, by_host=by_host, local=True)
    first = from_match.group(1).rstrip(".")
    from_comments = [c for p, c in comments if p < from_end]
    comment = from_comments[0].strip() if from_comments else ""
    helo: str | None = first
    client_name: str | None = None
    client_ip = _ip(first) if _BRACKET_IP.fullmatch(first) or _BARE_IP.match(first) else None
    if client_ip is not None:
        helo = None
    bracket = _BRACKET_IP.search(comment)
    if client_ip is None and bracket:
        client_ip = _ip(bracket.group(1))
    elif client_ip is None and _BARE_IP.match(comment):
        client_ip = _ip(comment)  # Exchange: from NAME (ip)
    helo_eq = _HELO_EQ.search(comment)
    if helo_eq:  # Exim: the first word is the verified name, the HELO is in the comment
        client_name = None if client_ip == _ip(first) else first.lower()
        helo = helo_eq.group(1).strip(")")
    elif bracket:  # Postfix / Sendmail: (rdns [ip]); "unknown" when the lookup failed
        words = comment[: bracket.start()].split()
        if words and words[0].lower() not in ("unknown", "may"):
            client_name = words[0].rstrip(".").lower()
    return Hop(
        index=index,
        by_host=by_host,
        helo=helo.lower() if helo else None,
        client_name=client_name,
        client_ip=client_ip,
    )


def received_hops(mail: InboundMail) -> Iterator[Hop]:
    """Every ``Received`` header of ``mail``, top (newest) first, read one by one (the trust walk
    stops early, so a mail with hundreds of forged hops costs only the hops it reads)."""
    for index, (name, value) in enumerate(mail.headers):
        if name.lower() == "received":
            yield parse_received(value, index)


@attrs.frozen(kw_only=True)
class TrustBoundary:
    """Where the headers our own systems wrote end.

    Headers at positions ``< end`` in :attr:`InboundMail.headers` were added by trusted hosts;
    ``hops`` are the trusted ``Received`` hops; ``stop`` says why the walk stopped.
    """

    end: int
    hops: tuple[Hop, ...] = ()
    stop: str = ""

    def trusts(self, index: int) -> bool:
        return index < self.end


def _host_trusted(host: str | None, settings: SpamSettings) -> bool:
    if not host:
        return False
    ip = _ip(host)
    if ip is not None:
        return _ip_trusted(ip, settings)
    return any(pattern.matches(host) for pattern in settings.trusted_hosts)


def _ip_trusted(ip: str | None, settings: SpamSettings) -> bool:
    if ip is None:
        return False
    address = ipaddress.ip_address(ip)
    return any(address in net for net in (*LOOPBACK, *settings.trusted_networks))


def _client_trusted(hop: Hop, settings: SpamSettings) -> bool:
    if hop.client_ip is not None and _ip_trusted(hop.client_ip, settings):
        return True
    if hop.client_name is not None and _host_trusted(hop.client_name, settings):
        return True
    # No IP at all: a local socket or pipe (LMTP from the MTA on the same host); the name is the
    # only thing there is, and no remote client could have connected.
    return hop.client_ip is None and hop.helo is not None and _host_trusted(hop.helo, settings)


def trust_boundary(mail: InboundMail, settings: SpamSettings) -> TrustBoundary:
    """Walk the ``Received`` chain from the top and find where trusted headers end.

    The top hop counts when its ``by`` host is trusted. A lower hop counts when the hop above it
    received the mail from a trusted client: that client wrote it. The walk stops at the first
    hop whose client is not trusted (that hop still counts: our host wrote it).
    """
    trusted: list[Hop] = []
    stop = "no Received headers"
    for hop in received_hops(mail):
        if not trusted and not _host_trusted(hop.by_host, settings):
            stop = f"the top Received was added by {hop.by_host or 'an unnamed host'}, untrusted"
            break
        trusted.append(hop)
        if hop.local:
            stop = f"hop {len(trusted)} at {hop.by_host} was a local submission"
            break
        if not _client_trusted(hop, settings):
            client = hop.client_ip or hop.client_name or hop.helo or "unknown"
            stop = f"{hop.by_host} received the mail from {client}, untrusted"
            break
    else:
        if trusted:
            stop = "all Received hops trusted"
    end = trusted[-1].index + 1 if trusted else 0
    return TrustBoundary(end=end, hops=tuple(trusted), stop=stop)


# --------------------------------------------------------------------------------------------
# Reading the filters' headers


@attrs.frozen(kw_only=True)
class SpamSignal:
    """One filter's verdict as read from one header (or IMAP fact)."""

    filter: Filter
    source: str
    value: str
    score: float | None = None
    spam: bool | None = None

    def __str__(self) -> str:
        return f"{self.source}: {self.value}"


@attrs.frozen(kw_only=True)
class IgnoredHeader:
    """A filter header that was not believed, and why."""

    header: str
    value: str
    reason: str


_NUMBER = r"(-?\d{1,6}(?:\.\d{1,6})?)"
_SA_STATUS = re.compile(r"^\s*(yes|no)\b", re.IGNORECASE)
_SA_SCORE = re.compile(r"\b(?:score|hits)=" + _NUMBER, re.IGNORECASE)
_FIRST_NUMBER = re.compile(r"^\s*" + _NUMBER)
_RSPAMD_RESULT = re.compile(
    r"^\s*[\w-]{1,64}\s*:\s*(true|false)\s*\[\s*" + _NUMBER + r"\s*/", re.IGNORECASE
)
_SCL = re.compile(r"(?:^|;)\s*SCL\s*:\s*(-?\d{1,2})\b", re.IGNORECASE)
_SFV = re.compile(r"(?:^|;)\s*SFV\s*:\s*([A-Z]{2,5})\b", re.IGNORECASE)
#: Exchange Online Protection spam filtering verdicts (``SFV``): SPM spam, SKS marked as spam by a
#: mail flow rule, SKB blocked sender; NSPM not spam, SKN/SKA/SKI allowed or skipped.
_SFV_SPAM = frozenset({"SPM", "SKS", "SKB"})
_SFV_HAM = frozenset({"NSPM", "SKN", "SKA", "SKI"})


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _yes_no(value: str) -> bool | None:
    word = value.strip().split(None, 1)[0].lower() if value.strip() else ""
    return {"yes": True, "no": False, "true": True, "false": False}.get(word)


def _spamassassin_status(value: str) -> SpamSignal | None:
    flag = _SA_STATUS.match(value)
    score = _SA_SCORE.search(value)
    if flag is None and score is None:
        return None
    return SpamSignal(
        filter=Filter.SPAMASSASSIN,
        source="X-Spam-Status",
        value=value,
        score=_float(score.group(1)) if score else None,
        spam=flag.group(1).lower() == "yes" if flag else None,
    )


def _score_only(spam_filter: Filter, header: str) -> _Reader:
    def read(value: str) -> SpamSignal | None:
        number = _FIRST_NUMBER.match(value)
        if number is None:
            return None
        return SpamSignal(
            filter=spam_filter, source=header, value=value, score=_float(number.group(1))
        )

    return read


def _flag_only(spam_filter: Filter, header: str) -> _Reader:
    def read(value: str) -> SpamSignal | None:
        spam = _yes_no(value)
        if spam is None:
            return None
        return SpamSignal(filter=spam_filter, source=header, value=value, spam=spam)

    return read


def _rspamd_result(value: str) -> SpamSignal | None:
    match = _RSPAMD_RESULT.match(value)
    if match is None:
        return None
    return SpamSignal(
        filter=Filter.RSPAMD,
        source="X-Spamd-Result",
        value=value,
        score=_float(match.group(2)),
        spam=match.group(1).lower() == "true",
    )


def _scl(header: str) -> _Reader:
    def read(value: str) -> SpamSignal | None:
        scl = _SCL.search(value) if ":" in value else _FIRST_NUMBER.match(value)
        sfv = _SFV.search(value)
        verdict = sfv.group(1).upper() if sfv else None
        spam = True if verdict in _SFV_SPAM else False if verdict in _SFV_HAM else None
        if scl is None and spam is None:
            return None
        return SpamSignal(
            filter=Filter.MICROSOFT,
            source=header,
            value=value,
            score=_float(scl.group(1)) if scl else None,
            spam=spam,
        )

    return read


class _Reader(Protocol):
    def __call__(self, value: str, /) -> SpamSignal | None: ...


#: header (lower case) -> reader. Table, not a chain of ifs: a new filter is a new line.
READERS: dict[str, _Reader] = {
    "x-spam-status": _spamassassin_status,
    "x-spam-flag": _flag_only(Filter.SPAMASSASSIN, "X-Spam-Flag"),
    "x-spam-score": _score_only(Filter.SPAMASSASSIN, "X-Spam-Score"),
    "x-spamd-result": _rspamd_result,
    "x-rspamd-score": _score_only(Filter.RSPAMD, "X-Rspamd-Score"),
    "x-spam": _flag_only(Filter.RSPAMD, "X-Spam"),
    "x-forefront-antispam-report": _scl("X-Forefront-Antispam-Report"),
    "x-ms-exchange-organization-scl": _scl("X-MS-Exchange-Organization-SCL"),
}


@attrs.frozen(kw_only=True)
class ImapFacts:
    """What the IMAP server knows about the message's spam status (trusted: our own server).

    ``flags``: the message's flags and keywords (``$Junk``, ``$NotJunk``, ``Junk``);
    ``labels``: Gmail's ``X-GM-LABELS`` (``\\Spam``); ``folder_special_use``: the RFC 6154 special
    use of the folder it was read from (``\\Junk`` for Gmail's ``[Gmail]/Spam``).
    """

    flags: frozenset[str] = frozenset()
    labels: tuple[str, ...] = ()
    folder_special_use: frozenset[str] = frozenset()


_JUNK_KEYWORDS = frozenset({"$junk", "junk"})
_NOT_JUNK_KEYWORDS = frozenset({"$notjunk", "notjunk", "nonjunk"})
_SPAM_LABELS = frozenset({"\\spam", "spam", "[gmail]/spam"})


def _imap_signals(facts: ImapFacts) -> list[SpamSignal]:
    signals: list[SpamSignal] = []
    for label in facts.labels:
        if label.lower() in _SPAM_LABELS:
            signals.append(
                SpamSignal(filter=Filter.IMAP, source="X-GM-LABELS", value=label, spam=True)
            )
    if any(use.lower() == "\\junk" for use in facts.folder_special_use):
        signals.append(
            SpamSignal(filter=Filter.IMAP, source="folder special use", value="\\Junk", spam=True)
        )
    for flag in sorted(facts.flags):
        if flag.lower() in _JUNK_KEYWORDS:
            signals.append(
                SpamSignal(filter=Filter.IMAP, source="IMAP keyword", value=flag, spam=True)
            )
        elif flag.lower() in _NOT_JUNK_KEYWORDS:
            signals.append(
                SpamSignal(filter=Filter.IMAP, source="IMAP keyword", value=flag, spam=False)
            )
    return signals


@attrs.frozen(kw_only=True)
class FilterVerdict:
    """The verdict of one filter: its signals combined, and the action it asks for."""

    filter: Filter
    action: SpamAction
    score: float | None
    spam: bool | None
    signals: tuple[SpamSignal, ...]


@attrs.frozen(kw_only=True)
class SpamVerdict:
    """The spam decision for one mail (pipeline step ``spam``).

    ``action`` is the most severe action any trusted filter asks for. ``filters`` lists each
    filter's verdict; ``ignored`` the filter headers that were not believed (below the trust
    boundary; at most :data:`MAX_IGNORED` are kept, ``ignored_count`` counts them all);
    ``boundary`` the trusted ``Received`` hops.
    """

    action: SpamAction
    filters: tuple[FilterVerdict, ...] = ()
    ignored: tuple[IgnoredHeader, ...] = ()
    ignored_count: int = 0
    boundary: TrustBoundary | None = None
    checker: str = "headers"

    step = "spam"

    @property
    def decision(self) -> str:
        return self.action.value

    @property
    def is_spam(self) -> bool:
        return self.action is not SpamAction.NONE

    @property
    def detail(self) -> str:
        """One readable line for the trace."""
        if not self.filters:
            text = "no trusted spam verdict"
        else:
            parts = []
            for verdict in self.filters:
                said = (
                    f"score {verdict.score:g}"
                    if verdict.score is not None
                    else ("spam" if verdict.spam else "not spam" if verdict.spam is False else "?")
                )
                parts.append(f"{verdict.filter}: {said} -> {verdict.action}")
            text = "; ".join(parts)
        count = max(self.ignored_count, len(self.ignored))
        if count:
            shown = ", ".join(f"{i.header}: {i.value[:40]}" for i in self.ignored[:3])
            more = f" and {count - 3} more" if count > 3 else ""
            text += f"; ignored {count} untrusted header(s): {shown}{more}"
        return text


def _combine(
    spam_filter: Filter, signals: list[SpamSignal], settings: SpamSettings
) -> FilterVerdict:
    """One filter's verdict: its score against the desk's thresholds, else its flag."""
    score = next((s.score for s in signals if s.score is not None), None)
    spam = next((s.spam for s in signals if s.spam is not None), None)
    thresholds = settings.thresholds(spam_filter)
    if score is not None and thresholds is not None:
        action = thresholds.action(score)
    elif spam:
        action = settings.flag_action
    else:
        action = SpamAction.NONE
    return FilterVerdict(
        filter=spam_filter, action=action, score=score, spam=spam, signals=tuple(signals)
    )


def verdict_from_score(
    score: float, thresholds: Thresholds, *, checker: str = "checker"
) -> SpamVerdict:
    """A verdict for a plug-in checker that produces a score on the scale of ``thresholds``."""
    signal = SpamSignal(filter=Filter.CHECKER, source=checker, value=f"{score:g}", score=score)
    filter_verdict = FilterVerdict(
        filter=Filter.CHECKER,
        action=thresholds.action(score),
        score=score,
        spam=None,
        signals=(signal,),
    )
    return SpamVerdict(action=filter_verdict.action, filters=(filter_verdict,), checker=checker)


def read_spam_verdict(
    mail: InboundMail, settings: SpamSettings, imap: ImapFacts | None = None
) -> SpamVerdict:
    """Read the trusted filter verdicts of ``mail`` and decide (see the module docstring).

    For each header the topmost trusted copy counts (the last filter run on our side).
    """
    if not settings.enabled:
        return SpamVerdict(action=SpamAction.NONE, checker="disabled")
    boundary = trust_boundary(mail, settings)
    seen: set[str] = set()
    by_filter: dict[Filter, list[SpamSignal]] = {}
    ignored: list[IgnoredHeader] = []
    ignored_count = 0
    below = f"below the trusted hops ({boundary.stop})"
    for index, (name, value) in enumerate(mail.headers):
        reader = READERS.get(name.lower())
        if reader is None:
            continue
        signal = None
        if boundary.trusts(index):
            if name.lower() in seen:
                continue
            signal = reader(value)
        if signal is None:
            ignored_count += 1
            if len(ignored) < MAX_IGNORED:
                why = below if not boundary.trusts(index) else "not understood"
                ignored.append(IgnoredHeader(header=name, value=value, reason=why))
            continue
        seen.add(name.lower())
        by_filter.setdefault(signal.filter, []).append(signal)
    if imap is not None:
        for signal in _imap_signals(imap):
            by_filter.setdefault(signal.filter, []).append(signal)
    filters = tuple(_combine(f, signals, settings) for f, signals in by_filter.items())
    return SpamVerdict(
        action=most_severe(v.action for v in filters),
        filters=filters,
        ignored=tuple(ignored),
        ignored_count=ignored_count,
        boundary=boundary,
    )


def combine_verdicts(*verdicts: SpamVerdict) -> SpamVerdict:
    """Merge verdicts (the headers' and a plug-in checker's): the most severe action wins."""
    if not verdicts:
        return SpamVerdict(action=SpamAction.NONE)
    return SpamVerdict(
        action=most_severe(v.action for v in verdicts),
        filters=tuple(f for v in verdicts for f in v.filters),
        ignored=tuple(i for v in verdicts for i in v.ignored),
        ignored_count=sum(max(v.ignored_count, len(v.ignored)) for v in verdicts),
        boundary=next((v.boundary for v in verdicts if v.boundary is not None), None),
        checker="+".join(v.checker for v in verdicts),
    )


class SpamChecker(Protocol):
    """A spam checker a host plugs in (the port). It may do I/O; the service calls it.

    It returns a :class:`SpamVerdict`; :func:`verdict_from_score` builds one from a score.
    """

    def check(self, mail: InboundMail, imap: ImapFacts | None = None) -> SpamVerdict:
        """The verdict for ``mail``."""
        ...


@attrs.frozen(kw_only=True)
class HeaderSpamChecker:
    """The built-in checker: :func:`read_spam_verdict` with the desk's settings (no I/O)."""

    settings: SpamSettings = SpamSettings()

    def check(self, mail: InboundMail, imap: ImapFacts | None = None) -> SpamVerdict:
        return read_spam_verdict(mail, self.settings, imap)


__all__ = [
    "LOOPBACK",
    "MAX_IGNORED",
    "READERS",
    "Filter",
    "FilterVerdict",
    "HeaderSpamChecker",
    "Hop",
    "IgnoredHeader",
    "ImapFacts",
    "SpamAction",
    "SpamChecker",
    "SpamSettings",
    "SpamSignal",
    "SpamVerdict",
    "Thresholds",
    "TrustBoundary",
    "combine_verdicts",
    "most_severe",
    "parse_received",
    "read_spam_verdict",
    "received_hops",
    "trust_boundary",
    "verdict_from_score",
]
