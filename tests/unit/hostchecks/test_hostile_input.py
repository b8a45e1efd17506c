"""The host checks under hostile or broken input: what cannot be read is said, never skipped in
silence, never a traceback, never a false alarm.

- A sensor or counter that exists but cannot be read is a finding naming its path (UNKNOWN where
  the check's main figure is lost, WARNING beside figures that were read); SKIP stays for what a
  machine does not have.
- Numbers the kernel never writes (other scripts' digits, NaN, inf, 1_000) are unreadable values,
  not figures.
- Names that are not UTF-8 (interfaces, chips, processes) go through every output format.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from stackwatch.checks.links import DEV_COLUMNS, read_proc_net_dev
from stackwatch.checks.sysfs import parse_int, parse_table_pairs
from stackwatch.core.result import Status
from tests.conftest import run_stackwatch
from tests.unit.hostchecks.support import copy_tree, run_engine, write

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
DEV_HEADER = "Inter-| Receive | Transmit\n face |bytes packets|bytes packets\n"
EDAC = "/sys/devices/system/edac/mc/mc0"
HWMON = "/sys/class/hwmon/hwmon0"
NOT_NUMBERS = ["nan", "NaN", "inf", "-inf", "1e3", "1_000", "١٢٣", "²", "12abc", "", "0x", "+"]


def dev_row(name: str, cells: list[str]) -> str:
    return f"{name:>6}: {' '.join(cells)}\n"


# Numbers the kernel writes, and those it never does --------------------------------------------


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_what_the_kernel_never_writes_is_no_number(text: str) -> None:
    assert parse_int(text) is None


@given(st.text())
def test_parse_int_reads_ascii_integers_only(text: str) -> None:
    value = parse_int(text)
    if value is not None:
        assert text.strip().isascii()
        assert value == int(text.strip(), 16 if text.strip().lower().startswith("0x") else 10)


@given(st.text(alphabet=st.characters(), max_size=200))
def test_snmp_tables_hold_ascii_integers_only(text: str) -> None:
    for section in parse_table_pairs(text).values():
        assert all(isinstance(v, int) for v in section.values())


# /proc/net/dev: a line that cannot be read is skipped and counted -------------------------------


@pytest.mark.parametrize("bad", ["²", "١٢", "1_0", "nan", "-1", "0x10"])
def test_a_dev_line_with_a_foreign_number_is_skipped_and_counted(bad: str) -> None:
    good = [str(n) for n in range(16)]
    text = DEV_HEADER + dev_row("eth0", good) + dev_row("eth1", [bad, *good[1:]])
    table = read_proc_net_dev(text)
    assert set(table.rows) == {"eth0"} and table.skipped == 1
    assert table.rows["eth0"]["tx_compressed"] == 15


@given(
    st.lists(
        st.tuples(
            st.text(alphabet=st.characters(blacklist_characters=":|\n\r"), min_size=1, max_size=8),
            st.lists(
                # a cell never holds "\n": that would make two lines of one, each judged alone
                st.one_of(
                    st.integers(0, 2**64),
                    st.text(alphabet=st.characters(blacklist_characters="\n"), max_size=4),
                ),
                min_size=14,
                max_size=17,
            ),
        ),
        max_size=6,
    )
)
def test_dev_parser_never_fails_and_accounts_for_every_line(
    lines: list[tuple[str, list[int | str]]],
) -> None:
    text = DEV_HEADER + "".join(dev_row(n, [str(c) for c in cells]) for n, cells in lines)
    table = read_proc_net_dev(text)
    for row in table.rows.values():
        assert len(row) == len(DEV_COLUMNS) and all(v >= 0 for v in row.values())
    named = [n for n, _ in lines if n.strip()]
    assert len(table.rows) <= len(named) and table.skipped <= len(named)


def test_a_foreign_digit_in_proc_net_dev_is_a_skipped_line_not_an_internal_error(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    nic(root, "eth0")
    nic(root, "eth1")
    good = [str(n) for n in range(16)]
    write(
        root,
        "/proc/net/dev",
        DEV_HEADER + dev_row("eth0", good) + dev_row("eth1", ["²", *good[1:]]),
    )
    result = run_engine("links", root, tmp_path / "s")
    assert "internal error" not in result.summary
    assert "1 line of /proc/net/dev could not be read: skipped" in result.details
    # eth1's counters are then read from sysfs; it has none there either: said, a WARNING.
    assert result.status == Status.WARNING
    assert "no traffic counters for eth1" in result.summary


def nic(root: Path, name: str, carrier: str = "1") -> None:
    device = root / "sys/devices/pci0000:00/0000:00:01.0/net" / name
    device.mkdir(parents=True)
    for attr, value in {"operstate": "up", "carrier": carrier, "flags": "0x1003"}.items():
        (device / attr).write_text(value + "\n")
    (root / "sys/class/net").mkdir(parents=True, exist_ok=True)
    (root / "sys/class/net" / name).symlink_to(f"../../devices/pci0000:00/0000:00:01.0/net/{name}")


# A sensor or counter that cannot be read is a finding with its path ----------------------------


def unreadable(root: Path, path: str) -> None:
    """A file that exists but cannot be read, even by root: a directory in its place."""
    (root / path.lstrip("/")).mkdir(parents=True)


def test_bond_member_state_that_cannot_be_read_is_unknown_with_its_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    bond = root / "sys/devices/virtual/net/bond0"
    (bond / "bonding").mkdir(parents=True)
    (bond / "bonding/slaves").write_text("eth0 eth1\n")
    (bond / "operstate").write_text("up\n")
    (bond / "lower_eth0/bonding_slave").mkdir(parents=True)
    (bond / "lower_eth0/bonding_slave/mii_status").write_text("up\n")
    unreadable(root, "/sys/devices/virtual/net/bond0/lower_eth1/bonding_slave/mii_status")
    (root / "sys/class/net").mkdir(parents=True)
    (root / "sys/class/net/bond0").symlink_to("../../devices/virtual/net/bond0")
    write(root, "/proc/net/dev", DEV_HEADER + dev_row("bond0", ["0"] * 16))
    result = run_engine("links", root, tmp_path / "s")
    assert result.status == Status.UNKNOWN
    assert (
        "bond bond0: state of member eth1 cannot be read (cannot read "
        "/sys/class/net/bond0/lower_eth1/bonding_slave/mii_status: Is a directory)"
    ) in result.summary
    live = [m for m in result.metrics if m.name == "bond_live_members"]
    assert [(m.value, m.max) for m in live] == [(1, 2)]
    # The member list itself unreadable: UNKNOWN too, never "has no members" (CRITICAL).
    (bond / "bonding/slaves").unlink()
    unreadable(root, "/sys/devices/virtual/net/bond0/bonding/slaves")
    result = run_engine("links", root, tmp_path / "s")
    assert (
        result.status == Status.UNKNOWN and "bond bond0: members cannot be read" in result.summary
    )


@pytest.mark.parametrize("garbage", [None, *NOT_NUMBERS[:6]])
def test_temperature_that_cannot_be_read_is_said_never_judged(
    tmp_path: Path, garbage: str | None
) -> None:
    write(tmp_path, f"{HWMON}/name", "coretemp\n")
    write(tmp_path, f"{HWMON}/temp1_input", "45000\n")
    write(tmp_path, f"{HWMON}/temp1_max", "80000\n")
    write(tmp_path, f"{HWMON}/temp2_label", "Core 1\n")
    write(tmp_path, f"{HWMON}/temp2_max", "80000\n")
    if garbage is None:
        unreadable(tmp_path, f"{HWMON}/temp2_input")
        why = f"cannot read {HWMON}/temp2_input: Is a directory"
    else:
        write(tmp_path, f"{HWMON}/temp2_input", garbage + "\n")
        why = f"{HWMON}/temp2_input: not a temperature ({garbage!r})"
    result = run_engine("temperature", tmp_path, tmp_path / "s")
    assert result.status == Status.WARNING, result.summary  # not a false alarm, not OK in silence
    assert result.summary == f"cannot read coretemp/Core 1 ({why})"
    assert [m.value for m in result.metrics] == [45.0]
    # Only unreadable sensors: UNKNOWN (not SKIP: the machine has sensors).
    write(tmp_path, f"{HWMON}/temp1_input", "nan\n")
    result = run_engine("temperature", tmp_path, tmp_path / "s")
    assert result.status == Status.UNKNOWN and not result.skipped
    # An operator who knows a sensor is broken can say so.
    quiet = run_engine("temperature", tmp_path, tmp_path / "s", config={"ignore": ["coretemp/*"]})
    assert quiet.skipped


def edac(root: Path) -> None:
    write(root, f"{EDAC}/mc_name", "skx_edac\n")
    write(root, f"{EDAC}/ce_count", "0\n")
    write(root, f"{EDAC}/ue_count", "3\n")
    write(root, f"{EDAC}/dimm0/dimm_label", "CPU_SrcID#0_MC#0_Chan#0_DIMM#0\n")
    write(root, f"{EDAC}/dimm0/dimm_ce_count", "0\n")
    write(root, f"{EDAC}/dimm0/dimm_ue_count", "3\n")


@pytest.mark.parametrize("garbage", [None, "nan", "inf", "-1", "١٢٣"])
def test_uncorrected_errors_on_a_dimm_count_when_the_controller_total_cannot_be_read(
    tmp_path: Path, garbage: str | None
) -> None:
    edac(tmp_path)
    (tmp_path / EDAC.lstrip("/") / "ue_count").unlink()
    if garbage is None:
        unreadable(tmp_path, f"{EDAC}/ue_count")
    else:
        write(tmp_path, f"{EDAC}/ue_count", garbage + "\n")
    result = run_engine("memory-ecc", tmp_path, tmp_path / "s")
    assert result.status == Status.CRITICAL
    assert result.summary.startswith(
        "3 uncorrected memory errors on mc0 on mc0/dimm0 (CPU_SrcID#0_MC#0_Chan#0_DIMM#0) "
        "(its total cannot be read: counted per DIMM and row); mc0: cannot read "
    )
    assert f"{EDAC}/ue_count" in result.summary
    # No errors below the controller either: UNKNOWN, never "0 uncorrected" (OK).
    write(tmp_path, f"{EDAC}/dimm0/dimm_ue_count", "0\n")
    result = run_engine("memory-ecc", tmp_path, tmp_path / "s")
    assert result.status == Status.UNKNOWN
    assert result.summary.startswith("mc0: cannot read ")
    assert not [m for m in result.metrics if m.name == "uncorrected_total"]


# Names that are not UTF-8 go through every format -----------------------------------------------


@pytest.fixture
def foreign_names(tmp_path: Path) -> Path:
    """A host whose NIC, sensor chip, DIMM label and daemon carry names that are not UTF-8
    (and an escape sequence)."""
    root = copy_tree(GOLDEN / "root", tmp_path / "root")
    name = b"eth\xff\x1b[31m"
    device = os.path.join(os.fsencode(root), b"sys/devices/pci0000:00/0000:00:09.0/net", name)
    os.makedirs(device)
    for attr, value in {b"operstate": b"up\n", b"carrier": b"1\n", b"speed": b"1000\n"}.items():
        with open(os.path.join(device, attr), "wb") as handle:
            handle.write(value)
    os.symlink(
        b"../../devices/pci0000:00/0000:00:09.0/net/" + name,
        os.path.join(os.fsencode(root), b"sys/class/net", name),
    )
    dev = (root / "proc/net/dev").read_bytes()
    (root / "proc/net/dev").write_bytes(dev + b" " + name + b": " + b" ".join([b"7"] * 16) + b"\n")
    write(root, "/sys/class/hwmon/hwmon0/name", b"core\xfe\x9btemp\n")
    write(root, f"{EDAC}/dimm0/dimm_label", b"DIMM\xc3\x28\x07A1\n")
    write(root, "/proc/812/comm", b"nginx\xff\n")
    return root


@pytest.mark.parametrize("fmt", ["text", "nagios", "json", "prometheus"])
def test_names_that_are_not_utf8_in_every_format(
    foreign_names: Path, tmp_path: Path, fmt: str
) -> None:
    out = run_stackwatch(
        "check", "links", "temperature", "memory-ecc", "processes", "--root", str(foreign_names),
        "--config", str(GOLDEN / "stackwatch.toml"), "--state-dir", str(tmp_path / "s"),
        "--format", fmt,
    )  # fmt: skip
    assert "Traceback" not in out.stderr and "internal error" not in out.stdout, out.stderr
    assert out.returncode in (0, 1, 2, 3)
    if fmt in ("text", "nagios"):  # what a person reads: no escape sequence reaches a terminal
        assert "\x1b" not in out.stdout
    if fmt == "json":
        checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
        assert checks["links"]["status"] != "UNKNOWN"
    if fmt == "prometheus":
        assert list(text_string_to_metric_families(out.stdout))
