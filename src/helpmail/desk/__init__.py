"""The desk's view of senders: shared matching rules and the configuration sections.

The decisions themselves live in modules named after their concept:
:mod:`helpmail.addresses` (support addresses), :mod:`helpmail.contacts` (contacts and
organisations), :mod:`helpmail.spam` (verdicts of real spam filters), :mod:`helpmail.admission`
(who may open tickets) and :mod:`helpmail.suspended` (the suspended queue). This package holds what
they share: :mod:`helpmail.desk.matching` (address keys, domain patterns) and
:mod:`helpmail.desk.config` (parsers of the ``support_addresses``, ``contacts``, ``admission`` and
``spam`` configuration sections).
"""
