"""helpmail: the email half of a helpdesk, as a typed library.

Mail in (parse, classify, find the ticket, extract the reply, apply scanner rules) becomes ticket
events; ticket events become automatic mails, guarded against bounces, floods and loops. Every step
is a pure function of values; the :mod:`helpmail.service` layer runs them against the ports
(:mod:`helpmail.ports`) a host application implements, or against the bundled adapters.

``import helpmail`` imports no I/O module (no sqlite3, socket, smtplib, imaplib, imapclient).
"""

from helpmail.__about__ import __version__
from helpmail.errors import ConfigError, HelpmailError
from helpmail.mail import Address, Attachment, InboundMail, MailDefect, MailPart, parse_mail

__all__ = [
    "Address",
    "Attachment",
    "ConfigError",
    "HelpmailError",
    "InboundMail",
    "MailDefect",
    "MailPart",
    "__version__",
    "parse_mail",
]
