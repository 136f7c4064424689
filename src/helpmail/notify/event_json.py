"""Ticket events as JSON: the ``EVENT.json`` format of ``helpmail notify``.

An event is one JSON object. ``type`` is an event kind (:class:`~helpmail.notify.EventKind`:
``ticket_created``, ``follow_up_added``, ...); ``ticket`` is the snapshot
(:class:`~helpmail.tickets.events.TicketSnapshot` fields); ``at`` an ISO 8601 time with offset;
every other key is a field of that event class, under its Python name::

    {"type": "ticket_created", "at": "2026-11-23T09:00:00+00:00",
     "channel": "mail", "via_mail_import": true, "text": "The printer is on fire",
     "ticket": {"id": "T-17", "number": "1017", "title": "Printer", "status": "new",
                "queue": "support", "reporter_address": "carla@example.org"}}

Unknown keys and wrong types are :class:`~helpmail.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any

import attrs

from helpmail.errors import ConfigError
from helpmail.notify.settings import EVENT_CLASSES, EventKind
from helpmail.tickets import events as ev


def _convert(hint: Any, value: object, key: str) -> object:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, key)
            except ConfigError as error:
                errors.append(error.problem)
        raise ConfigError(key, "; ".join(errors))
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise ConfigError(key, f"expected a list, got {type(value).__name__}")
        return tuple(_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is dt.datetime:
        if not isinstance(value, str):
            raise ConfigError(key, "expected an ISO 8601 time")
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(key, f"not an ISO 8601 time: {value!r}") from None
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in hint)
            raise ConfigError(key, f"unknown value {value!r}; one of: {allowed}") from None
    if isinstance(hint, type) and attrs.has(hint):
        return _build(hint, value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(key, f"expected an integer, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {type(value).__name__}")
        return value
    raise ConfigError(key, f"unsupported field type {hint!r}")


def _build(cls: type[Any], value: object, key: str, skip: frozenset[str] = frozenset()) -> Any:
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"expected an object, got {type(value).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in attrs.fields(cls)}
    kwargs: dict[str, object] = {}
    for name, raw in value.items():
        if name in skip:
            continue
        if name not in fields:
            raise ConfigError(f"{key}.{name}" if key else name, "unknown key")
        kwargs[name] = _convert(hints[name], raw, f"{key}.{name}" if key else name)
    missing = [n for n, f in fields.items() if f.default is attrs.NOTHING and n not in kwargs]
    if missing:
        raise ConfigError(f"{key}.{missing[0]}" if key else missing[0], "is required")
    return cls(**kwargs)


def event_from_json(data: object) -> ev.TicketEvent:
    """Build a ticket event from a decoded ``EVENT.json`` object (see the module docstring)."""
    if not isinstance(data, Mapping):
        raise ConfigError("event", "expected a JSON object")
    if "type" not in data:
        raise ConfigError("type", "is required (an event kind such as ticket_created)")
    kind = _convert(EventKind, data["type"], "type")
    assert isinstance(kind, EventKind)
    event: ev.TicketEvent = _build(EVENT_CLASSES[kind], data, "", skip=frozenset({"type"}))
    return event


def event_to_json(event: ev.TicketEvent) -> dict[str, Any]:
    """The ``EVENT.json`` object of an event (the inverse of :func:`event_from_json`)."""
    from helpmail.notify.settings import event_kind

    def plain(value: object) -> object:
        if isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if attrs.has(type(value)):
            return {f.name: plain(getattr(value, f.name)) for f in attrs.fields(type(value))}  # type: ignore[arg-type]
        return value

    body = plain(event)
    assert isinstance(body, dict)
    return {"type": str(event_kind(event)), **body}
