"""SIGTERM handled as Ctrl-C, with clean-up that neither can cut in half.

A command that starts things it must stop (a throwaway server, a scratch directory holding a
copy of customer data) is ended by SIGTERM (a timer unit stopped, a shutdown) the way Ctrl-C ends
it: as KeyboardInterrupt in the main thread, through every ``finally``. Inside ``held()`` a
signal waits until the block ends and is raised then, so a clean-up already under way finishes
instead of leaving half a directory behind.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupts:
    """The handler of SIGTERM and SIGINT while ``signals_as_interrupt`` runs."""

    def __init__(self) -> None:
        self._holding = 0
        self._pending: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self._holding:
            self._pending = signum
            return
        raise KeyboardInterrupt(f"signal {signum}")

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """The block runs to its end; a signal that came meanwhile is raised after it."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
        if not self._holding and self._pending is not None:
            signum, self._pending = self._pending, None
            raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[Interrupts]:
    """SIGTERM and SIGINT raise KeyboardInterrupt in the main thread while the block runs
    (outside its ``held()`` sections); the old handlers come back afterwards. Outside the main
    thread (tests) nothing is installed and ``held()`` only runs its block."""
    interrupts = Interrupts()
    with handling(interrupts.handle):
        yield interrupts


@contextlib.contextmanager
def handling(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """``handler`` for SIGTERM and SIGINT while the block runs, the old handlers put back
    afterwards; outside the main thread (tests) nothing is installed."""
    previous = {}
    for sig in SIGNALS:
        with contextlib.suppress(ValueError):  # not the main thread
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            if old is not None:  # None: installed outside Python, cannot be put back
                signal.signal(sig, old)
