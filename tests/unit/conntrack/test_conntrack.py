"""The conntrack check: parsers on real captures, judgement, the command line on fixtures."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import run_stackwatch

from stackwatch.conntrack.check import (
    ConntrackFacts,
    ConntrackOptions,
    ConntrackParseError,
    NamespaceCount,
    judge,
    parse_count,
    parse_nf_conntrack_stat,
)
from stackwatch.conntrack.plan import PlanError, parse_slabinfo_entry_size, plan_conntrack
from stackwatch.core.ranges import parse_range
from stackwatch.core.result import Status

STAT_HEADER = (
    "entries  searched found new invalid ignore delete delete_list insert insert_failed drop "
    "early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"
)


def stat_text(rows: list[dict[str, int]]) -> str:
    names = STAT_HEADER.split()
    return STAT_HEADER + "".join(
        " ".join(f"{row.get(n, 0):08x}" for n in names) + "\n" for row in rows
    )


def make_tree(
    root: Path,
    count: int,
    limit: int,
    stat: str | None = None,
    namespaces: dict[str, int] | None = None,
) -> Path:
    """A captured host: /proc/sys/net/netfilter, optionally the stat file and named namespaces
    (each /run/netns/NAME a directory holding that namespace's own /proc)."""
    netfilter = root / "proc/sys/net/netfilter"
    netfilter.mkdir(parents=True, exist_ok=True)
    (netfilter / "nf_conntrack_count").write_text(f"{count}\n")
    (netfilter / "nf_conntrack_max").write_text(f"{limit}\n")
    if stat is not None:
        (root / "proc/net/stat").mkdir(parents=True, exist_ok=True)
        (root / "proc/net/stat/nf_conntrack").write_text(stat)
    for name, entries in (namespaces or {}).items():
        ns = root / "run/netns" / name / "proc/sys/net/netfilter"
        ns.mkdir(parents=True, exist_ok=True)
        (ns / "nf_conntrack_count").write_text(f"{entries}\n")
    return root


# Parsers ---------------------------------------------------------------------------------------


def test_stat_parser_on_real_capture(realdata: Path) -> None:
    text = (realdata / "node_exporter/proc/net/stat/nf_conntrack").read_text()
    totals = parse_nf_conntrack_stat(text)
    assert totals["entries"] == 0x21  # global, not summed over the 4 CPUs
    assert totals["ignore"] == 0x588A + 0x56A4 + 0x58D4 + 0x5688
    assert totals["invalid"] == 3 + 2 + 1 + 0x2F
    assert totals["search_restart"] == 7
    assert totals["drop"] == 0 and totals["early_drop"] == 0


def test_count_files_of_real_capture(realdata: Path) -> None:
    netfilter = realdata / "node_exporter/proc/sys/net/netfilter"
    assert parse_count((netfilter / "nf_conntrack_count").read_text(), "count") == 123
    assert parse_count((netfilter / "nf_conntrack_max").read_text(), "max") == 65536


def test_parsers_on_this_machine() -> None:
    stat = Path("/proc/net/stat/nf_conntrack")
    if not stat.exists():
        pytest.skip("this kernel has no /proc/net/stat/nf_conntrack")
    totals = parse_nf_conntrack_stat(stat.read_text())
    assert {"drop", "early_drop", "insert_failed"} <= set(totals)


@given(st.binary(max_size=400))
def test_stat_parser_on_arbitrary_bytes(data: bytes) -> None:
    try:
        totals = parse_nf_conntrack_stat(data.decode("utf-8", errors="replace"))
    except ConntrackParseError:
        return
    assert all(isinstance(v, int) and v >= 0 for v in totals.values())


@given(st.text(max_size=30))
def test_count_parser_on_arbitrary_text(text: str) -> None:
    try:
        assert parse_count(text, "x") >= 0
    except ConntrackParseError as exc:
        assert str(exc).startswith("x: ")


@pytest.mark.parametrize(
    "text",
    ["", "entries drop\n", "entries drop\n0001\n", "entries drop\nzz 01\n", "a-b c\n01 02\n"],
)
def test_stat_parser_errors_are_clear(text: str) -> None:
    with pytest.raises(ConntrackParseError, match="nf_conntrack stat"):
        parse_nf_conntrack_stat(text)


# Judgement -------------------------------------------------------------------------------------


def facts(**kw: object) -> ConntrackFacts:
    base: dict[str, object] = {"entries": 100, "limit": 1000, "drops": None}
    base.update(kw)
    return ConntrackFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entries", "status"),
    [
        (0, Status.OK),
        (750, Status.OK),
        (751, Status.WARNING),
        (900, Status.WARNING),
        (901, Status.CRITICAL),
        (5000, Status.CRITICAL),
    ],
)
def test_percent_thresholds(entries: int, status: Status) -> None:
    result = judge(facts(entries=entries), ConntrackOptions())
    assert result.status == status
    assert (result.hint is not None) == (status != Status.OK)
    if result.hint:
        assert (
            "net.netfilter.nf_conntrack_max" in result.hint
            and "net.nf_conntrack_max" in result.hint
        )


