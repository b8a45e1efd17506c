"""The configuration reference and example are generated from the declarations and stay true:
the committed docs/configuration.md is current, and the example file loads back as the defaults."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import PROJECT, run_stackwatch

from stackwatch.core import record
from stackwatch.core.capability import capabilities
from stackwatch.core.config import (
    Config,
    ConfigError,
    check_sections_known,
    load_config,
    settings_for,
)
from stackwatch.core.config_doc import (
    REFERENCE_COMMAND,
    describe,
    example_toml,
    field_comments,
    reference_markdown,
    toml_key,
    toml_string,
    toml_value,
)
from stackwatch.core.ranges import Range, parse_range
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import all_checks

REFERENCE = PROJECT / "docs" / "configuration.md"


def test_committed_reference_is_current() -> None:
    committed = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    assert committed == reference_markdown(), (
        f"docs/configuration.md is stale: run `{REFERENCE_COMMAND}`"
    )


def _load_example(tmp_path: Path) -> Config:
    path = tmp_path / "stackwatch.toml"
    path.write_text(example_toml(), encoding="utf-8")
    config = load_config(path, required=True)
    check_sections_known(config)
    return config


def test_example_loads_back_as_every_default(tmp_path: Path) -> None:
    config = _load_example(tmp_path)
    with_settings = [c for c in capabilities() if c.settings_class() is not None]
    assert with_settings, "no capability declares settings"
    for capability in with_settings:
        cls = capability.settings_class()
        assert cls is not None
        assert settings_for(config, capability.name) == cls(), capability.name
    for check in all_checks():
        options = config.check_options(check.name, check.options)
        assert options == check.options(), check.name


def test_example_names_every_section_and_key() -> None:
    data = tomllib.loads(example_toml())
    text = example_toml()
    for capability in capabilities():
        if capability.settings_class() is not None:
            assert capability.name in data
    for check in all_checks():
        assert check.name in data["checks"]
        for f in record.fields(check.options):
            # a key, or a table of its own ([checks.processes.role.NAME])
            shown = f"{f.name} = " in text or f".{check.name}.{f.name}." in text
            assert shown, f"{check.name}.{f.name}"
    # Tables of named entries are shown commented out, with their required keys marked.
    assert "# [backup.jobs.NAME]" in text
    assert "# server = " in text and "(required)" in text
    assert "# [[checks.processes.role.NAME]]" in text


def _toml_blocks() -> list[tuple[str, str]]:
    """Every ```toml block of the pages under docs/, with the page's name."""
    blocks = []
    for page in sorted((PROJECT / "docs").glob("*.md")):
        parts = page.read_text(encoding="utf-8").split("```toml\n")[1:]
        blocks += [(page.name, part.split("```", 1)[0]) for part in parts]
    return blocks


def test_every_configuration_example_in_the_docs_validates(tmp_path: Path) -> None:
    blocks = _toml_blocks()
    assert len(blocks) >= 4, "the capability pages lost their configuration examples"
    for number, (page, text) in enumerate(blocks):
        path = tmp_path / f"{page}-{number}.toml"
        path.write_text(text, encoding="utf-8")
        try:
            _validate_all(load_config(path, required=True))  # unknown sections refused here
        except ConfigError as exc:
            pytest.fail(f"docs/{page}: a configuration example is refused: {exc}")


def _validate_all(config: Config) -> None:
    check_sections_known(config)
    for capability in capabilities():
        if capability.name in config.data:
            assert settings_for(config, capability.name) is not None, capability.name
    for check in all_checks():
        if check.name in config.section("checks"):
            config.check_options(check.name, check.options)


def test_reference_shows_types_defaults_and_comments() -> None:
    text = reference_markdown()
    comment = "table use, % of the limit (host or a namespace)"
    assert f'| `warning` | range such as 10:20 | `"75"` | {comment} |' in text
    assert "| `datapath` | one of 'auto', 'system', 'netdev' | `\"auto\"` |" in text
    assert "### `[weblog.detect]`" in text
    assert "### `[backup.jobs.NAME]`" in text
    assert "| `server` | string | **required** |" in text
    assert '| `databases` | string or list of strings | `"all"` |' in text


def test_config_commands_print_and_write(tmp_path: Path) -> None:
    printed = run_stackwatch("config", "example")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == example_toml()
    target = tmp_path / "configuration.md"
    written = run_stackwatch("config", "reference", "--output", str(target))
    assert written.returncode == 0, written.stderr
    assert target.read_text(encoding="utf-8") == reference_markdown()
    refused = run_stackwatch("config", "reference", "--output", str(tmp_path / "no" / "x.md"))
    assert refused.returncode == 1
    assert (
        refused.stderr.startswith("stackwatch: cannot write") and "Traceback" not in refused.stderr
    )


# --- reading a dataclass --------------------------------------------------------------------


@dataclass(frozen=True)
class Inner:
    """A nested table."""

    depth: int = 3  # how deep


@dataclass(frozen=True)
class Demo:
    """What the demo needs."""

    name: str  # the demo's name
    level: Range | None = field(default_factory=lambda: parse_range("10:20"))  # a range
    mode: Literal["fast", "slow"] = "fast"
    # the comment above this field
    tags: list[str] = field(  # pragma: no cover
        default_factory=lambda: ["a", "b"]
    )  # said on the last line
    ratio: float | None = None
    inner: Inner = field(default_factory=lambda: Inner(depth=7))
    named: dict[str, Inner] = field(default_factory=dict)

    def method(self) -> int:
        count: int = 1  # not a field
        return count


def test_field_comments_trailing_above_and_multi_line() -> None:
    comments = field_comments(Demo)
    assert comments["name"] == "the demo's name"
    assert comments["level"] == "a range"
    assert "mode" not in comments
    assert comments["tags"] == "said on the last line"  # the pragma left out, the line's own
    assert "count" not in comments


def test_describe_types_defaults_and_nested_tables() -> None:
    table = describe(Demo, ("demo",), "the demo")
    keys = {k.name: k for k in table.keys}
    assert keys["name"].required and keys["name"].default is None
    assert keys["level"].kind == "range such as 10:20" and keys["level"].default == '"10:20"'
    assert keys["mode"].kind == "one of 'fast', 'slow'"
    assert keys["tags"].kind == "list of strings" and keys["tags"].default == '["a", "b"]'
    assert keys["ratio"].default is None and not keys["ratio"].required
    assert keys["ratio"].about == "ratio"  # no comment: the field's name
    assert table.more == "What the demo needs."
    inner, named = table.children
    assert inner.header == "[demo.inner]" and not inner.named
    assert inner.keys[0].default == "7"  # the default factory's value, not the class default
    assert named.header == "[demo.named.NAME]" and named.named


@given(st.text())
def test_toml_string_round_trips(text: str) -> None:
    assert tomllib.loads(f"k = {toml_string(text)}")["k"] == text


@given(st.text(min_size=1))
def test_toml_key_round_trips(name: str) -> None:
    assert list(tomllib.loads(f"{toml_key(name)} = 1")) == [name]


@given(st.floats(allow_nan=False) | st.integers() | st.booleans())
def test_toml_numbers_round_trip(value: float | int | bool) -> None:
    assert tomllib.loads(f"k = {toml_value(value)}")["k"] == value
