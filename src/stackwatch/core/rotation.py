"""What a log's name says about its place in a rotated set (access.log, access.log.1,
access.log.2.gz, access.log-20240101): the one rule, for the follower (core/follow.py) and the
readers of whole logs (weblog/reader.py), kept apart so that a reader does not load the
follower."""

from __future__ import annotations

import re
from typing import NamedTuple

_ROTATED = re.compile(
    r"^(?P<base>.*?)(?:[.-](?P<n>\d{1,6}|\d{8}))?(?P<z>\.(?:gz|bz2|xz|zst|zip))?$", re.DOTALL
)


class RotatedName(NamedTuple):
    """What a log's name says about its place in a rotated set."""

    base: str  # the live file's name: access.log for access.log.2.gz
    number: int | None  # the rotation number or date (2, 20240101); None for the live file
    compressed: bool  # .gz, .bz2, .xz, .zst or .zip

    @property
    def rotated(self) -> bool:
        """A rotated copy (numbered, dated or compressed), not a live log."""
        return self.number is not None or self.compressed

    @property
    def age(self) -> int:
        """Sort key within the set: a higher number is older; the live file comes last."""
        return -self.number if self.number is not None else 1


def rotated_name(path: str) -> RotatedName:
    """access.log.2.gz -> ("access.log", 2, True); access.log -> ("access.log", None, False)."""
    match = _ROTATED.match(path)
    assert match is not None  # the pattern matches every string
    number = match.group("n")
    return RotatedName(match.group("base"), int(number) if number else None, bool(match["z"]))
