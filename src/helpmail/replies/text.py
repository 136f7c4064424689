"""The text algorithm of reply extraction: classify lines, find the quote, assemble the reply.

Each line is classified once (quote depth, attribution, header block, divider, signature, tagline);
then one scan from the top labels every line as new text (``N``), quote (``Q``), blank (``B``) or
signature/tagline (``S``), and the reply is assembled from the labels:

* text above the first quote is the reply; a short sign-off or a signature below the quote joins it;
* text only below the quote is the reply (bottom posting);
* text both between and below quote blocks is an inline (interleaved) answer: the quoted lines it
  answers are kept, the quote after the last answer is not;
* header blocks, divider lines and attribution lines not followed by ``>`` lines end the reply for
  good: everything below them is the quoted (or forwarded) mail;
* a mail that is nothing but a quote or a forward returns what is inside it, never ``""``.

Everything is linear: one pass to classify (bounded work per line), one pass to label.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import attrs

from helpmail.replies import patterns as p
from helpmail.replies.html import BOUNDARY, MARKER
from helpmail.replies.model import Forwarded, Method, Reply, ReplyFlag

MAX_RECURSION = 3
_SENTINEL_CHARS = BOUNDARY + MARKER
_ATTRIBUTION_END = frozenset(":：->)")
_KIND_FIRST = "-_=*~—–•"
_SENTENCE_END = ".!?。！？"
MAX_ATTRIBUTION_CANDIDATES = 400
"""Lines ending like an attribution line that are examined (a bound on work for hostile input)."""
MAX_HEADER_CANDIDATES = 400
MAX_RECURSION_LINES = 5000


class Kind(enum.Enum):
    BLANK = "blank"
    TEXT = "text"
    QUOTE = "quote"
    ATTRIBUTION = "attribution"
    HEADER = "header"
    DIVIDER = "divider"
    FORWARD = "forward"
    BOUNDARY = "boundary"
    RULE = "rule"


class _Lines:
    """Per-line facts, computed once."""

    def __init__(self, lines: list[str]) -> None:
        self.raw = lines
        n = len(lines)
        self.depth = [0] * n
        self.content: list[str] = [""] * n
        self.kind = [Kind.TEXT] * n
        self.attribution_end: dict[int, int] = {}
        self.header_end: dict[int, int] = {}
        self.rewritten: dict[int, str] = {}
        self.budget = MAX_ATTRIBUTION_CANDIDATES
        self._intro_rows: set[int] | None = None
        depth = self.depth
        kind = self.kind
        content = self.content
        quote, blank, boundary, text_kind = Kind.QUOTE, Kind.BLANK, Kind.BOUNDARY, Kind.TEXT
        limit = p.MAX_CLASSIFY_CHARS
        candidates: list[int] = []
        add_candidate = candidates.append
        for i, line in enumerate(lines):
            if not line:
                kind[i] = blank
                continue
            first = line[0]
            if first == ">" or (first in " \t" and line.lstrip(" \t")[:1] == ">"):
                body = line.lstrip("> \t")
                depth[i] = line.count(">", 0, len(line) - len(body))
                content[i] = body
                if body.endswith(">>>") and p.GROUPWISE.match(line.strip()):
                    # GroupWise: ">>> Name <addr> 12.05.2024 10:00 >>>" above the unquoted original
                    depth[i] = 0
                    kind[i] = Kind.DIVIDER
                elif body and not body.isspace():
                    kind[i] = quote
                    if len(body) <= 30 and body.rstrip()[-1:] in _ATTRIBUTION_END:
                        add_candidate(i)
                else:
                    kind[i] = blank
                continue
            content[i] = line
            if first in _SENTINEL_CHARS:
                kind[i] = boundary
                continue
            stripped = line.strip()
            if not stripped:
                kind[i] = blank
                continue
            if len(stripped) > limit:
                continue
            last = stripped[-1]
            if last in _ATTRIBUTION_END:
                add_candidate(i)
            if (
                stripped[0] in _KIND_FIRST
                or last in ":："
                or ":" in stripped[:48]
                or "：" in stripped[:48]
            ):
                found = _line_kind(stripped)
                if found is not text_kind:
                    kind[i] = found
        self._candidates = candidates
        self.quote_count = kind.count(quote)
        self._find_attributions()
        self._find_headers()

    def intro_rows(self) -> set[int]:
        if self._intro_rows is None:
            rows: set[int] = set()
            for start, end in self.attribution_end.items():
                rows.update(range(start + (1 if start in self.rewritten else 0), end + 1))
            self._intro_rows = rows
        return self._intro_rows

    # -- attribution lines (possibly wrapped over up to five lines) -----------------------------
    def _find_attributions(self) -> None:
        order: list[int] = []
        for j in self._candidates:
            if self.kind[j] not in (Kind.TEXT, Kind.QUOTE, Kind.HEADER):
                continue
            found = self._attribution_ending_at(j)
            if found is not None:
                start, rewritten = found
                while order and order[-1] >= start:
                    old = order.pop()
                    del self.attribution_end[old]
                    self.rewritten.pop(old, None)
                order.append(start)
                self.attribution_end[start] = j
                if rewritten is not None:
                    self.rewritten[start] = rewritten

    def _next_is_quote(self, j: int) -> bool:
        for k in range(j + 1, min(len(self.raw), j + 4)):
            if self.kind[k] is Kind.BLANK:
                continue
            return self.kind[k] in (Kind.QUOTE, Kind.BOUNDARY)
        return False

    def _attribution_ending_at(self, j: int) -> tuple[int, str | None] | None:
        if self.budget <= 0:
            return None
        self.budget -= 1
        next_quote = self._next_is_quote(j)
        # longest plausible window first (a wrapped Gmail line), then the single line
        pieces: list[tuple[int, str]] = []
        k = j
        blanks = 0
        while k >= 0 and len(pieces) < 5 and j - k < 7:
            if self.kind[k] is Kind.BLANK:
                blanks += 1
                if blanks > 1:
                    break
                k -= 1
                continue
            blanks = 0
            if k != j and (self.kind[k] is not Kind.TEXT or len(self.content[k]) > 200):
                break
            piece = self.raw[k] if (k == j and self.kind[k] is Kind.QUOTE) else self.content[k]
            pieces.append((k, piece.strip()))
            k -= 1
        for size in range(len(pieces), 1, -1):
            start = pieces[size - 1][0]
            first = p.WS.sub(" ", pieces[size - 1][1])
            if any(text[-1:] in _SENTENCE_END for _, text in pieces[1:size]):
                continue
            if not p.PLAUSIBLE_START.match(first.lstrip(p.DECORATION)):
                continue
            joined = p.WS.sub(" ", " ".join(text for _, text in reversed(pieces[:size])))
            if _is_attribution(joined, next_quote, multi=True):
                return start, None
        if self.kind[j] is not Kind.TEXT:
            return None
        line = p.WS.sub(" ", self.content[j].strip())
        plausible = p.PLAUSIBLE_START.match(line.lstrip(p.DECORATION)) is not None
        if plausible and _is_attribution(line, next_quote, multi=False):
            return j, None
        # "reply On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:" - reply and attribution
        # share a line
        for match in p.OPENER_INSIDE.finditer(line):
            cut = match.start() if match.start() == 0 else match.start() + 1
            if cut == 0:
                continue
            rest = line[cut:]
            if p.DIGIT.search(rest) and _is_attribution(rest, next_quote, multi=True):
                before = line[:cut].rstrip(p.DECORATION)
                return j, before
        if (
            not plausible
            and (next_quote or "@" in line)
            and _is_attribution(line, next_quote, multi=False)
        ):
            # "Sent from Samsung MobileName <address@example.com> wrote:" - but not a sentence
            # such as "In my mail of 12 May I wrote:" followed by the writer's own text
            return j, None
        return None

    # -- header blocks -----------------------------------------------------------------------------
    def _find_headers(self) -> None:
        budget = MAX_HEADER_CANDIDATES
        covered = -1
        header = Kind.HEADER
        for i in [k for k, kind in enumerate(self.kind) if kind is header]:
            if i <= covered:
                continue
            budget -= 1
            end = self._header_block_end(i) if budget > 0 else None
            if end is not None:
                self.header_end[i] = end
                covered = end
            else:
                self.kind[i] = Kind.TEXT

    def _header_block_end(self, i: int) -> int | None:
        fields: list[str] = []
        depth = self.depth[i]
        last = i
        continuation = blanks = 0
        j = i
        while j < len(self.raw) and j < i + 20:
            if self.depth[j] != depth and self.kind[j] is not Kind.BLANK:
                break
            body = self.content[j]
            found = p.header_field(body)
            if found:
                fields.append(found[0])
                last, continuation, blanks = j, 0, 0
            elif not body.strip():
                blanks += 1
                if blanks > 2:
                    break
            elif continuation < 2 and blanks == 0 and fields and len(body) <= 200:
                continuation += 1
            else:
                break
            j += 1
        distinct = set(fields)
        if len(distinct) >= 2 and distinct & {"from", "to", "subject"}:
            return last
        return None


def _line_kind(stripped: str) -> Kind:
    if p.header_field(stripped):
        return Kind.HEADER
    first = stripped[0]
    if first in p.DECORATION or stripped[-1] in ":：":
        if p.DIVIDER_FORWARD.match(stripped):
            return Kind.FORWARD
        if p.DIVIDER_REPLY.match(stripped):
            return Kind.DIVIDER
    if first in "-_=*~—–" and p.RULE_LINE.match(stripped.replace(" ", "")):
        return Kind.RULE
    return Kind.TEXT


def _is_attribution(text: str, next_quote: bool, *, multi: bool) -> bool:
    if len(text) > p.MAX_CLASSIFY_CHARS:
        return False
    core = text.strip(p.DECORATION)
    if not core:
        return False
    last = core[-1]
    decorated = (
        len(text) - len(text.lstrip("-=_*~")) >= 2 and len(text) - len(text.rstrip("-=_*~")) >= 2
    )
    if last not in ":：>)" and not decorated:
        return False
    has_digit = p.DIGIT.search(core) is not None
    has_email = "@" in core
    tail = core[-64:]
    if last in ":：" and p.VERB_COLON_END.search(tail):
        if multi:
            return has_digit or has_email
        return has_digit or has_email or next_quote or p.OPENER_START.match(core) is not None
    if decorated and p.VERB_BARE_END.search(tail):
        return True
    if last in ":：" and (has_digit or has_email) and p.VERB_PAREN_END.search(core[-160:]):
        return True
    if last in ":：":
        match = p.VERB_MIDDLE.search(core[-220:])
        if match is not None:
            if (has_digit or has_email) and p.OPENER_START.match(core) is not None:
                return True
            offset = len(core) - len(core[-220:])
            before, after = core[: offset + match.start()], core[offset + match.start() :]
            if p.DIGIT.search(before) is not None and (
                "@" in after or "<" in after or "(" in after
            ):
                return True
    if last in ":：)" and has_digit and _name_verb_date(core):
        return True
    if has_digit and has_email and len(core) <= 250 and (next_quote or p.GLUE.search(core)):
        return p.DATEISH.search(core) is not None
    return False


def _name_verb_date(core: str) -> bool:
    """``Name <addr> schrieb am <date>:`` / ``Name wrote on <date>:`` / ``Name <addr> skrev:
    (<date>)``: a short name (or address) before the verb, a date after it."""
    for match in p.VERB_ANY.finditer(core, 0, 160):
        before, after = core[: match.start()].strip(), core[match.end() :]
        if not before or len(before) > 100:
            return False
        if "@" not in before and len(before.split()) > 4:
            return False
        return p.DATEISH.search(after) is not None and len(after) <= 120
    return False


# -- labelling ----------------------------------------------------------------------------------


@attrs.define
class _Cut:
    start: int
    method: Method
    final: bool  # everything from here on is quoted
    forward: bool = False


def _label(info: _Lines) -> tuple[list[str], list[_Cut]]:
    """Label lines N/Q/B; return labels and the quote regions found (in order)."""
    n = len(info.raw)
    labels = ["B"] * n
    cuts: list[_Cut] = []
    i = 0
    pending_attribution: Method | None = None
    while i < n:
        kind = info.kind[i]
        if i in info.attribution_end:
            end = info.attribution_end[i]
            shared = i in info.rewritten  # "reply On Wed, ... wrote:": text and attribution share i
            i_cut = i + 1 if shared else i
            labels[i] = "N" if shared else "Q"
            labels[i + 1 : end + 1] = ["Q"] * (end - i)
            if info._next_is_quote(end):
                cuts.append(_Cut(start=i_cut, method=Method.ATTRIBUTION, final=False))
                pending_attribution = Method.ATTRIBUTION
                i = end + 1
                continue
            cuts.append(
                _Cut(start=_extend_up(info, labels, i_cut), method=Method.ATTRIBUTION, final=True)
            )
            _quote_rest(labels, end + 1)
            return labels, cuts
        if kind is Kind.BLANK:
            labels[i] = "B"
            i += 1
            continue
        if kind is Kind.BOUNDARY:
            labels[i] = "Q"
            if info.raw[i].startswith(MARKER):
                cuts.append(_Cut(start=i, method=Method.OWN_MARKER, final=True))
                _quote_rest(labels, i)
                return labels, cuts
            pending_attribution = Method.HTML_CONTAINER
            if not info._next_is_quote(i):
                cuts.append(
                    _Cut(
                        start=_extend_up(info, labels, i), method=Method.HTML_CONTAINER, final=True
                    )
                )
                _quote_rest(labels, i)
                return labels, cuts
            cuts.append(_Cut(start=i, method=Method.HTML_CONTAINER, final=False))
            i += 1
            continue
        if kind is Kind.QUOTE:
            end = _quote_block_end(info, i)
            opening = _quote_opening(info, i, end)
            if opening is not None:
                method, forward = opening
                cut_start = _extend_up(info, labels, i)
                if cuts and not cuts[-1].final and cuts[-1].start >= cut_start:
                    cuts.pop()
                cuts.append(_Cut(start=cut_start, method=method, final=True, forward=forward))
                _quote_rest(labels, i)
                return labels, cuts
            if (
                info.quote_count == 1
                and not cuts
                and pending_attribution is None
                and not _is_attribution(p.WS.sub(" ", info.content[i].strip()), True, multi=False)
                and not _trails_the_reply(info, i, end)
            ):
                labels[i] = "N"  # one lone ">" line is not a quote (an arrow, a shell prompt)
                i += 1
                continue
            for k in range(i, end + 1):
                labels[k] = "Q" if info.kind[k] is not Kind.BLANK else "B"
            if pending_attribution is None:
                cuts.append(_Cut(start=i, method=Method.QUOTE_MARKER, final=False))
            pending_attribution = None
            i = end + 1
            continue
        pending_attribution = None
        if i in info.header_end:
            cuts.append(
                _Cut(
                    start=_extend_up(info, labels, i),
                    method=Method.HEADER_BLOCK,
                    final=True,
                )
            )
            _quote_rest(labels, i)
            return labels, cuts
        if kind in (Kind.DIVIDER, Kind.FORWARD):
            forward = kind is Kind.FORWARD
            cuts.append(
                _Cut(
                    start=_extend_up(info, labels, i),
                    method=Method.FORWARD if forward else Method.DIVIDER,
                    final=True,
                    forward=forward,
                )
            )
            _quote_rest(labels, i)
            return labels, cuts
        if (
            kind is Kind.RULE
            or (
                kind is Kind.TEXT
                and info.content[i][:1] in "-_="
                and p.GENERIC_DIVIDER.match(info.content[i].strip())
            )
        ) and _generic_header_follows(info, i):
            known = any(k in info.header_end for k in range(i + 1, min(len(info.raw), i + 4)))
            method = Method.HEADER_BLOCK if known else Method.DIVIDER
            cuts.append(_Cut(start=i, method=method, final=True))
            _quote_rest(labels, i)
            return labels, cuts
        labels[i] = "N"
        i += 1
    return labels, cuts


def _quote_rest(labels: list[str], start: int) -> None:
    labels[start:] = ["Q"] * (len(labels) - start)


def _extend_up(info: _Lines, labels: list[str], start: int) -> int:
    """Move a cut up over blank lines, bare rule lines and divider lines directly above it."""
    k = start - 1
    best = start
    while k >= 0 and start - k <= 6:
        kind = info.kind[k]
        if kind is Kind.BLANK:
            k -= 1
            continue
        if info.depth[k] == 0 and (
            kind in (Kind.RULE, Kind.DIVIDER, Kind.FORWARD)
            or (kind is Kind.TEXT and p.GENERIC_DIVIDER.match(info.content[k].strip()))
        ):
            best = k
            k -= 1
            continue
        break
    for m in range(best, start):
        labels[m] = "Q"
    return best


def _quote_block_end(info: _Lines, i: int) -> int:
    """Last line of the quote block starting at ``i`` (blank lines and broken-link fragments inside
    count)."""
    n = len(info.raw)
    end = i
    k = i + 1
    while k < n:
        kind = info.kind[k]
        if kind is Kind.QUOTE:
            end = k
        elif kind is Kind.BLANK:
            pass
        elif kind is Kind.TEXT and _is_fragment(info, k):
            end = k
        else:
            break
        k += 1
    return end


def _is_fragment(info: _Lines, k: int) -> bool:
    """A line between two quote lines that is the broken-off end of a quoted link, not an answer."""
    if k + 1 >= len(info.raw) or not info.depth[k + 1] or not info.depth[k - 1]:
        return False
    text = info.content[k].strip()
    if len(text) > 120:
        return False
    words = [
        w for w in text.split() if not w.startswith(("http://", "https://", "(http", "<http", ">"))
    ]
    if not words:
        return True
    return len(words) == 1 and any(c in words[0] for c in "=/)(&?_#")


def _quote_opening(info: _Lines, i: int, end: int) -> tuple[Method, bool] | None:
    """Whether a quote block opens with a header block, divider or forward line (a quoted forward
    or an Outlook-style quote): then it and everything below it is the quoted mail."""
    for k in range(i, min(end + 1, i + 8)):
        if info.kind[k] is Kind.BLANK:
            continue
        text = info.content[k].strip()
        if len(text) > p.MAX_CLASSIFY_CHARS:
            return None
        decorated = text[:1] in p.DECORATION or text[-1:] in ":："
        if decorated:
            text = p.WS.sub(" ", text)
            if p.DIVIDER_FORWARD.match(text):
                return Method.FORWARD, True
            if p.DIVIDER_REPLY.match(text):
                return Method.DIVIDER, False
            if p.RULE_LINE.match(text.replace(" ", "")):
                continue
        if p.header_field(text):
            fields = set()
            for m in range(k, min(end + 1, k + 10)):
                found = p.header_field(info.content[m])
                if found:
                    fields.add(found[0])
            if len(fields) >= 2 and fields & {"from", "to", "subject"}:
                return Method.HEADER_BLOCK, False
        return None
    return None


def _generic_header_follows(info: _Lines, i: int) -> bool:
    seen = keys = 0
    for k in range(i + 1, min(len(info.raw), i + 8)):
        if info.kind[k] is Kind.BLANK:
            continue
        seen += 1
        if (
            info.kind[k] is Kind.HEADER
            or k in info.header_end
            or p.GENERIC_KEY.match(info.content[k])
        ):
            keys += 1
        if seen >= 3:
            break
    return keys >= 2


# -- signatures ---------------------------------------------------------------------------------


def _is_tagline(text: str) -> bool:
    if len(text) > 200:
        return False
    text = p.WS.sub(" ", text.strip())
    if not text or len(text) > 90:
        return False
    match = p.TAGLINE_PREFIX.match(text)
    if match:
        rest = text[match.end() - 1 :].strip()
        words = rest.split()
        if "," in rest:
            return False  # "Sent from my desk, is much easier than my phone."
        if len(words) <= 5 and ". " not in rest:
            return True
        # "Sent from my Android device with K-9 Mail. Please excuse my brevity."
        return len(words) <= 12 and p.TAGLINE_DEVICE.search(rest) is not None
    return len(text) <= 40 and p.TAGLINE_SUFFIX.search(text) is not None


def _is_valediction_block(lines: Sequence[str]) -> bool:
    """A sign-off block: a valediction line, then at most two short lines (a name, a title)."""
    content = [line.strip() for line in lines if line.strip()]
    if not content or len(content) > 3:
        return False
    if not p.VALEDICTION.match(content[0]) or len(content[0]) > 60:
        return False
    return all(len(line) <= 60 for line in content[1:])


def split_signature(lines: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Split reply lines into (text, signature, tagline): a ``-- `` signature, a short block after
    an
    underscore rule (mailing-list footers), and mobile taglines at the end."""
    body = list(lines)
    tagline: list[str] = []
    signature: list[str] = []
    # taglines at the end (possibly after a signature: "-- \nBob\nSent from my iPhone")
    for _ in range(3):
        last = _last_content(body)
        if last is None or not _is_tagline(body[last]):
            break
        if _last_content(body[:last]) is None:
            break
        tagline.insert(0, body[last].strip())
        del body[last:]
    content_rows = [
        k for k, line in enumerate(body) if line[:1] in "-_—" or line.lstrip()[:1] in "-_—"
    ]
    for index in content_rows:
        stripped = body[index].strip()
        is_delimiter = body[index].rstrip("\r") in ("-- ", "--", "—") or stripped in ("--", "-- ")
        is_rule = p.UNDERSCORE_RULE.match(stripped) is not None
        if not (is_delimiter or is_rule):
            continue
        after = [line for line in body[index + 1 :] if line.strip()]
        above = [line for line in body[:index] if line.strip()]
        if not above or not after:
            continue
        limit = 40 if body[index].startswith("-- ") else (10 if is_delimiter else 6)
        if len(after) > limit:
            continue
        if is_rule and not _looks_like_footer(after):
            continue  # an underscore rule used as a section divider (crisp email-reply-parser#41)
        signature = [line.rstrip() for line in body[index + 1 :]]
        del body[index:]
        break
    # a tagline directly above the signature delimiter
    for _ in range(2):
        last = _last_content(body)
        if last is None or not _is_tagline(body[last]) or _last_content(body[:last]) is None:
            break
        tagline.insert(0, body[last].strip())
        del body[last:]
    return body, _strip_blank_ends(signature), tagline


