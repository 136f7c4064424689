"""Run the benchmarks: ``python -m bench [NAME ...]``.

Every ``bench/bench_<name>.py`` module has a ``main(argv: list[str]) -> None`` that prints its own
table (figures as ratios against a baseline measured in the same run, because these machines are
noisy) and writes ``bench/results/<name>.json``. With no names, all of them run.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")]
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    chosen = names or available
    unknown = [n for n in chosen if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}")
        return 2
    (HERE / "results").mkdir(exist_ok=True)
    for name in chosen:
        print(f"\n=== bench {name} ===", flush=True)
        module = importlib.import_module(f"bench.bench_{name}")
        module.main([a for a in argv if a.startswith("-")])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
