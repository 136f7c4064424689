"""helpmail: the email half of a helpdesk, as a typed library.

Mail in (parse, classify, find the ticket, extract the reply, apply scanner rules) becomes ticket
events; ticket events become automatic mails, guarded against bounces, floods and loops. Every step
is a pure function of values; the :mod:`helpmail.service` layer runs them against the ports
(:mod:`helpmail.ports`) a host application implements, or against the bundled adapters.

The names below are the stable public surface (DESIGN.md, "Public names"):

* :func:`parse_mail` -- raw bytes to :class:`InboundMail`, never raising;
* :func:`classify` -- human, bounce, auto_reply, bulk, own_loop, complaint or delivery_report;
* :func:`parse_bounce` -- bounced recipients with reason, hard/soft, status, original Message-ID;
* :func:`extract_reply` -- the text a customer added above (or below) the quoted history.

``import helpmail`` imports no I/O module (no sqlite3, socket, smtplib, imaplib, imapclient).
"""

from helpmail.__about__ import __version__
from helpmail.bounces import (
    Bounce,
    BouncedRecipient,
    BounceReason,
    Classification,
    MailKind,
    classify,
    parse_bounce,
)
from helpmail.errors import ConfigError, HelpmailError
from helpmail.mail import (
    Address,
    Attachment,
    DefectKind,
    InboundMail,
    MailDefect,
    MailPart,
    parse_mail,
)
from helpmail.replies import Forwarded, Method, Reply, extract_reply

__all__ = [
    "Address",
    "Attachment",
    "Bounce",
    "BounceReason",
    "BouncedRecipient",
    "Classification",
    "ConfigError",
    "DefectKind",
    "Forwarded",
    "HelpmailError",
    "InboundMail",
    "MailDefect",
    "MailKind",
    "MailPart",
    "Method",
    "Reply",
    "__version__",
    "classify",
    "extract_reply",
    "parse_bounce",
    "parse_mail",
]
