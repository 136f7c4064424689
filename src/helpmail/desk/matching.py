"""Address keys and domain patterns shared by support addresses, contacts, admission and spam.

The rule this module keeps: addresses are compared by their normalised addr-spec
(:attr:`helpmail.Address.key`: case-folded local part, lower-case ASCII/IDNA domain), never by
display name, and domains by their lower-case ASCII form. RFC 5321 §2.4 lets the local part be
case-sensitive, but no real mailbox provider uses that, and a helpdesk that treats ``Bob@x`` and
``bob@x`` as two people splits one customer's tickets, so helpmail folds case.

A domain pattern is either exact (``example.com`` matches only ``example.com``) or a subdomain rule
(``*.example.com`` matches ``eu.example.com`` and ``a.b.example.com`` but not ``example.com``
itself), so an admin says precisely which of the two is meant.
"""

from __future__ import annotations

import functools

import attrs

from helpmail.mail.model import Address, address_key


def domain_key(domain: str) -> str:
    """Lower-case ASCII (IDNA) form of a domain, without a trailing dot."""
    return Address(addr_spec=f"x@{domain.strip()}").ascii_domain


def addr_key(addr_spec: str) -> str:
    """Comparison key of an addr-spec (see :attr:`helpmail.Address.key`)."""
    return address_key(addr_spec.strip())


def domain_of_key(key: str) -> str:
    """The domain part of an address key (``''`` when there is none)."""
    return key.rpartition("@")[2] if "@" in key else ""


def parent_domains(domain: str) -> tuple[str, ...]:
    """``a.b.example.com`` -> (``a.b.example.com``, ``b.example.com``, ``example.com``, ``com``)."""
    labels = domain.split(".")
    return tuple(".".join(labels[i:]) for i in range(len(labels)))


@attrs.frozen(kw_only=True)
class DomainPattern:
    """One domain rule: ``domain`` exactly, or (``subdomains=True``) any subdomain of it.

    Written in configuration as ``example.com`` or ``*.example.com``.
    """

    domain: str
    subdomains: bool = False

    @classmethod
    def parse(cls, text: str) -> DomainPattern:
        """Read ``example.com`` / ``*.example.com`` (a leading ``@`` is allowed and ignored)."""
        text = text.strip().lstrip("@")
        if text.startswith("*."):
            return cls(domain=domain_key(text[2:]), subdomains=True)
        return cls(domain=domain_key(text))

    def matches(self, domain: str) -> bool:
        """Whether ``domain`` (any case, Unicode or ASCII) falls under this rule."""
        domain = domain_key(domain)
        if self.subdomains:
            return domain.endswith("." + self.domain)
        return domain == self.domain

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key: exact beats subdomain rule, a longer domain beats a shorter one."""
        return (0 if self.subdomains else 1, self.domain.count(".") + 1)

    def __str__(self) -> str:
        return f"*.{self.domain}" if self.subdomains else self.domain


def best_domain_match(
    domain: str, patterns: tuple[tuple[DomainPattern, str], ...]
) -> tuple[DomainPattern, str] | None:
    """The most specific ``(pattern, value)`` whose pattern matches ``domain``, or ``None``.

    Exact rules beat subdomain rules; among subdomain rules the longest domain wins; ties keep the
    configured order.
    """
    best: tuple[DomainPattern, str] | None = None
    for pattern, value in patterns:
        if pattern.matches(domain) and (best is None or pattern.specificity > best[0].specificity):
            best = (pattern, value)
    return best


@attrs.frozen(kw_only=True)
class AddrCheck:
    """Result of the syntax check of one addr-spec: ``key`` when valid, else ``problem``."""

    key: str | None
    problem: str | None = None

    @property
    def valid(self) -> bool:
        return self.key is not None


@functools.lru_cache(maxsize=4096)
def check_addr_spec(addr_spec: str, *, globally_deliverable: bool = True) -> AddrCheck:
    """Check an addr-spec's syntax with email-validator (no DNS, ``check_deliverability=False``).

    Support addresses are checked with ``globally_deliverable=False`` so an intranet desk may use
    ``help@desk.internal`` or ``help@intranet``; senders must have a globally deliverable domain.
    RFC 6761 special-use names (``.local``, ``.test``, ``localhost``) are refused in both cases.
    """
    from email_validator import EmailNotValidError, validate_email

    text = addr_spec.strip()
    if not text:
        return AddrCheck(key=None, problem="empty address")
    try:
        validate_email(
            text,
            check_deliverability=False,
            allow_smtputf8=True,
            globally_deliverable=globally_deliverable,
        )
    except EmailNotValidError as error:
        return AddrCheck(key=None, problem=str(error))
    return AddrCheck(key=addr_key(text))
