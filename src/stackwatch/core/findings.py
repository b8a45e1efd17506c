"""What a host check's judge gathers before it becomes one Result.

Every judge collects the same things: a status per thing judged, the problems in an operator's
words (they make the summary), what to do about each (the hint), details and metrics. The
summary is the problems joined, or a line that says all is well; the hint names each remedy once.
"""

from __future__ import annotations

from stackwatch.core.record import dataclass, field, replace
from stackwatch.core.result import Metric, Result, Status, worst


@dataclass
class Findings:
    statuses: list[Status] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)

    def problem(self, status: Status, text: str, hint: str | None = None) -> None:
        """A thing that is not OK: its status, what it is, and what to do about it."""
        self.statuses.append(status)
        self.problems.append(text)
        if hint:
            self.hints.append(hint)

    def result_led_by(self, check: str, figure: str) -> Result:
        """The Result of a check with one main figure (a table's use, a retransmit share): its
        summary opens with ``figure`` whatever the status, the problems after it."""
        result = self.result(check, figure)
        return replace(result, summary="; ".join([figure, *self.problems]))

    def result(self, check: str, all_well: str, hint: str | None = None) -> Result:
        """The Result: the problems (or ``all_well``) as summary; ``hint`` replaces the
        gathered hints where a check words its remedy from the whole picture."""
        summary = "; ".join(self.problems) if self.problems else all_well
        if hint is None and self.hints:
            hint = " / ".join(dict.fromkeys(self.hints))
        return Result(
            check,
            worst(self.statuses),
            summary,
            tuple(self.metrics),
            tuple(self.details),
            hint,
        )
