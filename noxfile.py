"""Developer sessions: tests on every Python found, lint, typecheck, docs, bench.

``nox`` with no arguments runs what CI needs (tests, lint, typecheck, docs). ``nox -s bench`` runs
the benchmarks, which install the peer libraries they compare against into their own environment.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PYTHONS = ["3.11", "3.12", "3.13"]

# pyenv puts shims first on PATH that fail for versions that are installed but not selected:
# put the real interpreters of every installed 3.11-3.13 in front so nox finds them all.
_found = []
for _version in PYTHONS:
    _dirs = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{_version}.*/bin")))
    if _dirs:
        _found.append(_dirs[-1])
if _found:
    os.environ["PATH"] = os.pathsep.join([*_found, os.environ.get("PATH", "")])

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True

TEST_DEPS = ["pytest>=8", "hypothesis>=6.100", "aiosmtpd>=1.4"]
LINT_DEPS = ["ruff>=0.17,<0.18"]  # pinned minor: new rules land in minor releases
TYPE_DEPS = ["mypy>=2.4,<2.5", *TEST_DEPS]
DOC_DEPS = ["sphinx>=7.2", "myst-parser>=3", "furo>=2024.1"]
BENCH_DEPS = ["flufl.bounce", "email-reply-parser", "mail-parser-reply", "quotequail", "talon"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite (real Dovecot/aiosmtpd servers are started by the suite itself)."""
    session.install("-e", ".", *TEST_DEPS)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHONS[0])
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*LINT_DEPS)
    session.run("ruff", "check", "src", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "bench", "noxfile.py")


@nox.session(python=PYTHONS[0])
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src and tests."""
    session.install("-e", ".", *TYPE_DEPS)
    session.run("mypy")


@nox.session(python=PYTHONS[0])
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors."""
    session.install("-e", ".", *DOC_DEPS)
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session(python=PYTHONS[0])
def bench(session: nox.Session) -> None:
    """Benchmarks: figures as ratios against baselines measured in the same run.

    Peer libraries (flufl.bounce, email-reply-parser, mail-parser-reply, quotequail, talon) are
    installed here only, never as helpmail dependencies. ``nox -s bench -- NAME`` runs one.
    """
    # the IMAP benchmark starts its Dovecot with the test suite's fixture module (imports pytest)
    session.install("-e", ".", "pytest")
    for peer in BENCH_DEPS:
        # A peer that no longer installs on this Python is reported as missing, not fatal: its
        # column in the tables is empty, with the import error as the reason.
        session.install(peer, success_codes=[0, 1, 2])
    session.run("python", "-m", "bench", *session.posargs)
