"""The configuration example of the host checks in docs/host-checks.md is valid for every host
check."""

from __future__ import annotations

import tomllib
from pathlib import Path

from stackwatch.core.config import Config
from stackwatch.core.registry import get_check

README = Path(__file__).resolve().parents[3] / "docs" / "host-checks.md"
HOST_CHECKS = ["links", "processes", "tcp-retransmits", "memory-ecc", "disk-smart", "temperature"]


def test_readme_configuration_example_validates() -> None:
    text = README.read_text()
    block = text.split("<!-- configuration: host checks -->\n```toml\n", 1)[1].split("```", 1)[0]
    config = Config(None, tomllib.loads(block))
    for name in HOST_CHECKS:
        options = config.check_options(name, get_check(name).options)
        assert config.section("checks", name), name
        assert options is not None
