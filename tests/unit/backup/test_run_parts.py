"""The parts of a run that start programs or write files, without a database server: hooks, the
notify command, a dump written through Host (trailer, compression), a directory destination."""

from __future__ import annotations

import hashlib
import stat
import sys
from pathlib import Path

import pytest
import zstandard

from stackwatch.backup.config import Destination, Job
from stackwatch.backup.destinations import DestinationError, DirectoryBackend
from stackwatch.backup.dump import Compression, DumpedFile, DumpError, stream_to_file
from stackwatch.backup.job import run_hook
from stackwatch.backup.notify import run_command
from stackwatch.core.host import CommandFailed, Host

PY = sys.executable
HOST = Host()


def test_hooks_fail_with_one_line_naming_the_hook(tmp_path: Path) -> None:
    seen = tmp_path / "job"
    code = f"import os; open({str(seen)!r}, 'w').write(os.environ['STACKWATCH_BACKUP_JOB'])"
    run_hook(HOST, [PY, "-c", code], "pre", "nightly", 10)
    assert seen.read_text() == "nightly"
    with pytest.raises(DumpError, match=r"^post hook exited with status 4: no message$"):
        run_hook(HOST, [PY, "-c", "raise SystemExit(4)"], "post", "nightly", 10)
    with pytest.raises(DumpError, match=r"^pre hook failed: /nonexistent/freeze: command not"):
        run_hook(HOST, ["/nonexistent/freeze"], "pre", "nightly", 10)
    with pytest.raises(DumpError, match=r"^pre hook did not finish within 0\.2 s$"):
        run_hook(HOST, [PY, "-c", "import time; time.sleep(30)"], "pre", "nightly", 0.2)


def test_hook_failure_message_is_stderrs_last_line() -> None:
    code = "import sys; sys.stderr.write('thawing\\nfrozen: device busy\\n'); sys.exit(4)"
    with pytest.raises(DumpError, match=r"^post hook exited with status 4: frozen: device busy$"):
        run_hook(HOST, [PY, "-c", code], "post", "nightly", 10)


def test_notify_command_gets_the_message_and_the_event(tmp_path: Path) -> None:
    out = tmp_path / "got"
    code = (
        "import os, sys; open(sys.argv[1], 'w').write("
        "os.environ['STACKWATCH_BACKUP_EVENT'] + '|' + sys.stdin.read())"
    )
    assert run_command(HOST, "nightly", [PY, "-c", code, str(out)], "failure", "s", "body") == []
    assert out.read_text() == "failure|body"
    assert run_command(HOST, "n", [PY, "-c", "raise SystemExit(3)"], "success", "s", "b") == [
        "notify command exited with status 3"
    ]
    (problem,) = run_command(HOST, "n", ["/nonexistent/notify"], "success", "s", "b")
    assert problem.startswith("notify command failed: /nonexistent/notify: command not found")


SQL = "import sys; sys.stdout.write('INSERT INTO t VALUES (1);\\n' * 50000{})"


def test_a_dump_is_kept_only_with_its_trailer(tmp_path: Path) -> None:
    zstd = Compression("zstd", 3, 1)
    complete = SQL.format(" + '-- Dump completed on 2026-01-01 10:00:00\\n'")
    drained = stream_to_file(
        HOST, [PY, "-c", complete], tmp_path / "shop.sql.zst", zstd, 30, what="dump of shop"
    )
    data = (tmp_path / "shop.sql.zst").read_bytes()
    text = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    assert text.endswith(b"-- Dump completed on 2026-01-01 10:00:00\n")
    assert drained.raw_size == len(text) and drained.size == len(data) < len(text)
    assert stat.S_IMODE((tmp_path / "shop.sql.zst").stat().st_mode) == 0o600
    cut = SQL.format("")
    with pytest.raises(DumpError, match=r"^dump of blog ended without its completion trailer"):
        stream_to_file(
            HOST, [PY, "-c", cut], tmp_path / "blog.sql.zst", zstd, 30, what="dump of blog"
        )
    failing = (
        "import sys; sys.stderr.write('mariadb-dump: Got error: 1045: Access denied'); sys.exit(2)"
    )
    with pytest.raises(CommandFailed, match=r"^dump of x exited with status 2: mariadb-dump: Got"):
        stream_to_file(HOST, [PY, "-c", failing], tmp_path / "x.sql", zstd, 30, what="dump of x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.sql.zst"]


def test_compression_of_a_job() -> None:
    job = Job(server="db", destinations=["d"], compression="gzip", compression_level=12, threads=2)
    assert Compression.of(job) == Compression("gzip", 12, 2)
    assert Compression("none", 3, 0).encoder() is None
    gzip = Compression.of(job).encoder()
    assert gzip is not None and gzip.compress(b"x") + gzip.flush()  # level capped at 9: works


def test_directory_destination_copies_checks_and_renames(tmp_path: Path) -> None:
    staging = tmp_path / "work" / ".partial-1"
    staging.mkdir(parents=True)
    (staging / "shop.sql").write_bytes(b"INSERT;\n" * 1000)
    good = DumpedFile(
        "shop.sql", "shop", 8000, 8000, hashlib.sha256(b"INSERT;\n" * 1000).hexdigest()
    )
    (tmp_path / "dest").mkdir()
    dest = DirectoryBackend("nas", Destination(kind="directory", path=str(tmp_path / "dest")), HOST)
    dest.open()
    dest.store(staging, "nightly", "1", [good])
    stored = tmp_path / "dest" / "nightly" / "1" / "shop.sql"
    assert stored.read_bytes() == b"INSERT;\n" * 1000
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert dest.check("nightly", "1", [good]) == []
    stored.write_bytes(b"INSERT;\n" * 999 + b"INSERX;\n")
    assert dest.check("nightly", "1", [good]) == ["shop.sql: SHA-256 differs from the catalog"]
    bad = DumpedFile("shop.sql", "shop", 8000, 8000, "0" * 64)
    with pytest.raises(DestinationError, match=r"^nas: copy does not match: shop\.sql: SHA-256"):
        dest.store(staging, "nightly", "2", [bad])
    assert sorted(p.name for p in (tmp_path / "dest" / "nightly").iterdir()) == ["1"]
    dest.delete("nightly", "1")
    dest.delete("nightly", "1")  # gone already: fine
    assert list((tmp_path / "dest" / "nightly").iterdir()) == []
    # Issue 10: a directory destination that does not exist yet is created on the first run
    # (tests/unit/backup/test_hostile.py); one that cannot be a directory is refused.
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(DestinationError, match=r"^x: cannot create .*/file: File exists$"):
        path = str(tmp_path / "file" / "no")
        DirectoryBackend("x", Destination(kind="directory", path=path), HOST).open()