def _looks_like_footer(lines: Sequence[str]) -> bool:
    """A block below an underscore rule that is a signature or list footer: it holds an address, a
    link or a phone number (a section of the reply holds prose)."""
    text = "\n".join(lines)
    return "@" in text or "http" in text or "www." in text or p.PHONE.search(text) is not None


def _last_content(lines: Sequence[str]) -> int | None:
    for k in range(len(lines) - 1, -1, -1):
        if lines[k].strip():
            return k
    return None


def _strip_blank_ends(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _join(lines: Sequence[str]) -> str:
    return "\n".join(line.rstrip() for line in _strip_blank_ends(list(lines)))


def _unquote(lines: Sequence[str]) -> list[str]:
    out = []
    for line in lines:
        if line.startswith((BOUNDARY, MARKER)):
            continue
        match = p.QUOTE_PREFIX.match(line[: p.MAX_CLASSIFY_CHARS])
        if match:
            prefix = match.group(1)
            first = prefix.index(">")
            rest = prefix[first + 1 :]
            rest = rest[1:] if rest.startswith((" ", "\t")) else rest
            out.append(rest + line[match.end() :])
        else:
            out.append(line)
    return out


# -- forwards -----------------------------------------------------------------------------------


def _parse_forward(lines: list[str]) -> Forwarded:
    """Forwarded text and header block from the lines of a forward (intro line first)."""
    body = (
        _unquote(lines)
        if all(line.lstrip().startswith(">") or not line.strip() for line in lines)
        else lines
    )
    intro = ""
    headers: dict[str, str] = {}
    k = 0
    n = len(body)
    while k < n and not body[k].strip():
        k += 1
    if k < n:
        stripped = p.WS.sub(" ", body[k].strip())
        if (
            p.DIVIDER_FORWARD.match(stripped)
            or p.DIVIDER_REPLY.match(stripped)
            or p.RULE_LINE.match(stripped)
        ):
            intro = stripped.strip(p.DECORATION)
            k += 1
    while k < n and (
        not body[k].strip() or (p.QUOTE_PREFIX.match(body[k][:40]) and not body[k].strip("> \t"))
    ):
        k += 1
    body = body[:k] + _unquote(body[k:]) if k < n and body[k].lstrip().startswith(">") else body
    last_key: str | None = None
    blanks = 0
    start_text = k
    while k < n and k - start_text < 24:
        line = body[k]
        found = p.header_field(line)
        if found:
            field = "date" if found[0] == "sent" else found[0]
            value = line[found[1] :].strip().strip("*").strip()
            headers.setdefault(field, value)
            last_key = field
            blanks = 0
        elif not line.strip():
            blanks += 1
            if blanks > 2 or (
                headers and blanks >= 1 and "subject" in headers and "from" in headers
            ):
                k += 1
                break
        elif last_key is not None and blanks == 0 and len(line) <= 200:
            headers[last_key] = f"{headers[last_key]} {line.strip()}".strip()
        else:
            break
        k += 1
    if not headers:
        k = start_text
    return Forwarded(text=_join(body[k:]), headers=headers, intro=intro)


# -- assembling ---------------------------------------------------------------------------------


def _trails_the_reply(info: _Lines, start: int, end: int) -> bool:
    """A ``>`` block with text above it and nothing but blank lines below it: the quote of the
    mail being answered, even when it is one line. Unless the text above introduces it (its last
    line ends with ``:``, "Look at this:"): then the line is what the writer shows."""
    kinds = info.kind
    above = next((k for k in range(start - 1, -1, -1) if kinds[k] is not Kind.BLANK), None)
    if above is None or info.raw[above].rstrip().endswith(":"):
        return False
    return all(kinds[k] is Kind.BLANK for k in range(end + 1, len(kinds)))


def extract_lines(
    lines: list[str], *, subject: str = "", depth: int = 0, lone_quote_is_text: bool = True
) -> Reply:
    """Run the text algorithm over ``lines`` (see the module docstring). ``lone_quote_is_text``
    keeps a mail's only ``>`` line as text (off where the lines are known to be a quote's)."""
    info = _Lines(lines)
    if not lone_quote_is_text:
        info.quote_count = max(info.quote_count, 2)
    labels, cuts = _label(info)
    _mark_signatures(info, labels)
    display = [info.rewritten.get(k, lines[k]) for k in range(len(lines))]
    if not cuts:
        return _finish(display, quoted=[], method=Method.NONE, flags=set())
    first = cuts[0]
    n_rows = [k for k, label in enumerate(labels) if label == "N"]
    final = next((c for c in cuts if c.final), None)
    forward_cut = (
        final
        if final is not None and (final.forward or _subject_is_forward(subject, final))
        else None
    )
    if not n_rows:
        return _inside_quote(lines, labels, first, forward_cut, subject=subject, depth=depth)
    signature_rows = [lines[k] for k, label in enumerate(labels) if label == "S"]
    if n_rows[0] > first.start:
        # bottom posting, or inline answers starting below the first quote
        return _below(display, labels, info, cuts, n_rows, forward_cut, signature_rows)
    if not _substantive_below(display, labels, first.start):
        last_n = n_rows[-1]
        kept_blank = _kept_blanks(labels[: last_n + 1])
        keep = [display[k] for k in range(last_n + 1) if labels[k] == "N" or k in kept_blank]
        forwarded = _forward_of(lines, forward_cut)
        if forwarded is not None and forward_cut is not None:
            quoted = [lines[k] for k in range(first.start, forward_cut.start) if labels[k] == "Q"]
        else:
            quoted = [lines[k] for k in range(len(lines)) if labels[k] == "Q"]
        return _finish(
            keep,
            quoted=quoted,
            method=_method_of(first, forward_cut),
            flags=set(),
            forwarded=forwarded,
            extra_signature=signature_rows,
        )
    # inline answers: keep everything from the top to the last answer, quotes included
    last = n_rows[-1]
    keep = [display[k] for k in range(0, last + 1) if _kept_inline(info, labels, k)]
    quoted = [lines[k] for k in range(last + 1, len(lines)) if labels[k] == "Q"]
    return _finish(
        keep, quoted=quoted, method=Method.INTERLEAVED, flags=set(), extra_signature=signature_rows
    )


def _kept_blanks(labels: list[str]) -> set[int]:
    """Blank lines are kept unless they follow a quote (the quote takes its trailing blank
    lines)."""
    kept: set[int] = set()
    previous = "N"
    for k, label in enumerate(labels):
        if label == "B":
            if previous == "N":
                kept.add(k)
        else:
            previous = label
    return kept


def _kept_inline(info: _Lines, labels: list[str], k: int) -> bool:
    return not (labels[k] == "S" or info.kind[k] is Kind.BOUNDARY or _is_intro(info, k))


def _mark_signatures(info: _Lines, labels: list[str]) -> None:
    """Below a quote, a signature block (``-- ``, an underscore rule with a short footer) or a lone
    tagline is not an answer: label it ``S``."""
    runs: list[list[int]] = []
    for k in [k for k, label in enumerate(labels) if label == "N"]:
        if runs and "Q" not in labels[runs[-1][-1] + 1 : k]:
            runs[-1].append(k)
        else:
            runs.append([k])
    for rows in runs:
        before = rows[0] - 1
        while before >= 0 and labels[before] == "B":
            before -= 1
        if before >= 0 and labels[before] == "Q":
            first = info.raw[rows[0]]
            stripped = first.strip()
            limit = 40 if first.startswith("-- ") else 10
            rule = p.UNDERSCORE_RULE.match(stripped) is not None
            if (
                (stripped in ("--", "-- ", "—") or rule)
                and len(rows) <= limit + 1
                and (not rule or _looks_like_footer([info.raw[m] for m in rows[1:]]))
            ) or (all(_is_tagline(info.raw[m]) for m in rows) and len(rows) <= 2):
                for m in rows:
                    labels[m] = "S"


def _substantive_below(display: list[str], labels: list[str], start: int) -> bool:
    """Whether the new text below the first quote is an answer (not just a sign-off/signature)."""
    rows = [k for k in range(start, len(labels)) if labels[k] == "N"]
    if not rows:
        return False
    text = [display[k] for k in range(rows[0], rows[-1] + 1) if labels[k] in ("N", "B")]
    body, _signature, _tagline = split_signature(text)
    if not any(line.strip() for line in body):
        return False
    if _n_segments(labels, start) > 1:
        return True
    return not _is_valediction_block(body)


def _is_intro(info: _Lines, k: int) -> bool:
    """Attribution lines are dropped from inline answers (the quoted lines stay)."""
    return k in info.intro_rows()


def _n_segments(labels: list[str], start: int) -> int:
    count = 0
    in_segment = False
    for k in range(start, len(labels)):
        if labels[k] == "N":
            if not in_segment:
                count += 1
                in_segment = True
        elif labels[k] == "Q":
            in_segment = False
    return count


def _below(  # noqa: PLR0917 - internal helper, called once
    display: list[str],
    labels: list[str],
    info: _Lines,
    cuts: list[_Cut],
    below: list[int],
    forward_cut: _Cut | None,
    signature_rows: list[str],
) -> Reply:
    first = cuts[0]
    last = below[-1]
    if _n_segments(labels, first.start) == 1:
        rows = [k for k in range(below[0], last + 1) if labels[k] in ("N", "B")]
        keep = [display[k] for k in rows]
        kept = set(rows)
        quoted = [info.raw[k] for k in range(len(display)) if labels[k] == "Q" and k not in kept]
        return _finish(
            keep,
            quoted=quoted,
            method=_method_of(first, forward_cut),
            flags={ReplyFlag.REPLY_BELOW_QUOTE},
            extra_signature=signature_rows,
        )
    # several answers between quotes: inline answers, keep the quotes they answer
    start = first.start
    while start < len(display) and (labels[start] == "B" or not _kept_inline(info, labels, start)):
        start += 1
    keep = [display[k] for k in range(start, last + 1) if _kept_inline(info, labels, k)]
    quoted = [info.raw[k] for k in range(last + 1, len(display)) if labels[k] == "Q"]
    return _finish(
        keep, quoted=quoted, method=Method.INTERLEAVED, flags=set(), extra_signature=signature_rows
    )


def _inside_quote(
    lines: list[str],
    labels: list[str],
    first: _Cut,
    forward_cut: _Cut | None,
    *,
    subject: str,
    depth: int,
) -> Reply:
    """The mail is nothing but a quote or a forward: return what is inside (never empty)."""
    region = lines[first.start :]
    if forward_cut is not None and forward_cut.start == first.start:
        forwarded = _parse_forward(region)
        inner = forwarded.text
        if depth < MAX_RECURSION and inner.strip() and inner.count("\n") < MAX_RECURSION_LINES:
            part = extract_lines(inner.split("\n"), subject="", depth=depth + 1)
            text = part.text
        else:
            text = inner
        return Reply(
            text=text or _join(region),
            forwarded=forwarded,
            method=Method.FORWARD,
            flags=frozenset({ReplyFlag.FORWARD_ONLY}),
        )
    if first.final and first.method in (
        Method.HEADER_BLOCK,
        Method.DIVIDER,
        Method.ATTRIBUTION,
        Method.HTML_CONTAINER,
    ):
        inner_lines = _skip_intro(lines, first)
    else:
        inner_lines = _unquote(region)
    inner_lines = (
        _unquote(inner_lines)
        if all(not line.strip() or line.lstrip().startswith(">") for line in inner_lines)
        else inner_lines
    )
    if (
        depth < MAX_RECURSION
        and len(inner_lines) < MAX_RECURSION_LINES
        and any(line.strip() for line in inner_lines)
    ):
        part = extract_lines(inner_lines, subject=subject, depth=depth + 1)
        text = part.text
    else:
        text = _join(inner_lines)
    if not text.strip():
        text = _join([line for line in _unquote(region) if not line.startswith((BOUNDARY, MARKER))])
    return Reply(text=text, quoted="", method=first.method, flags=frozenset({ReplyFlag.QUOTE_ONLY}))


def _skip_intro(lines: list[str], cut: _Cut) -> list[str]:
    """Lines below the header block / divider / attribution that opens a quote region."""
    info = _Lines(lines[cut.start :])
    k = 0
    n = len(info.raw)
    while k < n:
        if info.kind[k] in (Kind.BLANK, Kind.RULE, Kind.DIVIDER, Kind.FORWARD, Kind.BOUNDARY):
            k += 1
            continue
        if k in info.header_end:
            k = info.header_end[k] + 1
            continue
        if k in info.attribution_end:
            k = info.attribution_end[k] + 1
            continue
        break
    return info.raw[k:]


def _subject_is_forward(subject: str, cut: _Cut) -> bool:
    return (
        bool(subject)
        and cut.method in (Method.HEADER_BLOCK, Method.DIVIDER)
        and bool(p.FORWARD_SUBJECT.match(subject))
    )


def _forward_of(lines: list[str], cut: _Cut | None) -> Forwarded | None:
    if cut is None:
        return None
    return _parse_forward(lines[cut.start :])


def _method_of(first: _Cut, forward_cut: _Cut | None) -> Method:
    if forward_cut is not None and forward_cut is first:
        return Method.FORWARD
    return first.method


def _finish(
    keep: list[str],
    *,
    quoted: list[str],
    method: Method,
    flags: set[ReplyFlag],
    forwarded: Forwarded | None = None,
    extra_signature: Sequence[str] = (),
) -> Reply:
    body, signature, tagline = split_signature(_strip_blank_ends(keep))
    if extra_signature:
        signature = [*signature, *extra_signature]
    text = _join(body)
    if not text.strip():
        text = _join(keep)
        signature, tagline = [], []
        if text.strip():
            flags = flags | {ReplyFlag.SIGNATURE_ONLY}
    if method is Method.NONE and (signature or tagline):
        method = Method.SIGNATURE
    return Reply(
        text=text,
        quoted="\n".join(quoted).strip("\n"),
        signature=_join(signature),
        tagline=_join(tagline),
        forwarded=forwarded,
        method=method,
        flags=frozenset(flags),
    )
