"""Every configuration key of the host checks and of conntrack says what it means.

The configuration reference is generated from the Options dataclasses: a field's trailing
``# comment`` on its own line becomes the key's description. A key added without one would
appear in the reference with no words, so this test names it.
"""

from __future__ import annotations

import inspect
import io
import textwrap
import tokenize

import pytest

from stackwatch.checks.disk_smart import SmartOptions
from stackwatch.checks.links import LinksOptions
from stackwatch.checks.memory_ecc import EccOptions
from stackwatch.checks.processes import ProcessesOptions, ProcessSpec
from stackwatch.checks.tcp_retransmits import TcpOptions
from stackwatch.checks.temperature import SensorLimits, TemperatureOptions
from stackwatch.conntrack.check import ConntrackOptions
from stackwatch.core import record

OPTIONS = [
    LinksOptions,
    ProcessesOptions,
    ProcessSpec,
    TcpOptions,
    EccOptions,
    SmartOptions,
    TemperatureOptions,
    SensorLimits,
    ConntrackOptions,
]


def trailing_comments(cls: type) -> dict[str, str]:
    """Field name -> the comment that ends the line the field is declared on."""
    source = textwrap.dedent(inspect.getsource(cls))
    comments: dict[str, str] = {}
    line_start: tokenize.TokenInfo | None = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.start[1] == 4 and line_start is None:
            line_start = token
        elif token.type == tokenize.COMMENT and line_start is not None:
            comments[line_start.string] = token.string.lstrip("#").strip()
        elif token.type in (tokenize.NEWLINE, tokenize.NL):
            line_start = None
    return comments


@pytest.mark.parametrize("cls", OPTIONS, ids=lambda c: c.__name__)
def test_every_key_has_a_description_on_its_line(cls: type) -> None:
    comments = trailing_comments(cls)
    undocumented = [f.name for f in record.fields(cls) if not comments.get(f.name)]
    assert undocumented == [], f"{cls.__name__}: keys without a trailing comment"


def test_a_field_without_a_comment_is_found() -> None:
    @record.dataclass
    class Example:
        documented: int = 1  # what it means
        bare: int = 2

    assert trailing_comments(Example) == {"documented": "what it means"}
