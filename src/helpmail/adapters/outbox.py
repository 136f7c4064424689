"""An outbox sender: composed mails are written to a Maildir folder instead of being sent.

For dry runs, the demo and tests: every mail a :class:`~helpmail.notify.ports.MailSender` would
send lands as one file in ``OUTBOX/new/`` that any mail client (``mutt -f OUTBOX``) or a test can
open. Like a delivering MTA, it records the envelope in the file's first lines:
``Return-Path`` (RFC 5321 §4.4: the MAIL FROM address) and ``X-Envelope-To`` (the RCPT TO
addresses), since the headers alone do not show them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs

from helpmail.errors import SendError
from helpmail.notify.ports import OutgoingMail, SendReceipt


def _one_line(text: str) -> str:
    return " ".join(text.split())


@attrs.define
class MaildirOutbox:
    """A :class:`~helpmail.notify.ports.MailSender` that writes into a Maildir (created on demand).

    Files are written to ``tmp/`` and renamed into ``new/`` (the Maildir delivery protocol), so a
    reader never sees half a mail.
    """

    path: Path = attrs.field(converter=Path)

    def send(self, mail: OutgoingMail) -> SendReceipt:
        """Write one mail; raises :class:`SendError` when the folder cannot be written."""
        import mailbox
        from email import policy

        if not mail.envelope_to:
            raise SendError("no recipients")
        envelope = (
            f"Return-Path: <{_one_line(mail.envelope_from)}>\n"
            f"X-Envelope-To: {_one_line(', '.join(mail.envelope_to))}\n"
        ).encode()
        body = mail.message.as_bytes(policy=policy.default.clone(linesep="\n"))
        try:
            box = mailbox.Maildir(self.path, create=True)
            box.add(envelope + body)
        except OSError as error:
            raise SendError(
                f"cannot write to outbox {self.path}: {error.strerror or error}"
            ) from None
        return SendReceipt(accepted=tuple(mail.envelope_to))

    def messages(self) -> Iterator[bytes]:
        """The raw mails in the outbox (``new/`` and ``cur/``), oldest first by file name."""
        files = [p for sub in ("new", "cur") for p in (self.path / sub).glob("*") if p.is_file()]
        for file in sorted(files, key=lambda p: p.name):
            yield file.read_bytes()
