"""storage: fio and iozone outputs parsed, runs stored and compared, the check's judgement."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import run_stackwatch

from stackwatch.core.result import Status
from stackwatch.storage.check import BaselineFacts, BaselineOptions, judge
from stackwatch.storage.results import ResultError, Run, parse_fio_json, parse_iozone
from stackwatch.storage.views import compare_text

FIXTURES = Path(__file__).parents[2] / "fixtures" / "storage"

# Lines as published iozone runs print them (KB and kB units, other widths).
PUBLISHED = """
        Children see throughput for  1 initial writers  =  109333.84 KB/sec
        Parent sees throughput for  1 initial writers   =  109326.48 KB/sec
	Children see throughput for 12 rewriters 	= 4837741.94 kB/sec
Children see throughput for 4 random readers =    1998.40 kB/sec
"""


def test_iozone_fixture() -> None:
    processes, throughput = parse_iozone((FIXTURES / "iozone-t32.txt").read_text())
    assert processes == 32
    assert throughput == {
        "seq-write": 612345.67,
        "rewriters": 701234.5,
        "seq-read": 2345678.9,
        "re-readers": 2456789.01,
        "rand-read": 845123.4,
        "rand-write": 402345.6,
    }


def test_iozone_published_lines() -> None:
    _, throughput = parse_iozone(PUBLISHED)
    assert throughput == {"seq-write": 109333.84, "rewriters": 4837741.94, "rand-read": 1998.40}


def test_iozone_without_throughput_mode_is_refused() -> None:
    with pytest.raises(ResultError, match="run with -t N"):
        parse_iozone("	Auto Mode\n  kB  reclen  write\n")


FIO = {
    "fio version": "fio-3.33",
    "jobs": [
        {
            "jobname": "seq-write",
            "read": {"bw": 0, "iops": 0.0},
            "write": {"bw": 8192000, "iops": 8000.0},
        },
        {
            "jobname": "rand-read",
            "read": {"bw": 50881, "iops": 12720.5},
            "write": {"bw": 0, "iops": 0},
        },
    ],
}


def test_fio_json_with_a_note_before_it() -> None:
    text = "note: both iodepth >= 1 and synchronous I/O engine are selected\n" + json.dumps(FIO)
    throughput, iops = parse_fio_json(text)
    assert throughput == {"seq-write": 8192000.0, "rand-read": 50881.0}
    assert iops == {"seq-write": 8000.0, "rand-read": 12720.5}


@given(st.text())
def test_parsers_never_crash(text: str) -> None:
    for parser in (parse_fio_json, parse_iozone):
        with contextlib.suppress(ResultError):
            parser(text)  # type: ignore[operator]


@given(
    st.recursive(
        st.none() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["jobs", "jobname", "read", "write", "bw", "iops"]),
                inner,
                max_size=4,
            )
        ),
        max_leaves=15,
    )
)
def test_fio_json_never_crashes(data: object) -> None:
    with contextlib.suppress(ResultError):
        parse_fio_json(json.dumps(data))


def run(name: str, **throughput: float) -> Run:
    return Run(name, "fio", "/srv", 32, {k.replace("_", "-"): v for k, v in throughput.items()})


def test_compare_shows_ratios_and_bars() -> None:
    text = compare_text(
        [
            run("ctl-a", seq_write=102400, rand_read=10240),
            run("ctl-b", seq_write=204800, rand_read=5120),
        ]
    )
    assert text.splitlines() == [
        "MiB/s per test; ratio to ctl-a",
        "seq-write",
        "  ctl-a                 100.0   1.00x  ############",
        "  ctl-b                 200.0   2.00x  ########################",
        "rand-read",
        "  ctl-a                  10.0   1.00x  ########################",
        "  ctl-b                   5.0   0.50x  ############",
    ]


@pytest.mark.parametrize(
    ("now", "status"), [(90.0, Status.OK), (70.0, Status.WARNING), (40.0, Status.CRITICAL)]
)
def test_check_against_the_baseline(now: float, status: Status) -> None:
    facts = BaselineFacts(run("base", seq_write=100.0), run("today", seq_write=now), 80.0, 50.0)
    result = judge(facts, BaselineOptions())
    assert result.status == status
    if status != Status.OK:
        assert result.summary == f"seq-write at {now:.0f}% of base"


def test_import_then_compare_and_plot(tmp_path: Path) -> None:
    results = str(tmp_path / "runs")
    done = run_stackwatch(
        "storage",
        "import",
        str(FIXTURES / "iozone-t32.txt"),
        "--name",
        "raid-b",
        "--results-dir",
        results,
    )
    assert done.returncode == 0, done.stderr
    (tmp_path / "runs" / "ssd-a.json").write_text(run("ssd-a", seq_write=1224691.34).to_json())
    done = run_stackwatch(
        "storage",
        "compare",
        "ssd-a",
        "raid-b",
        "--results-dir",
        results,
        "--plot",
        str(tmp_path / "chart.png"),
    )
    assert done.returncode == 0, done.stderr
    assert "  raid-b                598.0   0.50x  ############" in done.stdout.splitlines()
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["compare", "nope"], 1, "no stored run 'nope'"),
        (["import", "/etc/hostname", "--name", "x"], 2, "no 'Children see throughput for' lines"),
        (["import", "/nonexistent-hb", "--name", "x"], 2, "no such file"),
        (["compare", "../etc"], 2, "run name '../etc'"),
        (["baseline", "/etc/hostname", "--name", "x"], 2, "neither a directory nor a block device"),
    ],
)
def test_errors(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    done = run_stackwatch("storage", *args, "--results-dir", str(tmp_path))
    assert done.returncode == code and message in done.stderr, done.stderr
