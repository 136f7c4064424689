"""Benchmark ``helpmail.parse_mail`` against the bare standard-library parse, in the same run.

Baseline: ``email.message_from_bytes(raw, policy=email.policy.default)`` plus ``get_body()``
(and reading the chosen body's content), the figure issue 2 measures the import against. The
corpus is generated (deterministic seed): plain, HTML-only, multipart/alternative, with
attachments, multilingual (de/nl/ru/ja/zh/el in UTF-8, ISO-8859-x, KOI8-R, Shift_JIS, with RFC 2047
headers), with realistic trace headers. Figures are mails per second and the ratio
``parse_mail / baseline`` (higher is better; the aim is > 1).

A second table shows the scaling on big and deep mails (1, 5, 25 MB attachments; 10, 50, 100
nesting levels; 500 and 5000 parts) as time per unit, which stays flat when the work is linear, and
the peak memory (tracemalloc) for the 25 MB mail.

``python -m bench parse [--count=N] [--repeat=N] [--profile] [--no-scaling]``; results go to
``bench/results/parse.json``.
"""

from __future__ import annotations

import base64
import cProfile
import datetime as dt
import email
import email.policy
import gc
import io
import json
import platform
import pstats
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from helpmail import parse_mail

HERE = Path(__file__).parent

_WORDS = {
    "en": [
        "the",
        "ticket",
        "printer",
        "office",
        "please",
        "help",
        "cannot",
        "login",
        "since",
        "yesterday",
        "invoice",
        "attached",
        "thanks",
        "regards",
        "meeting",
        "tomorrow",
        "urgent",
        "server",
        "error",
        "password",
        "reset",
        "account",
    ],
    "de": [
        "der",
        "Drucker",
        "funktioniert",
        "nicht",
        "mehr",
        "bitte",
        "helfen",
        "Sie",
        "mir",
        "Rechnung",
        "anbei",
        "Grüße",
        "Passwort",
        "zurücksetzen",
        "Anmeldung",
        "schlägt",
        "fehl",
        "dringend",
        "Büro",
        "Störung",
    ],
    "nl": [
        "de",
        "printer",
        "werkt",
        "niet",
        "meer",
        "graag",
        "hulp",
        "factuur",
        "bijgevoegd",
        "groeten",
        "wachtwoord",
        "inloggen",
        "lukt",
        "niet",
        "dringend",
        "kantoor",
        "storing",
        "vriendelijke",
    ],
    "ru": [
        "принтер",
        "не",
        "работает",
        "помогите",
        "пожалуйста",
        "счёт",
        "приложен",
        "пароль",
        "вход",
        "сервер",
        "ошибка",
        "срочно",
        "спасибо",
    ],
    "ja": [
        "プリンター",
        "動作",
        "しません",
        "助けて",
        "ください",
        "請求書",
        "添付",
        "パスワード",
        "ログイン",
        "できません",
    ],
    "zh": [
        "打印机",
        "无法",
        "工作",
        "请",
        "帮助",
        "发票",
        "附件",
        "密码",
        "登录",
        "失败",
        "紧急",
        "谢谢",
    ],
    "el": [
        "ο",
        "εκτυπωτής",
        "δεν",
        "λειτουργεί",
        "βοήθεια",
        "παρακαλώ",
        "τιμολόγιο",
        "συνημμένο",
        "κωδικός",
    ],
}
_CHARSETS = {
    "en": ["us-ascii", "utf-8"],
    "de": ["utf-8", "iso-8859-1", "iso-8859-15"],
    "nl": ["utf-8", "iso-8859-1", "windows-1252"],
    "ru": ["utf-8", "koi8-r", "windows-1251"],
    "ja": ["utf-8", "iso-2022-jp", "shift_jis"],
    "zh": ["utf-8", "gb2312"],
    "el": ["utf-8", "iso-8859-7"],
}
_NAMES = ["Alice Example", "Bob Müller", "Jansen, Piet", "Иван Петров", "山田 太郎", "Zoë O'Brien"]
_DOMAINS = ["example.com", "example.org", "bücher.example", "mail.example.net", "example.nl"]
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def _sentence(rng: random.Random, lang: str, words: int) -> str:
    return " ".join(rng.choice(_WORDS[lang]) for _ in range(words)).capitalize() + "."


def _paragraphs(rng: random.Random, lang: str) -> list[str]:
    return [
        " ".join(_sentence(rng, lang, rng.randint(5, 14)) for _ in range(rng.randint(1, 4)))
        for _ in range(rng.randint(1, 6))
    ]


