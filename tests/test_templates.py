"""Templates (issue 6): sandbox, strict variables, HTML-only autoescape, overrides, en/de/nl."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jinja2
import pytest

from helpmail.errors import TemplateError
from helpmail.notify import EventKind, NotifySettings, Recipient, Role, Sender
from helpmail.notify.check import sample_event
from helpmail.notify.plan import template_variables, ticket_url
from helpmail.notify.settings import APPLICABLE_ROLES
from helpmail.templates import SHIPPED_LANGUAGES, TemplateRenderer, TemplateRenderError
from helpmail.tickets import events as ev

SETTINGS = NotifySettings(server_url="https://desk.example.com/")
AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def recipient(role: Role = Role.RESOURCE, language: str = "en") -> Recipient:
    return Recipient(
        address="anna@example.com",
        person="anna",
        name="Anna",
        roles=(role,),
        language=language,
        sender=Sender(address="desk@example.com"),
    )


def variables(
    kind: EventKind = EventKind.ESCALATED, role: Role = Role.RESOURCE, language: str = "en"
) -> dict[str, object]:
    return template_variables(sample_event(kind), recipient(role, language), SETTINGS, str(kind))


def test_ticket_url_variable_is_server_url_ticketlist_ticket_id() -> None:
    assert variables()["ticket_url"] == "https://desk.example.com/ticketlist/ticket/T-1"
    assert ticket_url("https://x.example", "a/b") == "https://x.example/ticketlist/ticket/a%2Fb"


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_shipped_defaults_render_every_event_and_role_in_en_de_nl(language: str) -> None:
    renderer = TemplateRenderer()
    for kind in EventKind:
        for role in APPLICABLE_ROLES[kind]:
            out = renderer.render(str(kind), str(role), language, variables(kind, role, language))
            assert out.subject
            assert "\n" not in out.subject
            assert "https://desk.example.com/ticketlist/ticket/T-1" in out.text
            assert 'href="https://desk.example.com/ticketlist/ticket/T-1"' in out.html
            assert all(name.startswith(f"{language}/") for name in out.names)


@pytest.mark.parametrize(
    ("language", "role", "subject"),
    [
        ("en", Role.IMPORT_MANAGER, "Ticket 1 - Sample ticket added via the importer"),
        ("en", Role.IMPORT_ASSIGNEE, "Ticket 1 - Sample ticket has a new follow-up"),
        ("en", Role.IMPORT_CUSTOMER, "Ticket 1 - Sample ticket is registered"),
        ("de", Role.IMPORT_MANAGER, "Ticket 1 - Sample ticket über den Importer hinzugefügt"),
        ("de", Role.IMPORT_ASSIGNEE, "Ticket 1 - Sample ticket hat eine neue Rückmeldung"),
        ("de", Role.IMPORT_CUSTOMER, "Ticket 1 - Sample ticket ist registriert"),
        ("nl", Role.IMPORT_MANAGER, "Ticket 1 - Sample ticket toegevoegd via de importer"),
        ("nl", Role.IMPORT_ASSIGNEE, "Ticket 1 - Sample ticket heeft een nieuwe follow-up"),
        ("nl", Role.IMPORT_CUSTOMER, "Ticket 1 - Sample ticket is geregistreerd"),
    ],
)
def test_import_notice_default_subjects_localised(language: str, role: Role, subject: str) -> None:
    kind = EventKind.FOLLOW_UP_ADDED if role is Role.IMPORT_ASSIGNEE else EventKind.TICKET_CREATED
    out = TemplateRenderer().render(str(kind), str(role), language, variables(kind, role, language))
    assert out.subject == subject
    assert out.names[0] == f"{language}/{role}.subject"


def test_unknown_language_falls_back_to_default_language() -> None:
    out = TemplateRenderer().render("escalated", "resource", "fr-CA", variables(language="fr"))
    assert out.names == ("en/default.subject", "en/default.txt", "en/default.html")
    de = TemplateRenderer().render("escalated", "resource", "de-AT", variables(language="de"))
    assert de.subject.startswith("Eskaliert")


def test_autoescape_html_parts_only() -> None:
    event = ev.CommentAdded(
        ticket=sample_event(EventKind.COMMENT_ADDED).ticket,
        at=AT,
        text="<script>alert(1)</script> & co",
        visible_to_customer=True,
    )
    values = template_variables(event, recipient(Role.USERS), SETTINGS, "comment_added")
    out = TemplateRenderer().render("comment_added", "users", "en", values)
    assert "<script>" not in out.html
    assert "&lt;script&gt;" in out.html
    assert "<script>alert(1)</script> & co" in out.text


def test_host_loader_overrides_any_shipped_template() -> None:
    host = jinja2.DictLoader(
        {
            "en/escalated.resource.subject": "ESCALATED {{ ticket.number }}",
            "de/default.txt": "Eigener Text für {{ recipient.name }}",
        }
    )
    renderer = TemplateRenderer(host)
    out = renderer.render("escalated", "resource", "en", variables())
    assert out.subject == "ESCALATED 1"
    assert out.names[1] == "en/default.txt"  # not overridden: shipped default
    de = renderer.render("escalated", "resource", "de", variables(language="de"))
    assert de.text == "Eigener Text für Anna\n"


def test_host_template_folder_overrides(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "resource.html").write_text("<p>{{ ticket.title }}</p>", encoding="utf-8")
    out = TemplateRenderer(template_dir=tmp_path).render("escalated", "resource", "en", variables())
    assert out.html == "<p>Sample ticket</p>"


def _fails(source: str, name: str = "en/escalated.subject") -> TemplateRenderError:
    renderer = TemplateRenderer(jinja2.DictLoader({name: source}))
    with pytest.raises(TemplateError) as caught:
        renderer.render("escalated", "resource", "en", variables())
    assert isinstance(caught.value, TemplateRenderError)
    return caught.value


def test_template_unknown_variable_fails_naming_template_and_line() -> None:
    error = _fails("line one\n{{ ticket.number }}\n{{ tikcet.title }}")
    assert error.template == "en/escalated.subject"
    assert error.line == 3
    assert "en/escalated.subject, line 3" in str(error)
    assert "tikcet" in str(error)


def test_template_unknown_attribute_fails() -> None:
    error = _fails("{{ ticket.no_such_field }}")
    assert error.line == 1
    assert "no_such_field" in str(error)


@pytest.mark.parametrize(
    "source",
    [
        "{{ ticket.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.__class__.__base__ }}",
        "{{ event.__init__.__globals__ }}",
        "{{ recipient.roles.__class__ }}",
        "{% set x = [] %}{{ x.append(1) }}",
        "{{ cycler.__init__.__globals__.os }}",
    ],
)
def test_template_escaping_the_sandbox_fails(source: str) -> None:
    error = _fails("ok\n" + source)
    assert error.line == 2
    assert "SecurityError" in str(error) or "UndefinedError" in str(error)


def test_template_syntax_error_names_template_and_line() -> None:
    error = _fails("a\nb\n{% if %}")
    assert (error.template, error.line) == ("en/escalated.subject", 3)


def test_subject_cannot_span_lines() -> None:
    renderer = TemplateRenderer(
        jinja2.DictLoader({"en/escalated.subject": "a\r\nBcc: x@example.com"})
    )
    out = renderer.render("escalated", "resource", "en", variables())
    assert out.subject == "a Bcc: x@example.com"


@pytest.mark.parametrize(
    "source",
    ['{{ "x" * 10**9 }}', "{{ 2 ** 100000 }}", "{{ [1, 2] * 10**6 }}", "{{ range(10**9) | list }}"],
)
def test_template_cannot_exhaust_memory_or_cpu(source: str) -> None:
    error = _fails(source)
    assert error.line == 1
    assert "SecurityError" in str(error) or "MAX_RANGE" in str(error)


def test_template_small_arithmetic_still_works() -> None:
    renderer = TemplateRenderer(
        jinja2.DictLoader({"en/escalated.subject": "{{ '=' * 3 }}{{ 2 ** 3 }}"})
    )
    assert renderer.render("escalated", "resource", "en", variables()).subject == "===8"


def test_clear_cache_picks_up_edited_templates() -> None:
    templates = {"en/escalated.subject": "one"}
    renderer = TemplateRenderer(jinja2.DictLoader(templates))
    assert renderer.render("escalated", "resource", "en", variables()).subject == "one"
    templates["en/escalated.subject"] = "two"
    renderer.clear_cache()
    assert renderer.render("escalated", "resource", "en", variables()).subject == "two"
