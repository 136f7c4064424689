"""The desk decisions as pipeline trace entries (:class:`helpmail.pipeline.TraceStep`).

Every decision value of the desk modules (:class:`~helpmail.addresses.Routing`,
:class:`~helpmail.addresses.OwnSender`, :class:`~helpmail.contacts.SenderResolution`,
:class:`~helpmail.contacts.FollowUpSender`, :class:`~helpmail.spam.SpamVerdict`,
:class:`~helpmail.admission.Admission`) has ``step``, ``decision`` and ``detail``;
:func:`trace_step` turns one into the pipeline's trace type, so wiring a step is one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from helpmail.pipeline import TraceStep


class Decision(Protocol):
    """What every desk decision offers the trace."""

    @property
    def step(self) -> str: ...

    @property
    def decision(self) -> str: ...

    @property
    def detail(self) -> str: ...


def trace_step(decision: Decision) -> TraceStep:
    """The pipeline trace entry for one desk decision."""
    from helpmail.pipeline import TraceStep

    return TraceStep(step=decision.step, decision=decision.decision, detail=decision.detail)