def _html(paragraphs: list[str], rng: random.Random) -> str:
    style = rng.choice(["gmail", "outlook", "plain"])
    if style == "gmail":
        body = "".join(f'<div dir="ltr">{p}</div><div><br></div>' for p in paragraphs)
        return f'<div dir="ltr">{body}<div class="gmail_signature">-- <br>Support</div></div>'
    if style == "outlook":
        body = "".join(
            f'<p class="MsoNormal"><span style="font-size:11.0pt">{p}</span><o:p></o:p></p>'
            '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
            for p in paragraphs
        )
        return (
            '<html><head><meta http-equiv=Content-Type content="text/html; charset=utf-8">'
            "<style><!-- p.MsoNormal {margin:0cm;} --></style></head>"
            f"<body lang=EN-US><div class=WordSection1>{body}"
            "<table><tr><td>Phone</td><td>+31 20 000 0000</td></tr></table></div></body></html>"
        )
    return "<html><body>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</body></html>"


def generate(count: int, seed: int = 2) -> list[bytes]:
    """``count`` realistic mails as bytes (deterministic)."""
    rng = random.Random(seed)
    mails: list[bytes] = []
    for number in range(count):
        lang = rng.choice(list(_WORDS))
        charset = rng.choice(_CHARSETS[lang])
        kind = rng.choices(["plain", "html", "alternative", "attachment"], [35, 15, 35, 15])[0]
        msg = EmailMessage()
        for hop in range(rng.randint(2, 6)):
            msg["Received"] = (
                f"from mx{hop}.example.net (mx{hop}.example.net [192.0.2.{hop + 1}]) by "
                f"mail.example.com with ESMTPS id {rng.getrandbits(40):x} for "
                f"<support@example.com>; {format_datetime(time_of(rng))}"
            )
        msg["DKIM-Signature"] = "v=1; a=rsa-sha256; d=example.org; s=s1; b=" + "A" * 300
        msg["From"] = f"{rng.choice(_NAMES)} <user{number}@{rng.choice(_DOMAINS)}>"
        msg["To"] = "Support <support@example.com>"
        if rng.random() < 0.3:
            msg["Cc"] = ", ".join(f"{rng.choice(_NAMES)} <cc{i}@example.org>" for i in range(3))
        subject = _sentence(rng, lang, rng.randint(3, 8))
        msg["Subject"] = ("Re: " if rng.random() < 0.4 else "") + subject
        msg["Date"] = format_datetime(time_of(rng))
        msg["Message-ID"] = make_msgid(domain="example.org")
        if rng.random() < 0.4:
            msg["In-Reply-To"] = make_msgid(domain="example.com")
            msg["References"] = " ".join(make_msgid(domain="example.com") for _ in range(3))
        paragraphs = _paragraphs(rng, lang)
        text = "\n\n".join(paragraphs) + "\n\n-- \nSent from my phone\n"
        cte = (
            rng.choice(["quoted-printable", "base64", "8bit"]) if charset != "us-ascii" else "7bit"
        )
        if charset == "iso-2022-jp":
            cte = "7bit"
        if kind == "html":
            msg.set_content(_html(paragraphs, rng), subtype="html", charset=charset, cte=cte)
        else:
            msg.set_content(text, charset=charset, cte=cte)
            if kind == "alternative":
                msg.add_alternative(
                    _html(paragraphs, rng), subtype="html", charset=charset, cte=cte
                )
            elif kind == "attachment":
                msg.add_attachment(
                    _PNG + rng.randbytes(rng.randint(2_000, 60_000)),
                    maintype="image",
                    subtype="png",
                    filename=f"screenshot {number}.png",
                )
                if rng.random() < 0.5:
                    msg.add_attachment(
                        b"%PDF-1.4\n" + rng.randbytes(rng.randint(5_000, 120_000)),
                        maintype="application",
                        subtype="pdf",
                        filename=f"Rechnung-{number}.pdf",
                    )
        mails.append(msg.as_bytes(policy=email.policy.SMTP))
    return mails


def time_of(rng: random.Random) -> dt.datetime:
    offset = dt.timezone(dt.timedelta(hours=rng.choice([-5, 0, 1, 2, 9])))
    return dt.datetime(2026, 1, 1, tzinfo=offset) + dt.timedelta(seconds=rng.randint(0, 30_000_000))


