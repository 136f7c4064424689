"""Benchmark: the whole import (Maildir -> pipeline -> SQLite) against the bare stdlib parse.

Generates a Maildir of realistic mails (:mod:`helpmail.testing.mailgen`: new requests in three
languages, HTML-only mail, follow-ups with quotes, screenshots, a disguised ``.exe``, auto-replies,
duplicates, bounces) in a temporary directory, then measures in the same run:

* **baseline**: read each file and ``email.message_from_bytes(raw, policy=email.policy.default)``
  plus ``get_body()`` -- what any Python program has to do at least;
* **import**: ``Desk.import_from(MaildirSource)`` into a fresh :class:`SqliteStore` (parse,
  classify, references, reply extraction, attachment policy, one durable transaction per mail,
  durable before any mailbox action: ``synchronous=NORMAL`` plus an ``fsync`` per batch, the
  default), and the same with ``synchronous=FULL`` (an ``fsync`` per commit);
* **peak memory** of the import in a fresh subprocess for two mailbox sizes (``tracemalloc`` peak
  of the Python heap and the process's maximum resident set size): it must stay flat, because the
  mailbox is streamed.

Figures are messages per second and the ratio import / baseline. Usage::

    python -m bench import [--count=10000] [--memory=10000,50000] [--no-memory]

Results go to ``bench/results/import.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent


def _option(argv: list[str], name: str, default: str) -> str:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return default


def _maildir(root: Path, count: int) -> Path:
    from helpmail.testing.mailgen import generate_mails, write_maildir

    path = root / f"maildir-{count}"
    write_maildir(path, generate_mails(count))
    return path


def _baseline(path: Path) -> tuple[float, int]:
    import email
    import email.policy

    names = sorted(p for sub in ("new", "cur") for p in (path / sub).iterdir())
    start = time.perf_counter()
    for name in names:
        raw = name.read_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        message.get_body()
    return time.perf_counter() - start, len(names)


def _import(
    path: Path, db: Path, synchronous: str, keep: int | None = None
) -> tuple[float, dict[str, int]]:
    from helpmail.adapters.mailbox import MaildirSource
    from helpmail.adapters.sqlite import SqliteStore
    from helpmail.service import Desk

    store = SqliteStore(db, synchronous=synchronous)
    desk = Desk(store=store)
    source = MaildirSource(path)
    start = time.perf_counter()
    report = desk.import_from(source, keep=keep)
    elapsed = time.perf_counter() - start
    source.close()
    store.close()
    return elapsed, {k.value: v for k, v in report.counts.items() if v}


def _child_memory(count: int) -> None:
    """Run in a subprocess: generate, then import under tracemalloc; print JSON."""
    import resource
    import tracemalloc

    with tempfile.TemporaryDirectory() as tmp:
        path = _maildir(Path(tmp), count)
        import helpmail.adapters.mailbox
        import helpmail.adapters.sqlite
        import helpmail.bounces
        import helpmail.replies
        import helpmail.service  # noqa: F401 - loaded before measuring

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        # keep=0: the report keeps counts only, as `helpmail import` does for big mailboxes
        elapsed, counts = _import(path, Path(tmp) / "t.db", "NORMAL", keep=0)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "count": count,
                "tracemalloc_peak_mib": round(peak / 2**20, 2),
                "maxrss_mib": round(after / 1024, 1),
                "maxrss_before_import_mib": round(before / 1024, 1),
                "seconds_under_tracemalloc": round(elapsed, 1),
                "counts": counts,
            }
        )
    )


def _memory(count: int) -> dict[str, object]:
    code = (
        f"import sys; sys.path.insert(0, {str(HERE.parent)!r}); "
        f"from bench.bench_import import _child_memory; _child_memory({count})"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> None:
    count = int(_option(argv, "count", "10000"))
    sizes = [int(x) for x in _option(argv, "memory", "10000,50000").split(",") if x]
    if "--no-memory" in argv:
        sizes = []
    results: dict[str, object] = {"count": count, "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        path = _maildir(root, count)
        print(f"generated {count} mails in {time.perf_counter() - start:.1f} s", flush=True)
        base_s, n = _baseline(path)
        normal_s, counts = _import(path, root / "normal.db", "NORMAL")
        full_s, _ = _import(path, root / "full.db", "FULL")
        base_again_s, _ = _baseline(path)  # the baseline twice: the machine is noisy
    base_rate = n / min(base_s, base_again_s)
    full_rate = n / full_s
    normal_rate = n / normal_s
    rows = [
        ("stdlib message_from_bytes(policy.default) + get_body()", base_rate, 1.0),
        (
            "helpmail import -> SQLite (default: NORMAL + sync per batch)",
            normal_rate,
            normal_rate / base_rate,
        ),
        (
            "helpmail import -> SQLite (synchronous=FULL every commit)",
            full_rate,
            full_rate / base_rate,
        ),
    ]
    print(f"\n{'what':58} {'msg/s':>9} {'ratio':>7}")
    for what, rate, ratio in rows:
        print(f"{what:58} {rate:9.0f} {ratio:7.2f}")
    print(f"outcomes: {counts}")
    results["rates"] = {
        "stdlib_parse": round(base_rate, 1),
        "import_full": round(full_rate, 1),
        "import_normal": round(normal_rate, 1),
    }
    results["ratio_import_full_vs_stdlib"] = round(full_rate / base_rate, 3)
    results["ratio_import_normal_vs_stdlib"] = round(normal_rate / base_rate, 3)
    results["outcomes"] = counts
    memory = []
    for size in sizes:
        print(f"peak memory: importing {size} mails in a subprocess...", flush=True)
        memory.append(_memory(size))
    if memory:
        print(f"\n{'mails':>8} {'tracemalloc peak MiB':>21} {'max RSS MiB':>12}")
        for item in memory:
            print(f"{item['count']:>8} {item['tracemalloc_peak_mib']:>21} {item['maxrss_mib']:>12}")
        results["memory"] = memory
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "import.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out / 'import.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])
