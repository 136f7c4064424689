"""Maildir and mbox mail sources (:class:`~helpmail.ports.MailSource`), streamed.

Rules this module keeps:

* **Streaming.** Only the list of message *names* (Maildir) is held in memory, never the mail: each
  message is read when it is yielded. An mbox file is read line by line; its messages are cut at
  ``From`` separator lines (RFC 4155) and ``>From`` quoting is undone (mboxrd).
* **Stable keys.** A Maildir message's key is its unique file name up to the ``:2,`` info part
  (the Maildir specification): it survives being marked seen or moved between ``new`` and
  ``cur``. An mbox has no names and offsets change whenever the file is rewritten, so an mbox
  message's key is a digest of its bytes *as the mail client left them apart from its own
  bookkeeping*: line ends normalised, the status headers mail clients rewrite (``Status``,
  ``X-Status``, ``X-Mozilla-Status``, ``X-Mozilla-Status2``, ``X-UID``, ``X-Keywords``,
  ``Content-Length``, ``Lines``) left out, and ``>From`` quoting undone. It survives marking seen,
  deleting other messages and mboxo/mboxrd rewrites; two byte-identical messages in one mbox
  share a key and are imported once.
* **Actions after commit only.** :meth:`apply` is called by the service after the store committed
  the message. Maildir: ``mark_seen`` moves the file to ``cur`` with the ``S`` flag, ``move``
  renames it into a Maildir++ sub-folder (``.Folder``, created with :class:`mailbox.Maildir` when
  missing), ``delete`` unlinks it; each is one atomic ``rename``/``unlink`` and doing it twice is
  harmless. mbox: actions are collected and carried out in one locked rewrite (stdlib
  :class:`mailbox.mbox`) when the source is closed; a crash before that leaves the file as it was
  and the rerun, which skips the imported messages, applies them again.
* ``OSError`` becomes :class:`helpmail.errors.SourceError`.

Messages are yielded oldest first: Maildir by file modification time (the delivery time; it is
kept when a file is marked seen or moved), then name; mbox in file order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mailbox
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from helpmail.errors import SourceError
from helpmail.ports import MailboxAction, MailboxActionKind, MessageRef, SourceMessage

#: The folder name the messages of a Maildir root or an mbox file get in their keys.
ROOT_FOLDER = "INBOX"
#: How many recently read Maildir messages keep their file path at hand for :meth:`apply`.
_RECENT = 4096


def _maildir_key(filename: str) -> str:
    return filename.split(":", 1)[0]


def _flags(filename: str) -> str:
    _, sep, info = filename.partition(":")
    if sep and info.startswith("2,"):
        return info[2:]
    return ""


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


class MaildirSource:
    """The messages in ``new`` and ``cur`` of a Maildir (sub-folders are not read).

    ``name`` defaults to ``maildir:<absolute path>``; pass one to keep keys stable when the
    directory moves.
    """

    def __init__(self, path: str | os.PathLike[str], *, name: str | None = None) -> None:
        self.path = Path(path).resolve()
        if not _is_maildir(self.path):
            raise SourceError(f"{path} is not a Maildir (needs cur/ and new/)")
        self._name = name or f"maildir:{self.path}"
        # Where recently yielded messages are (key -> path): the service applies mailbox actions
        # a batch behind, and a directory scan per action would make a big Maildir quadratic.
        self._recent: OrderedDict[str, Path] = OrderedDict()

    @property
    def name(self) -> str:
        return self._name

    def _names(self) -> list[str]:
        # One compact string per message, "<mtime ns><file name>/<subdir>": sorting it sorts by
        # delivery time, then by name, and it is all that is held per message (~110 bytes).
        # (The stdlib's unique names do not sort by time: their microseconds are not padded.)
        found: list[str] = []
        for subdir in ("new", "cur"):
            try:
                with os.scandir(self.path / subdir) as entries:
                    for entry in entries:
                        if entry.name[:1] == ".":
                            continue
                        try:
                            stamp = entry.stat().st_mtime_ns
                        except FileNotFoundError:
                            continue  # moved away (marked seen, deleted) while we listed
                        found.append(f"{stamp:020d}{entry.name}/{subdir}")
            except OSError as error:
                raise SourceError(f"cannot list {self.path / subdir}: {error}") from error
        found.sort()
        return found

    def messages(self) -> Iterator[SourceMessage]:
        """Every message, read one at a time, oldest first (file time, then name)."""
        names = self._names()
        names.reverse()
        while names:  # pop as we go: the listing shrinks while the import runs
            filename, _, subdir = names.pop()[20:].rpartition("/")
            path = self.path / subdir / filename
            try:
                with open(path, "rb") as handle:
                    raw = handle.read()
                    stat = os.fstat(handle.fileno())
            except FileNotFoundError:
                continue  # moved or deleted by someone else since the listing
            except OSError as error:
                raise SourceError(f"cannot read {path}: {error}") from error
            key = _maildir_key(filename)
            self._recent[key] = path
            if len(self._recent) > _RECENT:
                self._recent.popitem(last=False)
            yield SourceMessage(
                ref=MessageRef(source=self._name, folder=ROOT_FOLDER, uid=key),
                raw=raw,
                flags=frozenset(_flags(filename)),
                internal_date=dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC),
                size=len(raw),
            )

    def _find(self, key: str) -> Path | None:
        known = self._recent.get(key)
        if known is not None and known.exists():
            return known
        for subdir in ("new", "cur"):
            try:
                with os.scandir(self.path / subdir) as entries:
                    for entry in entries:
                        if _maildir_key(entry.name) == key:
                            return Path(entry.path)
            except OSError as error:
                raise SourceError(f"cannot list {self.path / subdir}: {error}") from error
        return None

    def apply(self, ref: MessageRef, actions: tuple[MailboxAction, ...]) -> None:
        """Mark seen / move / delete one message (no-op if it is no longer here)."""
        try:
            for action in actions:
                if action.kind is MailboxActionKind.LEAVE:
                    continue
                current = self._find(ref.uid)
                if current is None:
                    return  # already moved or deleted (an earlier run applied the action)
                if action.kind is MailboxActionKind.MARK_SEEN:
                    flags = "".join(sorted(set(_flags(current.name)) | {"S"}))
                    target = self.path / "cur" / f"{ref.uid}:2,{flags}"
                    if target != current:
                        os.rename(current, target)
                    self._recent[ref.uid] = target
                elif action.kind is MailboxActionKind.DELETE:
                    current.unlink(missing_ok=True)
                    self._recent.pop(ref.uid, None)
                    return
                elif action.kind is MailboxActionKind.MOVE:
                    if not action.folder:
                        raise SourceError("a move needs a target folder")
                    folder = self._folder(action.folder)
                    subdir = "cur" if current.parent.name == "cur" else "new"
                    os.rename(current, folder / subdir / current.name)
                    self._recent.pop(ref.uid, None)
                    return
        except OSError as error:
            raise SourceError(f"cannot apply {actions} to {ref}: {error}") from error

    def _folder(self, name: str) -> Path:
        if "/" in name or name in ("", ".", ".."):
            raise SourceError(f"bad Maildir folder name {name!r}")
        path = self.path / f".{name}"
        if not _is_maildir(path):
            mailbox.Maildir(str(self.path), create=False).add_folder(name)
        return path

    def close(self) -> None:
        """Nothing to release (files are opened per message)."""


#: Headers mail clients rewrite in an mbox to keep their own state (left out of the key).
_MBOX_STATE_HEADERS = (
    b"status:",
    b"x-status:",
    b"x-mozilla-status:",
    b"x-mozilla-status2:",
    b"x-uid:",
    b"x-keywords:",
    b"content-length:",
    b"lines:",
)


def mbox_key(raw: bytes) -> str:
    """The stable key of one mbox message (see the module docstring)."""
    digest = hashlib.sha256()
    in_header = True
    skipping = False
    for line in raw.replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n"):
        if in_header:
            if not line:
                in_header = False
            elif line[:1] in (b" ", b"\t"):
                if skipping:
                    continue
            else:
                skipping = line.lower().startswith(_MBOX_STATE_HEADERS)
                if skipping:
                    continue
        elif line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
            line = line.lstrip(b">")  # noqa: PLW2901 - the unquoted form is what is hashed
        digest.update(line)
        digest.update(b"\n")
    return digest.hexdigest()[:32]


def _unquote_from(line: bytes) -> bytes:
    # mboxrd: ">From ", ">>From " ... lose one ">" (RFC 4155 appendix).
    stripped = line.lstrip(b">")
    if stripped.startswith(b"From ") and len(stripped) < len(line):
        return line[1:]
    return line


class MboxSource:
    """The messages of an mbox file, read as a stream (see the module docstring for keys)."""

    def __init__(self, path: str | os.PathLike[str], *, name: str | None = None) -> None:
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise SourceError(f"{path} is not an mbox file")
        self._name = name or f"mbox:{self.path}"
        self._pending: dict[str, tuple[MailboxAction, ...]] = {}

    @property
    def name(self) -> str:
        return self._name

    def messages(self) -> Iterator[SourceMessage]:
        """Every message in file order, each read only when it is yielded."""
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed by the ``with`` below
        except OSError as error:
            raise SourceError(f"cannot open {self.path}: {error}") from error
        with handle:
            started = False
            lines: list[bytes] = []
            previous_blank = True
            for line in handle:
                if line.startswith(b"From ") and previous_blank:
                    if started:
                        yield self._message(lines)
                    started = True
                    lines = []
                elif started:
                    lines.append(_unquote_from(line))
                previous_blank = line in (b"\n", b"\r\n")
            if started:
                yield self._message(lines)

    def _message(self, lines: list[bytes]) -> SourceMessage:
        if lines and lines[-1] in (b"\n", b"\r\n"):
            lines = lines[:-1]  # the blank line before the next From line belongs to the file
        raw = b"".join(lines)
        return SourceMessage(
            ref=MessageRef(source=self._name, folder=ROOT_FOLDER, uid=mbox_key(raw)),
            raw=raw,
            size=len(raw),
        )

    def apply(self, ref: MessageRef, actions: tuple[MailboxAction, ...]) -> None:
        """Remember the actions; they are carried out together by :meth:`close`."""
        wanted = tuple(a for a in actions if a.kind is not MailboxActionKind.LEAVE)
        if wanted:
            self._pending[ref.uid] = wanted

    def close(self) -> None:
        """Carry out the collected actions in one locked rewrite of the file."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        try:
            box = mailbox.mbox(str(self.path), create=False)
            box.lock()
            try:
                for key in list(box.keys()):
                    actions = pending.pop(mbox_key(box.get_bytes(key)), ())
                    if not actions:
                        continue
                    for action in actions:
                        if action.kind is MailboxActionKind.MARK_SEEN:
                            message = box[key]
                            message.add_flag("RO")
                            box[key] = message
                        elif action.kind is MailboxActionKind.MOVE and action.folder:
                            target = mailbox.mbox(str(self.path.parent / action.folder))
                            target.lock()
                            try:
                                target.add(box[key])
                                target.flush()
                            finally:
                                target.unlock()
                                target.close()
                            box.remove(key)
                            break
                        elif action.kind is MailboxActionKind.DELETE:
                            box.remove(key)
                            break
                box.flush()
            finally:
                box.unlock()
                box.close()
        except (OSError, mailbox.Error) as error:
            raise SourceError(f"cannot update {self.path}: {error}") from error


def open_source(
    path: str | os.PathLike[str], *, name: str | None = None
) -> MaildirSource | MboxSource:
    """A :class:`MaildirSource` for a Maildir directory, an :class:`MboxSource` for a file."""
    target = Path(path)
    if target.is_dir():
        return MaildirSource(target, name=name)
    if target.is_file():
        return MboxSource(target, name=name)
    raise SourceError(f"{path}: no such Maildir or mbox file")