def test_fullest_namespace_drives_the_status() -> None:
    namespaces = (NamespaceCount("qdhcp-1", 10), NamespaceCount("qrouter-2", 950))
    result = judge(facts(namespaces=namespaces), ConntrackOptions())
    assert result.status == Status.CRITICAL
    assert "fullest namespace qrouter-2 950 (95.0%)" in result.summary
    assert result.details[1] == "namespace qrouter-2: 950 entries (95.0%)"
    labelled = [m for m in result.metrics if m.labels]
    assert {m.labels["netns"]: m.value for m in labelled} == {"qdhcp-1": 10, "qrouter-2": 950}


def test_drop_rates_warn_and_first_run_said() -> None:
    drops = {"insert_failed": 1, "drop": 50, "early_drop": 0}
    first = judge(facts(drops=drops), ConntrackOptions())
    assert first.status == Status.OK
    assert any("first run" in d for d in first.details)
    later = judge(
        facts(drops=drops, drop_rates={"drop": 2.5, "early_drop": 0.0}, first_run=False),
        ConntrackOptions(),
    )
    assert later.status == Status.WARNING and "dropping 2.50 connections/s" in later.summary
    reset = judge(facts(drops=drops, drop_resets=("drop",), first_run=False), ConntrackOptions())
    assert any("reset" in d for d in reset.details)


def test_missing_stat_file_is_not_an_error() -> None:
    result = judge(facts(), ConntrackOptions())
    assert result.status == Status.OK
    assert not [m for m in result.metrics if "drop" in m.name]
    assert any("no /proc/net/stat/nf_conntrack" in d for d in result.details)


def test_zero_limit_does_not_divide_by_zero() -> None:
    assert judge(facts(entries=5, limit=0), ConntrackOptions()).status == Status.CRITICAL
    options = ConntrackOptions(warning=parse_range("@0:10"), critical=None)
    assert judge(facts(entries=50), options).status == Status.WARNING


# The command line on fixture trees -------------------------------------------------------------


def nagios_check(root: Path, state: Path) -> subprocess.CompletedProcess[str]:
    """``stackwatch check conntrack --format nagios`` on a captured tree, as Nagios runs it."""
    return run_stackwatch(
        "check", "conntrack", "--root", str(root), "--format", "nagios", "--state-dir", str(state)
    )


