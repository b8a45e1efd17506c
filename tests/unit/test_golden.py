"""Golden end-to-end outputs: `stackwatch check` on a committed fixture root, in every format,
compared byte for byte with committed files (tests/golden/README; `--update` rewrites them)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import run_stackwatch

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
FORMATS = ("text", "nagios", "json", "prometheus")


def _run(fmt: str, state_dir: Path) -> tuple[int, str]:
    env = {"PATH": f"{GOLDEN / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "100"}
    done = run_stackwatch(
        "check",
        "--root",
        str(GOLDEN / "root"),
        "--config",
        str(GOLDEN / "stackwatch.toml"),
        "--state-dir",
        str(state_dir),
        "--format",
        fmt,
        env=env,
    )
    assert done.stderr == "", done.stderr
    return done.returncode, done.stdout


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_output_matches_golden_file(
    fmt: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    code, out = _run(fmt, tmp_path)
    expected = GOLDEN / "expected" / f"check.{fmt}"
    if request.config.getoption("--update"):
        expected.parent.mkdir(exist_ok=True)
        expected.write_text(f"{code}\n{out}")
    assert expected.exists(), f"{expected} missing: run pytest {__file__} --update"
    want_code, _, want = expected.read_text().partition("\n")
    assert out == want, f"output changed; if intended, run pytest {__file__} --update"
    assert code == int(want_code) == 2  # CRITICAL: ovs-vswitchd is not running in the fixture


def test_hostile_interface_name_cannot_change_the_shape_of_any_output(tmp_path: Path) -> None:
    _, nagios = _run("nagios", tmp_path)
    status_line, *long_output = nagios.splitlines()
    perfdata = status_line.split(" | ", 1)[1]
    assert "|" not in perfdata  # the NIC's "|" cannot start a second perfdata section
    items = re.findall(r"'([^'=|]*)'=(\S+)", perfdata)
    assert " ".join(f"'{label}'={value}" for label, value in items) == perfdata
    assert "ens9/x=1'" in "\n".join(long_output)
    _, prometheus = _run("prometheus", tmp_path)
    from prometheus_client.parser import text_string_to_metric_families

    interfaces = {
        s.labels.get("interface")
        for f in text_string_to_metric_families(prometheus)
        for s in f.samples
    }
    assert "ens9|x=1'" in interfaces  # kept exactly, as an escaped label value
