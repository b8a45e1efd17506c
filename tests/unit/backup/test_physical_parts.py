"""The parts of physical backups, throwaway verifies and the free-space forecast that decide
something without a server: mariadb-backup's last words, the forecast and its verdicts, the
throwaway server's command line, the restore target's checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.backup.dump import DumpedFile, TableStats
from stackwatch.backup.forecast import (
    Estimate,
    Room,
    forecast_lines,
    from_data,
    from_history,
    refusal,
    warnings,
)
from stackwatch.backup.physical import (
    CopyPosition,
    _not_of_snapshot,
    completed,
    parse_copy_position,
    physical_file,
)
from stackwatch.backup.physrestore import check_target, refuse_options
from stackwatch.backup.restore import RestoreError, RestoreRequest, RestoreUsage
from stackwatch.backup.snapshot import is_snapshot_consistent
from stackwatch.backup.throwaway import server_args
from stackwatch.core.host import Host

END = """[00] 2026-12-01 17:06:48 Backup created in directory '/tmp/pb/tmp/'
[00] 2026-12-01 17:06:48 MySQL binlog position: filename 'binlog.000001', position '1131', \
GTID of the last change '0-1-5'
[00] 2026-12-01 17:06:48 Streaming backup-my.cnf
2026-12-01 17:06:48 0 [Note] InnoDB: Starting shutdown...
[00] 2026-12-01 17:06:48 completed OK!
"""


def test_the_copy_position_and_completion_are_read_from_mariadb_backup() -> None:
    assert parse_copy_position(END) == CopyPosition("binlog.000001", 1131, "0-1-5")
    assert completed(END)
    cut = END.rsplit("\n", 2)[0]  # killed before its last line
    assert not completed(cut) and not completed("")
    assert parse_copy_position("no binary log here") == CopyPosition(None, None, None)


@given(st.text(max_size=300))
def test_untrusted_stderr_never_breaks_the_parsers(text: str) -> None:
    position = parse_copy_position(text)
    assert position.pos is None or position.pos >= 0
    assert isinstance(completed(text), bool)


def test_figures_not_of_the_copy_become_notes() -> None:
    retagged = _not_of_snapshot(TableStats("shop", "orders", 3, "tbl:12345"))
    assert retagged.checksum == "tbl-nontx:12345" and not is_snapshot_consistent(retagged.checksum)


def test_a_physical_backup_is_told_by_its_file() -> None:
    copy = DumpedFile("_physical.mbstream.zst", None, 10, 20, "ab")
    dump = DumpedFile("shop.sql.zst", "shop", 10, 20, "cd")
    assert physical_file([dump, copy]) == copy and physical_file([dump]) is None


def test_forecast_from_history_adds_the_growth() -> None:
    estimate = from_history([1400, 1300, 1200, 1100, 1000, 10])  # newest first; 5 runs looked at
    assert estimate is not None and estimate.firm and estimate.size == 1500
    assert from_history([]) is None and from_history([0]) is None
    shrinking = from_history([900, 1000])
    assert shrinking is not None and shrinking.size == 900  # no negative growth
    assert not from_data(1000).firm and from_data(1000).size == 500


def test_a_firm_forecast_refuses_a_guess_only_warns() -> None:
    firm, guess = Estimate(1000, "newest 1000 B", True), Estimate(1000, "a guess", False)
    short, roomy, unknown = Room("local", 500, 1200), Room("big", 10**9, 1200), Room("ssh", None, 1)
    reason = refusal(firm, [short, roomy, unknown])
    assert reason is not None and "nothing written" in reason and "destination local" in reason
    assert "big" not in reason
    assert refusal(firm, [roomy, unknown]) is None
    assert refusal(guess, [short]) is None and warnings(guess, [short])[0].startswith("WARNING")
    lines = forecast_lines(firm, [short, roomy, unknown])
    assert "WILL NOT FIT" in lines[1] and "fits" in lines[2] and "not measured" in lines[3]


def test_the_throwaway_server_listens_on_no_network(tmp_path: Path) -> None:
    argv = server_args("/usr/sbin/mariadbd", tmp_path / "data", tmp_path, grant_tables=False)
    assert argv[1] == "--no-defaults" and "--skip-networking" in argv
    assert "--skip-grant-tables" in argv and "--skip-log-bin" in argv
    assert not any(a.startswith(("--port", "--bind-address")) for a in argv)
    installed = server_args("mariadbd", tmp_path / "data", tmp_path, grant_tables=True)
    assert "--skip-grant-tables" not in installed and "--event-scheduler=OFF" in installed


def test_restore_target_must_be_empty_or_new(tmp_path: Path) -> None:
    host = Host()
    assert check_target(host, tmp_path / "new") is False
    assert check_target(host, tmp_path) is True
    (tmp_path / "ibdata1").write_bytes(b"x")
    with pytest.raises(RestoreError, match="refusing to restore into"):
        check_target(host, tmp_path)
    with pytest.raises(RestoreError, match="does not exist"):
        check_target(host, tmp_path / "a" / "b")
    with pytest.raises(RestoreUsage, match="--database, --as does not apply"):
        refuse_options(RestoreRequest(databases=("shop",), as_name="x", datadir="/x"))


def test_scratch_of_a_killed_run_is_removed_a_running_ones_kept(tmp_path: Path) -> None:
    import os

    from stackwatch.backup.throwaway import clean_owned
    from stackwatch.core.host import Host

    dead, alive = "4194999", str(os.getpid())  # above any pid_max: never a running process
    names = [f".fetch-{dead}-ab", f".fetch-{alive}-cd", f".stackwatch-restore-{dead}-ef",
             ".fetch-xyz", "data", f".stackwatch-restore-{alive}-gh"]  # fmt: skip
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "customer.sql").write_text("rows")
    removed = clean_owned(Host(), tmp_path, (".fetch-", ".stackwatch-restore-"))
    assert sorted(removed) == [f".fetch-{dead}-ab", f".stackwatch-restore-{dead}-ef"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(set(names) - set(removed))
