"""Tickets as helpmail sees them: references in mail, events, and the import semantics."""
