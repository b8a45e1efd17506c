"""ssh destinations whose path holds spaces, quotes, shell and glob characters, a line break,
against a real sshd (issue 10): the copy lands exactly there, verify fetches it back from there,
retention deletes there and nowhere else."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackwatch.backup.config import Destination
from stackwatch.backup.destinations import SshBackend
from stackwatch.backup.dump import DumpedFile
from stackwatch.core.host import Host
from tests.conftest import run_stackwatch
from tests.integration.backup.conftest import MariaDB, Sshd
from tests.integration.backup.test_backup_run import write_config

pytestmark = pytest.mark.integration

HOSTILE_DIR = 'remote dir/it\'s "$HOME" `id`; $(id) *?[ab] & | <x> #~ é\ttab\\back\nline/-rf'


def ssh_table(name: str, sshd: Sshd, path: str) -> str:
    return (
        f'[backup.destinations.{name}]\nkind = "ssh"\nhost = "127.0.0.1"\nuser = "root"\n'
        f'port = {sshd.port}\npath = {json.dumps(path)}\nidentity_file = "{sshd.identity}"\n'
        f'known_hosts_file = "{sshd.known_hosts}"\n'
    )


def test_a_run_copies_verifies_and_deletes_at_a_path_full_of_shell_characters(
    tmp_path: Path, mariadb: MariaDB, sshd: Sshd
) -> None:
    remote = tmp_path / HOSTILE_DIR
    decoy = tmp_path / "remote dir" / "ita"  # what a glob or a split word could reach instead
    decoy.mkdir(parents=True)
    (decoy / "keep").write_text("not a backup")
    config = write_config(
        tmp_path,
        mariadb,
        destinations=("hostile",),
        databases='["shop", "we-ird db"]',
        keep_last=1,
        extra=ssh_table("hostile", sshd, str(remote)),
    )
    ids = []
    for _ in range(2):
        run = run_stackwatch("backup", "run", "--config", str(config))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "copy hostile: ok" in run.stdout
        ids.append(run.stdout.split("backup ", 1)[1].split()[0])
    assert f"deleted by retention: {ids[0]}" in run.stdout
    assert sorted(p.name for p in (remote / "nightly").iterdir()) == [ids[1]]
    names = sorted(p.name for p in (remote / "nightly" / ids[1]).iterdir())
    assert names == ["_users.sql.zst", "manifest.json", "shop.sql.zst", "we-ird%20db.sql.zst"]
    assert (decoy / "keep").read_text() == "not a backup"
    assert sorted(p.name for p in (tmp_path / "remote dir").iterdir()) == sorted(
        ["ita", remote.parts[-2]]
    )
    verify = run_stackwatch("backup", "verify", "--config", str(config))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "database we-ird db: 1 tables restored, rows and checksums match" in verify.stdout
    assert "copy hostile: 4 files match their SHA-256" in verify.stdout

    # Its free space, measured over ssh by the runs, in the forecast and the check.
    listed = run_stackwatch("backup", "list", "--config", str(config))
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "    hostile: " in listed.stdout and "(measured over ssh at " in listed.stdout
    assert "free space not measured" not in listed.stdout
    check = run_stackwatch("check", "backup-age", "--config", str(config), "--format", "json")
    assert "(measured over ssh by the run of " in check.stdout, check.stdout
    assert '"destination": "hostile"' in check.stdout


# One path component of anything but "/" and NUL, as a destination path may hold.
components = st.text(
    alphabet=st.sampled_from(list(" '\"$`;&|<>*?[]{}()!#~=%^\\\t\nx-é")), min_size=1, max_size=10
).filter(lambda c: c not in (".", ".."))


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(components, components)
def test_the_ssh_backend_reads_and_writes_exactly_the_path_it_is_given(
    sshd: Sshd, first: str, second: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        path = base / first / second
        staging = base / "staging"
        staging.mkdir()
        data = b"INSERT INTO t VALUES (1);\n"
        (staging / "t.sql").write_bytes(data)
        files = [DumpedFile("t.sql", "t", len(data), len(data), hashlib.sha256(data).hexdigest())]
        dest = Destination(
            kind="ssh",
            path=str(path),
            host="127.0.0.1",
            user="root",
            port=sshd.port,
            identity_file=str(sshd.identity),
            known_hosts_file=str(sshd.known_hosts),
        )
        ssh = SshBackend("off", dest, Host())
        ssh.store(staging, "job", "1", files)
        assert (path / "job" / "1" / "t.sql").read_bytes() == data
        assert ssh.check("job", "1", files) == []
        into = base / "fetched"
        into.mkdir()
        assert ssh.fetch("job", "1", "t.sql", into).read_bytes() == data
        ssh.delete("job", "1")
        assert list((path / "job").iterdir()) == []
        found = {p.relative_to(base) for p in base.rglob("*")}
        expected = {Path(first), Path(first) / second, Path(first) / second / "job"}
        expected |= {Path("staging"), Path("staging/t.sql"), Path("fetched"), Path("fetched/t.sql")}
        assert found == expected  # nothing written anywhere else
