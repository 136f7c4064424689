"""Notification templates: sandboxed Jinja2 rendering and the shipped defaults (en, de, nl).

Admins edit templates, so they are untrusted code. They run in Jinja2's
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` (no access to ``__class__``, ``mro``,
globals, or mutation of lists and dicts) with :class:`~jinja2.StrictUndefined` (a misspelt
variable is an error, not an empty string) and autoescaping for the HTML part only. Any failure
becomes a :class:`~helpmail.errors.TemplateError` that names the template and its line.

Template names are ``{language}/{name}.{part}`` with ``part`` one of ``subject``, ``txt`` and
``html``. For one mail (event kind, recipient role, part, language) the first existing name wins:

1. ``{lang}/{kind}.{role}.{part}`` - one event, one role
2. ``{lang}/{role}.{part}`` - one role, any event (the import notices ship their subjects so)
3. ``{lang}/{kind}.{part}`` - one event, any role
4. ``{lang}/default.{part}``

first in the recipient's language, then in the default language. A host's loader (any
:class:`jinja2.BaseLoader`, or a folder) is asked before the shipped defaults, so it overrides
any of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from helpmail.errors import TemplateError

DEFAULTS_DIR = Path(__file__).parent / "defaults"
SHIPPED_LANGUAGES: tuple[str, ...] = ("en", "de", "nl")
PARTS: tuple[str, ...] = ("subject", "txt", "html")

_SPACE = re.compile(r"\s+")


#: the largest string or list a template may build with ``*`` (items or characters)
MAX_REPEAT = 100_000
#: the largest exponent a template may use with ``**``
MAX_EXPONENT = 100


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus limits on ``*`` and ``**`` so a template cannot exhaust memory
    or CPU (``{{ "x" * 10**10 }}``); ``range`` is already limited by Jinja2 (100,000 items)."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._safe: dict[tuple[type, str], bool] = {}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Jinja2's check, cached per (type, attribute name): its answer depends on nothing else
        (the attribute name and ``isinstance`` tests on the object), and it is the sandbox's
        main cost per attribute access."""
        key = (type(obj), attr)
        safe = self._safe.get(key)
        if safe is None:
            if len(self._safe) > 4096:
                self._safe.clear()
            safe = self._safe[key] = super().is_safe_attribute(obj, attr, value)
        return safe

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is over the limit of {MAX_EXPONENT}")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > MAX_REPEAT
                ):
                    raise SecurityError(f"repetition over the limit of {MAX_REPEAT} items")
        return super().call_binop(context, operator, left, right)


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith(".html")


@attrs.frozen(kw_only=True)
class RenderedTemplates:
    """One rendered mail: subject (one line), text part, HTML part, and the template names used."""

    subject: str
    text: str
    html: str
    names: tuple[str, str, str]


def template_names(kind: str, role: str, part: str, language: str) -> list[str]:
    """The names tried, in order, for one part in one language (see the module docstring)."""
    return [
        f"{language}/{kind}.{role}.{part}",
        f"{language}/{role}.{part}",
        f"{language}/{kind}.{part}",
        f"{language}/default.{part}",
    ]


def _line_in_template(error: BaseException, template: jinja2.Template | None) -> int | None:
    """The template line of a render error (Jinja2 rewrites tracebacks to template lines)."""
    if template is None:
        return None
    filename = template.filename or "<template>"
    line = None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class TemplateRenderError(TemplateError):
    """A template failed to compile or render; ``template`` and ``line`` say where."""

    def __init__(self, template: str, line: int | None, problem: str) -> None:
        self.template = template
        self.line = line
        self.problem = problem
        where = f"{template}, line {line}" if line else template
        super().__init__(f"template {where}: {problem}")


def _error(name: str, line: int | None, error: BaseException) -> TemplateRenderError:
    message = getattr(error, "message", None) or str(error)
    return TemplateRenderError(name, line, f"{type(error).__name__}: {message}")


