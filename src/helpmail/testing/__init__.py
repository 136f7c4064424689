"""Test doubles for helpmail's ports, shipped with the library (httpx's ``MockTransport`` idea).

* :class:`FakeClock`: a :class:`~helpmail.ports.Clock` that only moves when told to.
* :class:`ListSource`: an in-memory :class:`~helpmail.ports.MailSource` that records the mailbox
  actions applied to it.
* :func:`make_mail`: a small RFC 5322 message as bytes, for tests and examples.
* :func:`generate_mails` / :func:`write_maildir` (:mod:`helpmail.testing.mailgen`): a realistic,
  deterministic support mailbox of any size.
* :mod:`helpmail.testing.store_conformance`: the behaviour every
  :class:`~helpmail.ports.TicketStore` must show; run it against your own store.

Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence

import attrs

from helpmail.ports import MailboxAction, MessageRef, SourceMessage
from helpmail.testing.mailgen import generate_mails, write_maildir

__all__ = ["FakeClock", "ListSource", "generate_mails", "make_mail", "write_maildir"]


@attrs.define
class FakeClock:
    """A clock for tests: ``now()`` returns ``start`` plus whatever :meth:`advance` added."""

    start: dt.datetime = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    offset: dt.timedelta = dt.timedelta(0)

    def now(self) -> dt.datetime:
        return self.start + self.offset

    def advance(self, seconds: float = 0, **delta: float) -> None:
        """Move the clock forward (``advance(60)`` or ``advance(hours=2)``)."""
        self.offset += dt.timedelta(seconds=seconds, **delta)


class ListSource:
    """A :class:`~helpmail.ports.MailSource` over raw mails in memory.

    Message ``i`` gets the key ``str(i + 1)`` in folder ``folder``; ``applied`` lists every
    ``(ref, actions)`` the service asked for, ``deleted``/``moved``/``seen`` the net effect.
    Deleted and moved messages are not yielded again.
    """

    def __init__(
        self,
        raws: Iterable[bytes],
        *,
        name: str = "memory:test",
        folder: str = "INBOX",
        uidvalidity: int | None = 1,
    ) -> None:
        self._name = name
        self.folder = folder
        self.uidvalidity = uidvalidity
        self.raws: list[bytes] = list(raws)
        self.applied: list[tuple[MessageRef, tuple[MailboxAction, ...]]] = []
        self.seen: set[str] = set()
        self.gone: dict[str, str] = {}
        self.closed = False

    @property
    def name(self) -> str:
        return self._name

    def ref(self, index: int) -> MessageRef:
        """The ref of message ``index`` (0-based)."""
        return MessageRef(
            source=self._name, folder=self.folder, uid=str(index + 1), uidvalidity=self.uidvalidity
        )

    def messages(self) -> Iterator[SourceMessage]:
        for index, raw in enumerate(self.raws):
            ref = self.ref(index)
            if ref.uid in self.gone:
                continue
            flags = frozenset({"\\Seen"}) if ref.uid in self.seen else frozenset()
            yield SourceMessage(ref=ref, raw=raw, flags=flags, size=len(raw))

    def apply(self, ref: MessageRef, actions: tuple[MailboxAction, ...]) -> None:
        self.applied.append((ref, actions))
        for action in actions:
            if action.kind.value == "mark_seen":
                self.seen.add(ref.uid)
            elif action.kind.value in ("move", "delete"):
                where = f" {action.folder}" if action.folder else ""
                self.gone[ref.uid] = action.kind.value + where

    def close(self) -> None:
        self.closed = True


def make_mail(
    *,
    subject: str = "Hello",
    body: str = "Hello, I need help.",
    sender: str = "Alice Example <alice@example.org>",
    to: str = "support@desk.example",
    message_id: str | None = "msg-1@example.org",
    date: str = "Mon, 05 Jan 2026 08:00:00 +0000",
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    headers: Sequence[tuple[str, str]] = (),
    attachments: Sequence[tuple[str, str, bytes]] = (),
    html: str | None = None,
) -> bytes:
    """A simple mail as bytes (CRLF line ends); ``attachments`` are ``(filename, type, bytes)``.

    With attachments or ``html`` the mail is ``multipart/mixed``; everything else is plain text in
    UTF-8 (8bit).
    """
    import base64

    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {date}"]
    if message_id is not None:
        lines.append(f"Message-ID: <{message_id}>")
    if in_reply_to:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        lines.append("References: " + " ".join(f"<{r}>" for r in references))
    lines.extend(f"{k}: {v}" for k, v in headers)
    lines.append("MIME-Version: 1.0")
    if not attachments and html is None:
        lines += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", ""]
        lines.append(body)
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")
    boundary = "==helpmail-test-boundary=="
    lines += [f'Content-Type: multipart/mixed; boundary="{boundary}"', ""]
    lines += [f"--{boundary}"]
    if html is not None:
        lines += ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit", ""]
        lines.append(html)
    else:
        lines += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", ""]
        lines.append(body)
    for filename, media_type, payload in attachments:
        encoded = base64.encodebytes(payload).decode("ascii").replace("\n", "\r\n").rstrip()
        lines += [
            f"--{boundary}",
            f'Content-Type: {media_type}; name="{filename}"',
            f'Content-Disposition: attachment; filename="{filename}"',
            "Content-Transfer-Encoding: base64",
            "",
            encoded,
        ]
    lines.append(f"--{boundary}--")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
