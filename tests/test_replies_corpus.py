"""extract_reply over every labelled case of the reply corpora in tests/data/replies.

Each corpus folder holds its inputs, ``expected.json`` (full expected replies), ``meta.json``
(partial ``checks``, tags) and its licence. Comparison is exact after whitespace normalisation
(per-line strip, blank runs collapsed, ends stripped); talon's HTML cases compare with all white
space removed, as upstream does.

Where a corpus's idea of "the reply" differs from helpmail's policy (talon keeps signatures,
taglines and forwards; quotequail expects ``""`` for a forward without a note and keeps a lone
trailing ``>`` line as text; several corpora cut sign-offs), ``tests/data/replies/policy.json``
gives helpmail's expectation and the reason, and these tests assert that instead.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from helpmail import parse_mail
from helpmail.replies import Method, Reply, extract_reply

DATA = Path(__file__).parent / "data" / "replies"
CORPORA = sorted(p.name for p in DATA.iterdir() if (p / "meta.json").exists())


def normalise(text: str) -> str:
    """Per-line strip, runs of blank lines collapsed to one, ends stripped."""
    out: list[str] = []
    for line in (part.strip() for part in text.strip().split("\n")):
        if line == "" and out and out[-1] == "":
            continue
        out.append(line)
    return "\n".join(out).strip()


def no_whitespace(text: str) -> str:
    return re.sub(r"\s+", "", text)


@cache
def _policy() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / "policy.json").read_text(encoding="utf-8"))
    return loaded


@cache
def _corpus(name: str) -> tuple[dict[str, str], dict[str, Any]]:
    expected: dict[str, str] = json.loads(
        (DATA / name / "expected.json").read_text(encoding="utf-8")
    )
    meta: dict[str, Any] = json.loads((DATA / name / "meta.json").read_text(encoding="utf-8"))[
        "cases"
    ]
    return expected, meta


def run_case(path: Path) -> Reply:
    """Input as the corpus defines it: .eml parsed whole, .html as an HTML body, else plain text."""
    if path.suffix == ".eml":
        return extract_reply(parse_mail(path.read_bytes()))
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        return extract_reply("", html=text)
    return extract_reply(text)


def _cases() -> list[Any]:
    params = []
    for corpus in CORPORA:
        _expected, meta = _corpus(corpus)
        for case, info in meta.items():
            if "perf-only" in info.get("tags", []):
                continue
            params.append(pytest.param(corpus, case, id=f"{corpus}/{case}"))
    return params


@pytest.mark.parametrize(("corpus", "case"), _cases())
def test_corpus_case(corpus: str, case: str) -> None:
    expected, meta = _corpus(corpus)
    info = meta[case]
    key = f"{corpus}/{case}"
    reply = run_case(DATA / corpus / case)
    assert reply.text.strip(), "never empty when the mail has text"
    override = _policy()["cases"].get(key)
    want = override["expected"] if override else expected.get(case)
    if want is not None:
        if info.get("compare") == "nows":
            assert no_whitespace(reply.text) == no_whitespace(want)
        else:
            assert normalise(reply.text) == normalise(want)
    signoffs = _policy()["signoff_checks"].get(key, [])
    text = normalise(reply.text)
    for check in info.get("checks", []):
        value = normalise(check["value"])
        if check["op"] == "not_contains" and check["value"] in signoffs:
            assert value in text, "helpmail keeps the writer's sign-off"
            continue
        if check["op"] == "startswith":
            assert text.startswith(value)
        elif check["op"] == "endswith":
            assert text.endswith(value)
        elif check["op"] == "contains":
            assert value in text
        elif check["op"] == "not_contains":
            assert value not in text


def test_policy_cases_exist_and_differ_for_a_reason() -> None:
    """Every policy override names a real case, and the corpus's own expectation differs from
    ours."""
    for key, override in _policy()["cases"].items():
        if key.startswith("_"):
            continue
        corpus, _, case = key.partition("/")
        expected, meta = _corpus(corpus)
        assert case in meta
        assert override["kind"] in {"signature", "forward", "quote"}
        assert normalise(expected[case]) != normalise(override["expected"])


def test_marker_corpus_takes_the_marker_path() -> None:
    expected, _meta = _corpus("marker")
    assert len(expected) >= 15
    for case in expected:
        reply = run_case(DATA / "marker" / case)
        assert reply.method is Method.OWN_MARKER, case


@pytest.mark.parametrize("case", sorted(_corpus("marker")[0]))
def test_marker_corpus_html_part_alone(case: str) -> None:
    """The HTML part alone (what an HTML-only client sends) gives the same reply."""
    mail = parse_mail((DATA / "marker" / case).read_bytes())
    if not mail.html:
        pytest.skip("text-only client")
    reply = extract_reply("", html=mail.html)
    assert reply.method is Method.OWN_MARKER
    assert normalise(reply.text) == normalise(_corpus("marker")[0][case])


@pytest.mark.parametrize("case", sorted(_corpus("marker")[0]))
def test_marker_corpus_parent_without_marker(case: str) -> None:
    """With the marker line removed, the parent (helpmail's own mail) still finds the reply."""
    mail = parse_mail((DATA / "marker" / case).read_bytes())
    if mail.text_from_html:
        pytest.skip("HTML-only client")
    lang = "de" if ("_de" in case or "gmx" in case) else ("nl" if "_nl" in case else "en")
    parent = (DATA / "marker" / f"parent_{lang}.txt").read_text(encoding="utf-8")
    text = mail.text
    for marker in (
        "===== reply above this line =====",
        "===== Bitte oberhalb dieser Zeile antworten =====",
        "===== Antwoord boven deze regel =====",
        "reply above th=\nis line",
        "Bitte oberhalb dieser",
        "Zeile antworten",
    ):
        text = text.replace(marker, "")
    reply = extract_reply(text, parent=parent)
    assert reply.method is not Method.OWN_MARKER
    assert normalise(reply.text) == normalise(_corpus("marker")[0][case])