def test_issue_example_in_nagios_format(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root", 60000, 65536)
    out = nagios_check(root, tmp_path / "state")
    assert out.returncode == 2, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith(
        "CONNTRACK CRITICAL - 60000 of 65536 entries (91.6%) | "
        "'entries'=60000;49152;58982;0;65536 'used'=91.55%;75;90;0;100"
    )
    assert "hint: raise both net.netfilter.nf_conntrack_max" in out.stdout


def test_warning_critical_options_and_bad_range(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root", 500, 1000)
    state = ["--state-dir", str(tmp_path / "state")]
    args = ["check", "conntrack", "--root", str(root), "--format", "nagios", *state]
    assert run_stackwatch(*args).returncode == 0
    assert run_stackwatch(*args, "-w", "40").returncode == 1
    assert run_stackwatch(*args, "-w", "40", "-c", "45").returncode == 2
    bad = run_stackwatch(*args, "-w", "90:10")
    assert bad.returncode == 3
    assert "invalid range '90:10'" in bad.stderr and "Traceback" not in bad.stderr


def test_all_four_formats_and_rates_over_two_runs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    state = tmp_path / "state"
    make_tree(root, 123, 65536, stat_text([{"drop": 10, "entries": 5}, {"drop": 5}]))
    base = ["check", "conntrack", "--root", str(root), "--state-dir", str(state)]
    text = run_stackwatch(*base)
    assert text.returncode == 0 and "123 of 65536 entries (0.2%)" in text.stdout

    # Second state of the tree: 3000 more drops, and the stored sample was taken 1000 s earlier
    # (so that the seconds a loaded machine takes between the two runs stay within the tolerance).
    saved = json.loads((state / "conntrack.json").read_text())
    saved["drops"]["time"] -= 1000
    (state / "conntrack.json").write_text(json.dumps(saved))
    make_tree(root, 123, 65536, stat_text([{"drop": 2010, "entries": 5}, {"drop": 1005}]))
    out = run_stackwatch(*base, "--format", "json")
    doc = json.loads(out.stdout)
    assert out.returncode == 1 and doc["status"] == "WARNING"
    metrics = {m["name"]: m["value"] for m in doc["checks"][0]["metrics"]}
    assert metrics["drop_total"] == 3015
    assert metrics["drop_rate"] == pytest.approx(3.0, rel=0.05)

    prom = run_stackwatch(*base, "--format", "prometheus", "--textfile-dir", str(tmp_path))
    families = {f.name: f for f in text_string_to_metric_families(prom.stdout)}
    assert families["stackwatch_check_status"].samples[0].value in (0, 1)
    assert families["stackwatch_conntrack_entries"].samples[0].value == 123
    assert (tmp_path / "stackwatch.prom").read_text() == prom.stdout


def test_counter_reset_is_reported_not_a_rate(tmp_path: Path) -> None:
    root = tmp_path / "root"
    base = [
        "check",
        "conntrack",
        "--root",
        str(root),
        "--state-dir",
        str(tmp_path / "s"),
        "--format",
        "json",
    ]
    make_tree(root, 1, 100, stat_text([{"drop": 1000}]))
    run_stackwatch(*base)
    make_tree(root, 1, 100, stat_text([{"drop": 3}]))  # module reloaded
    doc = json.loads(run_stackwatch(*base).stdout)["checks"][0]
    assert doc["status"] == "OK"
    assert not [m for m in doc["metrics"] if m["name"] == "drop_rate"]
    assert any("reset" in d for d in doc["details"])


def test_namespaces_in_a_fixture_tree(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root", 10, 1000, namespaces={"qrouter-a": 800, "qdhcp-b": 3})
    out = nagios_check(root, tmp_path / "s")
    assert out.returncode == 1
    assert "fullest namespace qrouter-a 800 (80.0%)" in out.stdout
    assert "'entries_qrouter-a'=800" in out.stdout


def test_not_applicable_is_skip(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    out = nagios_check(tmp_path, tmp_path / "s")
    assert out.returncode == 0
    assert out.stdout.startswith("CONNTRACK SKIP - no connection tracking here")


def test_garbage_proc_files_are_unknown(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root", 1, 100, stat="\x00\xffgarbage\n")
    (root / "proc/sys/net/netfilter/nf_conntrack_count").write_bytes(b"\xff\xfe")
    out = nagios_check(root, tmp_path / "s")
    assert out.returncode == 3
    assert "nf_conntrack_count: expected a non-negative integer" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_this_machine_in_all_formats(tmp_path: Path) -> None:
    if not Path("/proc/sys/net/netfilter/nf_conntrack_count").exists():
        pytest.skip("nf_conntrack is not loaded on this machine")
    root = tmp_path / "root"
    netfilter = root / "proc/sys/net/netfilter"
    netfilter.mkdir(parents=True)
    for name in ("nf_conntrack_count", "nf_conntrack_max"):
        shutil.copyfile(f"/proc/sys/net/netfilter/{name}", netfilter / name)
    for fmt in ("text", "nagios", "json", "prometheus"):
        out = run_stackwatch(
            "check",
            "conntrack",
            "--root",
            str(root),
            "--format",
            fmt,
            "--state-dir",
            str(tmp_path / "s"),
        )
        assert out.returncode in (0, 1, 2), out.stderr
        assert "entries" in out.stdout


def test_real_capture_through_the_cli(realdata: Path, tmp_path: Path) -> None:
    out = nagios_check(realdata / "node_exporter", tmp_path)
    assert out.returncode == 0
    assert out.stdout.startswith("CONNTRACK OK - 123 of 65536 entries (0.2%)")
    assert "'drop_total'=0c" in out.stdout


def test_usage_errors_exit_3(tmp_path: Path) -> None:
    unknown = run_stackwatch("check", "nosuchcheck")
    assert unknown.returncode == 3 and "unknown check 'nosuchcheck'" in unknown.stderr
    config = tmp_path / "c.toml"
    config.write_text("[checks.conntrack]\nwarnig = 3\n")
    bad = run_stackwatch(
        "check",
        "conntrack",
        "--config",
        str(config),
        "--format",
        "nagios",
        "--state-dir",
        str(tmp_path),
    )
    assert bad.returncode == 3
    assert f"{config}: checks.conntrack.warnig: unknown key" in bad.stdout
    missing = run_stackwatch("check", "--config", str(tmp_path / "absent.toml"))
    assert missing.returncode == 3 and "configuration file not found" in missing.stderr


def test_checks_lists_descriptions() -> None:
    out = run_stackwatch("checks")
    assert out.returncode == 0
    first = out.stdout.splitlines()[0].split(None, 1)
    assert first == [
        "conntrack",
        "connection-tracking table use, drops and the fullest network namespaces",
    ]


def test_corrupt_state_is_a_warning(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root", 1, 100, stat_text([{"drop": 1}]))
    (tmp_path / "s").mkdir()
    (tmp_path / "s/conntrack.json").write_text("{garbage")
    out = nagios_check(root, tmp_path / "s")
    assert out.returncode == 0
    assert "corrupt; discarded" in out.stderr
    assert json.loads((tmp_path / "s/conntrack.json").read_text())["drops"]["counters"]


# conntrack plan --------------------------------------------------------------------------------


def test_plan_sizes() -> None:
    plan = plan_conntrack(100_000, 0.25, 320)
    assert plan.conntrack_max == 125_000
    assert plan.buckets == 32768 and plan.buckets & (plan.buckets - 1) == 0
    assert plan.conntrack_max / plan.buckets <= 4
    assert plan.memory_bytes == 125_000 * 320 + 32768 * 8


def test_slabinfo_entry_size() -> None:
    text = (
        "slabinfo - version: 2.1\n# name <active_objs> <num_objs> <objsize> ...\n"
        "nf_conntrack         204    204    320   51    4 : tunables    0    0    0\n"
    )
    assert parse_slabinfo_entry_size(text) == 320
    assert parse_slabinfo_entry_size("garbage") is None


def test_plan_command_writes_sysctl_file(tmp_path: Path) -> None:
    out = run_stackwatch("conntrack", "plan", "--connections", "100000")
    assert out.returncode == 0, out.stderr
    assert "net.netfilter.nf_conntrack_max = 125000" in out.stdout
    assert "net.nf_conntrack_max = 125000" in out.stdout
    target = tmp_path / "90-conntrack.conf"
    written = run_stackwatch(
        "conntrack", "plan", "--connections", "1000", "--headroom", "0", "--write", str(target)
    )
    assert written.returncode == 0
    assert "net.netfilter.nf_conntrack_buckets = 1024" in target.read_text()
    bad = run_stackwatch("conntrack", "plan", "--connections", "0")
    assert bad.returncode == 2 and "--connections must be a positive" in bad.stderr


def test_plan_bad_headroom_is_a_usage_error_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "90-conntrack.conf"
    for headroom in ("-1", "11", "nan"):
        out = run_stackwatch(
            "conntrack", "plan", "--connections", "1000", "--headroom", headroom, "--write",
            str(target),
        )  # fmt: skip
        assert out.returncode == 2, (headroom, out.stderr)
        assert out.stderr == (
            "stackwatch: --headroom must be between 0 and 10 (0.25 means 25% above the load)\n"
        )
    assert not target.exists()


def test_plan_write_failure_exits_1_with_one_line(tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "90-conntrack.conf"
    out = run_stackwatch("conntrack", "plan", "--connections", "1000", "--write", str(target))
    assert out.returncode == 1
    assert out.stderr == f"stackwatch: cannot write {target}: No such file or directory\n"
    assert out.stdout == ""


def test_plan_uses_the_entry_size_measured_under_root(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/slabinfo").write_text(
        "slabinfo - version: 2.1\n"
        "nf_conntrack         204    204    256   51    4 : tunables    0    0    0\n"
    )
    out = run_stackwatch("conntrack", "plan", "--connections", "1000", "--root", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "(256 bytes per entry, measured in /proc/slabinfo)" in out.stdout


def test_without_root_the_details_say_namespaces_were_not_counted(tmp_path: Path) -> None:
    from stackwatch.conntrack.check import CHECK
    from stackwatch.core.config import Config
    from stackwatch.core.engine import run_check
    from stackwatch.core.host import Host, NamespaceAccessDenied
    from stackwatch.core.state import StateStore

    class UnprivilegedHost(Host):
        def in_netns(self, name, read):  # type: ignore[no-untyped-def]
            raise NamespaceAccessDenied("entering network namespaces needs root (CAP_SYS_ADMIN)")

    root = make_tree(tmp_path / "root", 10, 1000, namespaces={"qrouter-a": 800})
    result = run_check(CHECK, UnprivilegedHost(root), Config(None, {}), StateStore(tmp_path / "s"))
    assert result.status == Status.OK
    assert "namespaces not counted: entering network namespaces needs root" in "\n".join(
        result.details
    )


# conntrack plan never writes what the kernel refuses, and refuses absurd input ------------------

KERNEL_INT_MAX = 2**31 - 1  # nf_conntrack_max is a C int
KERNEL_MAX_BUCKETS = (2**31 - 1) // 8  # nf_ct_alloc_hashtable: INT_MAX / sizeof(hlist_nulls_head)


@given(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 0.25, 10.0])),
)
def test_plan_is_within_the_kernels_limits_or_refused(connections: int, headroom: float) -> None:
    try:
        plan = plan_conntrack(connections, headroom, 320)
    except PlanError as exc:
        assert str(exc).startswith(("--connections", "--headroom"))
        assert connections <= 0 or not 0 <= headroom <= 10 or connections * (1 + headroom) > 2**29
        return
    assert 0 < plan.conntrack_max <= KERNEL_INT_MAX
    assert 1024 <= plan.buckets <= KERNEL_MAX_BUCKETS and plan.buckets & (plan.buckets - 1) == 0
    assert plan.conntrack_max >= connections * (1 + headroom) - 1e-6
    assert plan.buckets <= plan.conntrack_max <= 4 * plan.buckets


def test_plan_headroom_is_exact() -> None:
    assert plan_conntrack(100_000, 0.1).conntrack_max == 110_000  # not 110001 from 1.1 * 100000


NOT_A_COUNT = "--connections must be a positive number of connections (plain digits)"
TOO_LARGE = (
    "needs more than the 536870912 entries the kernel's largest hash table (134217728 buckets) "
    "serves at 4 per bucket; at most 429496729 connections with this headroom"
)


@pytest.mark.parametrize(
    ("connections", "headroom", "message"),
    [
        ("nan", "0.25", f"{NOT_A_COUNT}, got 'nan'"),
        ("inf", "0.25", f"{NOT_A_COUNT}, got 'inf'"),
        ("1e9", "0.25", "got '1e9'"),
        ("-5", "0.25", "got '-5'"),
        ("0", "0.25", "--connections must be a positive"),
        ("99999999999999999999999", "0.25", TOO_LARGE),
        ("429496730", "0.25", "at most 429496729 connections"),
        ("1000", "inf", "--headroom must be between 0 and 10"),
        ("1000", "1e400", "--headroom must be between 0 and 10"),
        ("1000", "-0.5", "--headroom must be between 0 and 10"),
    ],
)  # fmt: skip
def test_plan_refuses_absurd_input_in_one_line_and_writes_nothing(
    tmp_path: Path, connections: str, headroom: str, message: str
) -> None:
    target = tmp_path / "90-conntrack.conf"
    out = run_stackwatch(
        "conntrack", "plan", "--connections", connections, "--headroom", headroom,
        "--write", str(target),
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("stackwatch: ") and out.stderr.count("\n") == 1
    assert message in out.stderr
    assert not target.exists() and out.stdout == ""


def test_plan_at_the_largest_table_the_kernel_takes() -> None:
    out = run_stackwatch("conntrack", "plan", "--connections", "429496729")
    assert out.returncode == 0, out.stderr
    assert "net.netfilter.nf_conntrack_max = 536870912\n" in out.stdout
    assert "net.netfilter.nf_conntrack_buckets = 134217728\n" in out.stdout
