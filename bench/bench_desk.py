"""Benchmark the desk steps (support address, sender, spam trust walk, admission) against parsing.

Baseline: :func:`helpmail.parse_mail` of the same mails in the same run. The figure is the ratio
``desk_steps / parse_mail`` per mail, warm (sender checks cached, as for repeat senders) and cold
(caches cleared before every pass: every sender new). Lower is better: the desk steps run on every
imported mail and should cost less than parsing it. Corpus: the demo mailbox plus the desk test
mails, and a hostile case: a mail with 200 ``Received`` lines and 200 spoofed spam headers below
the trusted hops (the trust walk and the header scan must stay linear).

``python -m bench desk [--repeat=N]``; results go to ``bench/results/desk.json``.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from helpmail import InboundMail, parse_mail
from helpmail.admission import _lists as admission_lists
from helpmail.desk.config import parse_admission, parse_contacts, parse_spam
from helpmail.desk.matching import check_addr_spec
from helpmail.desk.steps import DeskSettings, desk_steps

HERE = Path(__file__).parent
ROOT = HERE.parent

SETTINGS = DeskSettings(
    spam=parse_spam({"trusted_hosts": ["mx.acme.example", "store.acme.example"]}, "spam"),
    admission=parse_admission(
        {
            "policy": "known_contacts_and_org_domains",
            "blocklist": [{"sender": "leadgen-blast.example", "strength": "reject"}],
            "allowlist": ["partner.example"],
        },
        "admission",
    ),
    contacts=parse_contacts(
        {
            "organisations_by_domain": True,
            "organisations": [{"id": "c", "domains": ["customer.example", "*.customer.example"]}],
        },
        "contacts",
    ),
)


def _corpus() -> list[bytes]:
    files = sorted((ROOT / "src" / "helpmail" / "demo" / "mailbox").glob("*.eml"))
    files += sorted((ROOT / "tests" / "data" / "desk").glob("*.eml"))
    return [f.read_bytes() for f in files]


def _hostile() -> bytes:
    top = (
        "Received: from mx.acme.example by store.acme.example with LMTP id x; "
        "Wed, 04 Mar 2026 03:12:09 +0100\r\n"
        "X-Spam-Status: Yes, score=7.4 required=5.0\r\n"
        "Received: from evil.example (unknown [203.0.113.77]) by mx.acme.example (Postfix); "
        "Wed, 04 Mar 2026 03:12:08 +0100\r\n"
    )
    forged = "".join(
        f"Received: from mx.acme.example (mx.acme.example [10.0.0.{i % 250}]) "
        f"by mx.acme.example (Postfix) id {i}; Wed, 04 Mar 2026 03:00:00 +0100\r\n"
        f"X-Spam-Status: No, score=-{i}.0 required=5.0\r\n"
        for i in range(200)
    )
    body = "From: a@evil.example\r\nTo: support@acme.example\r\nSubject: x\r\n\r\nbody\r\n"
    return (top + forged + body).encode()


def _time(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main(argv: list[str]) -> None:
    repeat = 7
    for arg in argv:
        if arg.startswith("--repeat="):
            repeat = int(arg.partition("=")[2])
    rows = []
    for name, raws in (("corpus", _corpus()), ("hostile", [_hostile()])):
        mails = [parse_mail(raw) for raw in raws]
        loops = max(1, 2000 // len(raws))

        def parse(raws: list[bytes] = raws, loops: int = loops) -> None:
            for _ in range(loops):
                for raw in raws:
                    parse_mail(raw)

        def steps(mails: list[InboundMail] = mails, loops: int = loops) -> None:
            for _ in range(loops):
                for mail in mails:
                    desk_steps(mail, SETTINGS, sender_contact=None, opens_ticket=True)

        def cold(mails: list[InboundMail] = mails, loops: int = loops) -> None:
            for _ in range(loops):
                check_addr_spec.cache_clear()  # every sender new: email-validator runs each time
                admission_lists.cache_clear()
                for mail in mails:
                    desk_steps(mail, SETTINGS, sender_contact=None, opens_ticket=True)

        base = _time(parse, repeat) / (loops * len(raws))
        desk = _time(steps, repeat) / (loops * len(raws))
        desk_cold = _time(cold, repeat) / (loops * len(raws))
        rows.append(
            {
                "case": name,
                "mails": len(raws),
                "parse_us": round(base * 1e6, 1),
                "desk_steps_us": round(desk * 1e6, 1),
                "desk_steps_cold_us": round(desk_cold * 1e6, 1),
                "ratio_desk_to_parse": round(desk / base, 3),
                "ratio_cold_to_parse": round(desk_cold / base, 3),
            }
        )
    print(
        f"{'case':<8} {'mails':>5} {'parse µs':>9} {'desk µs':>8} {'cold µs':>8} "
        f"{'desk/parse':>10} {'cold/parse':>10}"
    )
    for row in rows:
        print(
            f"{row['case']:<8} {row['mails']:>5} {row['parse_us']:>9} "
            f"{row['desk_steps_us']:>8} {row['desk_steps_cold_us']:>8} "
            f"{row['ratio_desk_to_parse']:>10} {row['ratio_cold_to_parse']:>10}"
        )
    result = {"python": platform.python_version(), "repeat": repeat, "rows": rows}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "desk.json").write_text(json.dumps(result, indent=2) + "\n")
