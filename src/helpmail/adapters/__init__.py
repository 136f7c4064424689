"""Reference adapters: helpmail's ports implemented over real backends.

Each module wraps one backend (smtplib, Maildir/mbox, IMAP, SQLite, memory) and translates its
errors into :class:`helpmail.errors.HelpmailError` subclasses at the boundary. Importing
``helpmail`` never imports these modules; import the one you need.
"""