def baseline(raw: bytes) -> object:
    """The bare standard-library parse: what issue 2 measures the import against."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_body()
    return body.get_content() if body is not None else None


def helpmail_parse(raw: bytes) -> object:
    return parse_mail(raw)


def _run(func: Callable[[bytes], object], mails: list[bytes]) -> float:
    gc.collect()
    start = time.perf_counter()
    for raw in mails:
        func(raw)
    return time.perf_counter() - start


def big_mail(megabytes: int) -> bytes:
    """A mail with one base64 attachment of ``megabytes`` MB (decoded size)."""
    payload = (_PNG + bytes(range(256)) * 4096 * megabytes)[: megabytes * 1024 * 1024]
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    head = (
        "From: a@example.org\r\nSubject: big\r\nMessage-ID: <big@x>\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: text/plain\r\n\r\nsee attachment\r\n--b\r\n"
        "Content-Type: image/png; name=big.png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    return head.encode() + encoded + b"\r\n--b--\r\n"


def nested_mail(depth: int) -> bytes:
    """A mail with ``depth`` levels of multipart/mixed around one text part."""
    entity = "Content-Type: text/plain\r\n\r\ndeep text"
    for level in reversed(range(depth)):
        entity = (
            f'Content-Type: multipart/mixed; boundary="l{level}"\r\n\r\n'
            f"--l{level}\r\n{entity}\r\n--l{level}--\r\n"
        )
    return ("From: a@example.org\r\nSubject: deep\r\n" + entity).encode()


def many_parts_mail(count: int) -> bytes:
    parts = "".join(
        f"--b\r\nContent-Type: application/octet-stream; name=f{i}.bin\r\n\r\ndata {i}\r\n"
        for i in range(count)
    )
    head = 'From: a@example.org\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    return (head + parts + "--b--\r\n").encode()


def _best(func: Callable[[bytes], object], raw: bytes, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        func(raw)
        times.append(time.perf_counter() - start)
    return min(times)


def _peak_memory(func: Callable[[bytes], object], raw: bytes) -> int:
    gc.collect()
    tracemalloc.start()
    result = func(raw)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return peak


def scaling(repeat: int) -> dict[str, object]:
    """Time and memory on big and deep mails: linear growth shows as a flat per-unit time."""
    rows: dict[str, object] = {}
    print(f"\n{'input':<32} {'helpmail s':>11} {'per unit':>12} {'stdlib s':>10} {'ratio':>7}")
    for label, unit, sizes, make in (
        ("attachment MB", "MB", (1, 5, 25), big_mail),
        ("nesting depth", "level", (10, 50, 100), nested_mail),
        ("parts", "part", (500, 5000), many_parts_mail),
    ):
        for size in sizes:
            raw = make(size)
            ours = _best(helpmail_parse, raw, repeat)
            theirs = _best(baseline, raw, max(1, repeat // 2))
            per = ours / size
            print(
                f"{label + ' ' + str(size):<32} {ours:>11.4f} {per * 1000:>9.3f} ms "
                f"{theirs:>10.4f} {theirs / ours:>6.1f}x"
            )
            rows[f"{label} {size}"] = {
                "helpmail_s": ours,
                "per_unit_ms": per * 1000,
                "stdlib_s": theirs,
                "unit": unit,
            }
    raw = big_mail(25)
    ours_peak = _peak_memory(helpmail_parse, raw)
    theirs_peak = _peak_memory(baseline, raw)
    print(
        f"peak traced memory for the {len(raw) / 1e6:.1f} MB mail: helpmail "
        f"{ours_peak / 1e6:.0f} MB ({ours_peak / len(raw):.1f}x the input), stdlib "
        f"{theirs_peak / 1e6:.0f} MB ({theirs_peak / len(raw):.1f}x)"
    )
    rows["peak_memory_25mb"] = {
        "helpmail_bytes": ours_peak,
        "stdlib_bytes": theirs_peak,
        "input_bytes": len(raw),
    }
    return rows


def main(argv: list[str]) -> None:
    options = dict(a.lstrip("-").partition("=")[::2] for a in argv)
    count = int(options.get("count") or 2000)
    repeat = int(options.get("repeat") or 5)
    mails = generate(count)
    total = sum(map(len, mails))
    print(f"{count} generated mails, {total / 1e6:.1f} MB, best of {repeat} runs (interleaved)")
    for raw in mails[:50]:  # warm up caches of both
        baseline(raw)
        helpmail_parse(raw)
    times: dict[str, list[float]] = {"baseline": [], "helpmail": []}
    for _ in range(repeat):
        times["baseline"].append(_run(baseline, mails))
        times["helpmail"].append(_run(helpmail_parse, mails))
    best = {name: min(values) for name, values in times.items()}
    ratio = best["baseline"] / best["helpmail"]
    print(f"{'parser':<44} {'mails/s':>10} {'median s':>10}")
    rows = {
        "baseline": "email.message_from_bytes(default) + get_body",
        "helpmail": "helpmail.parse_mail",
    }
    for name, label in rows.items():
        print(f"{label:<44} {count / best[name]:>10.0f} {statistics.median(times[name]):>10.3f}")
    print(f"ratio parse_mail / baseline (speed): {ratio:.2f}x")
    result: dict[str, object] = {
        "count": count,
        "bytes": total,
        "repeat": repeat,
        "mails_per_s": {name: count / value for name, value in best.items()},
        "ratio_vs_baseline": ratio,
        "python": platform.python_version(),
    }
    if "no-scaling" not in options:
        result["scaling"] = scaling(max(1, repeat // 2 + 1))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "parse.json").write_text(json.dumps(result, indent=2) + "\n")
    if "profile" in options:
        profiler = cProfile.Profile()
        profiler.enable()
        for raw in mails:
            parse_mail(raw)
        profiler.disable()
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(25)
        print(stream.getvalue())


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