class TemplateRenderer:
    """Renders notification templates in a sandbox; host templates override the shipped ones.

    ``loader`` is any Jinja2 loader (a ``DictLoader``, a ``FileSystemLoader`` over the host's
    template folder, a loader reading a database); ``template_dir`` is a shortcut for a folder.
    Both are asked before the shipped defaults. Compiled templates and name look-ups are cached.
    """

    def __init__(
        self,
        loader: jinja2.BaseLoader | None = None,
        *,
        template_dir: str | Path | None = None,
        default_language: str = "en",
    ) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if loader is not None:
            loaders.append(loader)
        if template_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(template_dir)))
        loaders.append(jinja2.FileSystemLoader(str(DEFAULTS_DIR)))
        self.default_language = default_language
        self.env = _Sandbox(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=_autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=False,
            cache_size=1000,
        )
        self._chosen: dict[tuple[str, str, str, str], tuple[jinja2.Template, str]] = {}

    def clear_cache(self) -> None:
        """Forget compiled templates and name look-ups (after a host edited its templates)."""
        self._chosen.clear()
        if self.env.cache is not None:
            self.env.cache.clear()

    def languages(self, language: str) -> list[str]:
        """The language directories tried for ``language`` (``de-AT`` -> ``de``, then default)."""
        base = language.lower().replace("_", "-").partition("-")[0] or self.default_language
        return [base] if base == self.default_language else [base, self.default_language]

    def select(self, kind: str, role: str, part: str, language: str) -> tuple[jinja2.Template, str]:
        """The template for one part, and the language directory it came from."""
        key = (kind, role, part, language)
        found = self._chosen.get(key)
        if found is not None:
            return found
        names = [
            n for lang in self.languages(language) for n in template_names(kind, role, part, lang)
        ]
        try:
            template = self.env.select_template(names)
        except jinja2.TemplateSyntaxError as error:
            raise _error(error.name or error.filename or names[0], error.lineno, error) from error
        except jinja2.TemplateNotFound as error:
            raise TemplateError(f"no template for {part}: tried {', '.join(names)}") from error
        name = template.name or names[0]
        found = (template, name.partition("/")[0])
        self._chosen[key] = found
        return found

    def render_part(
        self, kind: str, role: str, part: str, language: str, variables: Mapping[str, Any]
    ) -> tuple[str, str]:
        """Render one part; returns (text, template name). Raises :class:`TemplateError`."""
        template, template_language = self.select(kind, role, part, language)
        name = template.name or f"{template_language}/?"
        try:
            return template.render(variables, template_language=template_language), name
        except jinja2.TemplateSyntaxError as error:  # in an imported/included template
            raise _error(error.name or name, error.lineno, error) from error
        except Exception as error:  # UndefinedError, SecurityError, anything the template raised
            raise _error(name, _line_in_template(error, template), error) from error

    def render(
        self, kind: str, role: str, language: str, variables: Mapping[str, Any]
    ) -> RenderedTemplates:
        """Render subject, text and HTML for one event kind, recipient role and language.

        The subject is folded to one line (templates cannot add header lines).
        """
        subject, subject_name = self.render_part(kind, role, "subject", language, variables)
        text, text_name = self.render_part(kind, role, "txt", language, variables)
        html, html_name = self.render_part(kind, role, "html", language, variables)
        return RenderedTemplates(
            subject=_SPACE.sub(" ", subject).strip(),
            text=text.strip("\n") + "\n",
            html=html,
            names=(subject_name, text_name, html_name),
        )

    def render_string(
        self, source: str, variables: Mapping[str, Any], name: str = "<string>"
    ) -> str:
        """Render a template given as text, in the same sandbox (for checks and previews)."""
        try:
            template = self.env.from_string(source)
        except jinja2.TemplateSyntaxError as error:
            raise _error(name, error.lineno, error) from error
        try:
            return template.render(variables)
        except Exception as error:
            raise _error(name, _line_in_template(error, template), error) from error

    def list_names(self) -> Sequence[str]:
        """All template names the loaders know (host and shipped)."""
        return sorted(set(self.env.list_templates()))


__all__ = [
    "DEFAULTS_DIR",
    "PARTS",
    "SHIPPED_LANGUAGES",
    "RenderedTemplates",
    "TemplateRenderError",
    "TemplateRenderer",
    "template_names",
]
