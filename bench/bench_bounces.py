"""Bounce benchmark: helpmail's ``classify`` + ``parse_bounce`` beside flufl.bounce, per corpus.

``python -m bench bounces`` (or ``python -m bench.bench_bounces``). For each corpus in
``../shared/corpora/bounces`` (override with ``HELPMAIL_BOUNCE_CORPORA``), and for the human mails
(the corpora's own plus the reply corpora's texts wrapped as mails), it measures:

* detected -- share of labelled bounces that ``parse_bounce`` reads (and ``classify`` calls bounce);
* recipient -- share of bounces with labelled recipients where a correct recipient is found;
* reason / hard -- for labelled recipient rows (Sisimai names mapped as DESIGN.md says), the share
  whose reason / hard-soft verdict agrees (a row whose recipient is not found counts as a miss);
* false bounces on human mail, human mails called automated by *strong* evidence;
* exceptions, and time per message.

flufl.bounce is imported if installed (bench environment only; it is never a helpmail
dependency): its recipient share, permanent/temporary agreement with the hard labels, and its
false bounces are measured on the same mails. Results go to ``bench/results/bounces.json``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from helpmail import parse_mail
from helpmail.bounces import SISIMAI_REASONS, BounceReason, MailKind, Strength, classify
from helpmail.bounces.parse import parse_bounce_unguarded

HERE = Path(__file__).parent
ROOT = HERE.parent
DEFAULT_CORPORA = ROOT.parent / "shared" / "corpora"


@attrs.frozen(kw_only=True)
class Sample:
    """One labelled mail of a corpus."""

    corpus: str
    name: str
    raw: bytes
    kind: str  # bounce, human, auto-reply, feedback-report, delivery-success, unknown
    recipients: tuple[str, ...] = ()
    rows: tuple[tuple[str, BounceReason | None, bool | None], ...] = ()  # (address, reason, hard)


#: Labels this benchmark does not trust, with the reason (the file is reported, not scored).
DISPUTED: dict[str, str] = {
    "maildir/not/rb-issue-368-bug.eml": (
        "labelled not-bounce after Sisimai issue 368, but it is a real bounce: From postmaster, "
        "Auto-Submitted, 'reject reason: Mailbox full', 'target mail address: ...'"
    ),
}

#: Labelled rows whose label the mail itself contradicts, with the evidence. They stay in the
#: headline figures; the report also gives the shares without them, side by side.
DISPUTED_ROWS: dict[str, str] = {
    **{
        f"maildir/{variant}/lhost-apachejames-01.eml": (
            "the label names 00000000000@vtext.example.com (11 zeros); the bounce names "
            "000000000000@vtext.example.com (12 zeros) and no other address"
        )
        for variant in ("bsd", "dos", "mac")
    },
    "maildir/bsd/lhost-office365-13.eml": (
        "'550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address "
        "lookup' is labelled undefined (soft); both the status and the text say unknown user"
    ),
    "maildir/bsd/lhost-sendmail-27.eml": (
        "labelled filtered (a refusal after DATA), but the transcript's '>>> DATA' is answered "
        "'503 Need RCPT', so the '550 ... User unknown' (also given as '550 5.1.1') answered "
        "the pipelined RCPT TO: userunknown by Sisimai's own rule"
    ),
    "maildir/err/make-test-22.eml": (
        "Yahoo's 'dd This user doesn't have a yahoo.com account' is labelled filtered here and "
        "userunknown (hard) in lhost-sendmail-41 and rhost-yahooinc-03 of the same set"
    ),
}

#: The classification each corpus kind should get.
EXPECTED_KIND = {
    "bounce": MailKind.BOUNCE,
    "auto-reply": MailKind.AUTO_REPLY,
    "feedback-report": MailKind.COMPLAINT,
    "delivery-success": MailKind.DELIVERY_REPORT,
    "human": MailKind.HUMAN,
}


def _corpora_root() -> Path:
    return Path(os.environ.get("HELPMAIL_BOUNCE_CORPORA", DEFAULT_CORPORA))


def load_sisimai(path: Path) -> Iterator[Sample]:
    labels = json.loads((path / "labels.json").read_text())["files"]
    for name, label in sorted(labels.items()):
        kind = {"not-bounce": "human"}.get(label["kind"], label["kind"])
        if name in DISPUTED:
            kind = "disputed"
        rows = []
        for row in label.get("recipients", []):
            if not row.get("recipient") or row.get("reason") not in SISIMAI_REASONS:
                continue
            rows.append(
                (row["recipient"], SISIMAI_REASONS[row["reason"]], bool(row.get("hardbounce")))
            )
        recipients = tuple(r[0] for r in rows) if kind == "bounce" else ()
        yield Sample(
            corpus=path.name,
            name=name,
            raw=(path / name).read_bytes(),
            kind=kind,
            recipients=recipients,
            rows=tuple(rows),
        )


def load_flufl(path: Path) -> Iterator[Sample]:
    labels = json.loads((path / "labels.json").read_text())["files"]
    for name, label in sorted(labels.items()):
        recipients = tuple(label.get("recipients") or ())
        if not label.get("labelled", True):
            kind = "unknown"
        elif recipients:
            kind = "bounce"
        else:
            kind = "unknown"  # upstream: "the detector must find nothing" (warnings, oddities)
        yield Sample(
            corpus=path.name,
            name=name,
            raw=(path / "data" / name).read_bytes(),
            kind=kind,
            recipients=recipients,
        )


def load_bounce_email(path: Path) -> Iterator[Sample]:
    labels = json.loads((path / "labels.json").read_text())["files"]
    for name, label in sorted(labels.items()):
        kind = {"not-bounce": "human"}.get(label["kind"], label["kind"])
        yield Sample(
            corpus=path.name,
            name=name,
            raw=(path / name).read_bytes(),
            kind=kind,
            recipients=tuple(label.get("recipients") or ()),
        )


LOADERS: dict[str, Callable[[Path], Iterator[Sample]]] = {
    "sisimai-dev": load_sisimai,
    "flufl-bounce": load_flufl,
    "bounce_email-via-bounced": load_bounce_email,
}


def wrap_as_mail(text: str, *, html: bool = False, index: int = 0) -> bytes:
    """A reply text as a plain human mail (the reply corpora hold bodies, not mails)."""
    content_type = "text/html" if html else "text/plain"
    head = (
        f"From: Customer {index} <customer{index}@example.com>\r\n"
        "To: support@example.org\r\n"
        f"Subject: Re: [Ticket#{1000 + index}] Question about my order\r\n"
        f"Message-ID: <reply-{index}@mail.example.com>\r\n"
        "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode() + text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def load_replies(path: Path) -> Iterator[Sample]:
    skip = {".json", ".md"}
    for index, file in enumerate(sorted(p for p in path.rglob("*") if p.is_file())):
        if file.suffix in skip or file.name.startswith(("LICENSE", "MANIFEST")):
            continue
        data = file.read_bytes()
        if file.suffix == ".eml":
            raw = data
        else:
            text = data.decode("utf-8", "replace")
            raw = wrap_as_mail(text, html=file.suffix in (".html", ".htm"), index=index)
        yield Sample(corpus="replies", name=str(file.relative_to(path)), raw=raw, kind="human")


def _flufl() -> Any:
    import importlib

    try:
        module = importlib.import_module("flufl.bounce")
    except ImportError:
        return None
    return module.all_failures


@attrs.define
class Tally:
    samples: int = 0
    bounces: int = 0
    detected: int = 0
    classified_bounce: int = 0
    with_recipients: int = 0
    recipient_found: int = 0
    rows: int = 0
    reason_agree: int = 0
    hard_agree: int = 0
    undisputed_rows: int = 0
    undisputed_reason_agree: int = 0
    undisputed_hard_agree: int = 0
    humans: int = 0
    false_bounces: int = 0
    strong_automated_humans: int = 0
    weak_automated_humans: int = 0
    exceptions: int = 0
    kinds: int = 0
    kind_agree: int = 0
    original_ids: int = 0
    disputed: int = 0
    seconds: float = 0.0
    misses: list[str] = attrs.field(factory=list)
    flufl_found: int = 0
    flufl_hard_agree: int = 0
    flufl_rows: int = 0
    flufl_false: int = 0
    flufl_exceptions: int = 0
    flufl_seconds: float = 0.0

    def share(self, part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None


def measure(samples: list[Sample], flufl: Any) -> Tally:
    tally = Tally()
    for sample in samples:
        tally.samples += 1
        started = time.perf_counter()
        try:
            mail = parse_mail(sample.raw)
            verdict = classify(mail)
            bounce = parse_bounce_unguarded(mail)
        except Exception as error:  # counted, never hidden
            tally.exceptions += 1
            tally.misses.append(f"{sample.name}: exception {error!r}")
            continue
        finally:
            tally.seconds += time.perf_counter() - started
        found = {r.address.lower(): r for r in bounce.recipients} if bounce else {}
        if sample.kind in EXPECTED_KIND:
            tally.kinds += 1
            if verdict.kind is EXPECTED_KIND[sample.kind]:
                tally.kind_agree += 1
            else:
                tally.misses.append(f"{sample.name}: {sample.kind} classified {verdict.explain()}")
        elif sample.kind == "disputed":
            tally.disputed += 1
            tally.misses.append(
                f"{sample.name}: disputed label ({DISPUTED[sample.name]}); "
                f"classified {verdict.explain()}"
            )
        for r in bounce.recipients if bounce else ():
            if r.original_recipient:
                found.setdefault(r.original_recipient.lower(), r)
        flufl_perm: set[str] = set()
        flufl_temp: set[str] = set()
        if flufl is not None:
            started = time.perf_counter()
            try:
                import email

                perm, temp = flufl(email.message_from_bytes(sample.raw))
                flufl_perm = {_text(a).lower() for a in perm}
                flufl_temp = {_text(a).lower() for a in temp}
            except Exception:
                tally.flufl_exceptions += 1
            tally.flufl_seconds += time.perf_counter() - started
        if sample.kind == "bounce":
            tally.bounces += 1
            tally.detected += bounce is not None
            tally.original_ids += bool(bounce and bounce.original_message_id)
            tally.classified_bounce += verdict.kind is MailKind.BOUNCE
            if sample.recipients:
                tally.with_recipients += 1
                wanted = {r.lower() for r in sample.recipients}
                if wanted & set(found):
                    tally.recipient_found += 1
                else:
                    tally.misses.append(
                        f"{sample.name}: recipient want {sorted(wanted)} got {sorted(found)}"
                    )
                if wanted & (flufl_perm | flufl_temp):
                    tally.flufl_found += 1
            undisputed = sample.name not in DISPUTED_ROWS
            for address, reason, hard in sample.rows:
                tally.rows += 1
                tally.undisputed_rows += undisputed
                got = found.get(address.lower())
                ours = (
                    got.cause
                    if got is not None and got.cause is not None
                    else (got.reason if got is not None else None)
                )
                if got is not None and ours is reason:
                    tally.reason_agree += 1
                    tally.undisputed_reason_agree += undisputed
                elif got is not None:
                    tally.misses.append(
                        f"{sample.name}: reason want {reason} got {ours} "
                        f"[{got.status} {(got.diagnostic or '')[:90]!r}]"
                    )
                if got is not None and got.hard == hard:
                    tally.hard_agree += 1
                    tally.undisputed_hard_agree += undisputed
                elif got is not None:
                    tally.misses.append(f"{sample.name}: hard want {hard} got {got.hard}")
                if flufl is not None:
                    tally.flufl_rows += 1
                    if (hard and address.lower() in flufl_perm) or (
                        not hard and address.lower() in flufl_temp
                    ):
                        tally.flufl_hard_agree += 1
        elif sample.kind == "human":
            tally.humans += 1
            if bounce is not None:
                tally.false_bounces += 1
                tally.misses.append(f"{sample.name}: false bounce {sorted(found)}")
            if verdict.automated and verdict.strength is Strength.STRONG:
                tally.strong_automated_humans += 1
                tally.misses.append(f"{sample.name}: human called {verdict.explain()}")
            elif verdict.automated:
                tally.weak_automated_humans += 1
            if flufl_perm or flufl_temp:
                tally.flufl_false += 1
        elif sample.kind in ("feedback-report", "auto-reply", "delivery-success") and bounce:
            tally.misses.append(f"{sample.name}: {sample.kind} parsed as bounce {sorted(found)}")
    return tally


def _text(address: Any) -> str:
    return address.decode("utf-8", "replace") if isinstance(address, bytes) else str(address)


def _report(name: str, tally: Tally, flufl: bool) -> dict[str, Any]:
    return {
        "corpus": name,
        "samples": tally.samples,
        "bounces": tally.bounces,
        "detected": tally.share(tally.detected, tally.bounces),
        "classified_bounce": tally.share(tally.classified_bounce, tally.bounces),
        "recipient_found": tally.share(tally.recipient_found, tally.with_recipients),
        "reason_agree": tally.share(tally.reason_agree, tally.rows),
        "hard_agree": tally.share(tally.hard_agree, tally.rows),
        "labelled_rows": tally.rows,
        "without_disputed_labels": {
            "rows": tally.undisputed_rows,
            "reason_agree": tally.share(tally.undisputed_reason_agree, tally.undisputed_rows),
            "hard_agree": tally.share(tally.undisputed_hard_agree, tally.undisputed_rows),
        },
        "kind_agree": tally.share(tally.kind_agree, tally.kinds),
        "original_message_id": tally.share(tally.original_ids, tally.bounces),
        "disputed": tally.disputed,
        "humans": tally.humans,
        "false_bounces": tally.false_bounces,
        "strong_automated_humans": tally.strong_automated_humans,
        "weak_automated_humans": tally.weak_automated_humans,
        "exceptions": tally.exceptions,
        "ms_per_message": round(1000 * tally.seconds / max(tally.samples, 1), 3),
        "flufl": None
        if not flufl
        else {
            "recipient_found": tally.share(tally.flufl_found, tally.with_recipients),
            "hard_agree": tally.share(tally.flufl_hard_agree, tally.flufl_rows),
            "false_bounces": tally.flufl_false,
            "exceptions": tally.flufl_exceptions,
            "ms_per_message": round(1000 * tally.flufl_seconds / max(tally.samples, 1), 3),
        },
        "misses": tally.misses,
    }


def _pct(value: float | None) -> str:
    return "   -  " if value is None else f"{100 * value:5.1f}%"


def main(argv: list[str]) -> None:
    root = _corpora_root()
    flufl = _flufl()
    verbose = "-v" in argv or "--verbose" in argv
    results: list[dict[str, Any]] = []
    human_extra: list[Sample] = []
    replies = root / "replies"
    if replies.is_dir():
        human_extra = list(load_replies(replies))
    for name, loader in LOADERS.items():
        path = root / "bounces" / name
        if not path.is_dir():
            continue
        results.append(_report(name, measure(list(loader(path)), flufl), flufl is not None))
    if human_extra:
        results.append(_report("replies (human)", measure(human_extra, flufl), flufl is not None))
    header = (
        f"{'corpus':26} {'n':>4} {'kind':>6} {'detect':>6} {'rcpt':>6} {'reason':>6} {'hard':>6} "
        f"{'humans':>6} {'falseB':>6} {'strong':>6} {'exc':>4} {'ms/msg':>7} | "
        f"{'flufl rcpt':>10} {'hard':>6} {'falseB':>6} {'exc':>4} {'ms/msg':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in results:
        fl = row["flufl"] or {}
        print(
            f"{row['corpus']:26} {row['samples']:4d} {_pct(row['kind_agree'])} "
            f"{_pct(row['detected'])} "
            f"{_pct(row['recipient_found'])} {_pct(row['reason_agree'])} {_pct(row['hard_agree'])} "
            f"{row['humans']:6d} {row['false_bounces']:6d} {row['strong_automated_humans']:6d} "
            f"{row['exceptions']:4d} {row['ms_per_message']:7.2f} | "
            + (
                f"{_pct(fl.get('recipient_found')):>10} {_pct(fl.get('hard_agree'))} "
                f"{fl.get('false_bounces', 0):6d} {fl.get('exceptions', 0):4d} "
                f"{fl.get('ms_per_message', 0.0):7.2f}"
                if fl
                else "flufl.bounce not installed"
            )
        )
        clean = row["without_disputed_labels"]
        if clean["rows"] and clean["rows"] != row["labelled_rows"]:
            print(
                f"{'  without disputed labels':26} {clean['rows']:4d} {'':6} {'':6} {'':6} "
                f"{_pct(clean['reason_agree'])} {_pct(clean['hard_agree'])}  "
                f"({row['labelled_rows'] - clean['rows']} rows whose label the mail contradicts: "
                "DISPUTED_ROWS)"
            )
        if verbose:
            for miss in row["misses"]:
                print("    " + miss)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "bounces.json").write_text(json.dumps(results, indent=1, default=str) + "\n")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
