"""Where copies go: a local directory, a remote host over ssh (rsync), a volume mounted for the job.

A backup lives at ``PATH/JOB/ID/``. It is built under ``PATH/JOB/.partial-ID/`` and renamed once
every file is there and its SHA-256 matches the catalog, so a dropped connection or a full disk
never leaves something that looks like a backup. A directory destination that does not exist yet
is created (mode 0700, parents too); a volume is written only while it is mounted.

Paths on an ssh destination may hold any character: remote commands are built with shlex.quote
from argv lists (the remote shell reads them back word for word), rsync gets its remote path
through its own protocol (``--protect-args``), never through the remote shell.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from stackwatch.backup.config import Destination
from stackwatch.backup.dump import DumpedFile
from stackwatch.core.host import CommandFailed, CommandTimeout, Host, HostError


class DestinationError(Exception):
    """A destination failed; the message names it."""


def sha256_file(host: Host, path: Path) -> str:
    digest = hashlib.sha256()
    with host.open_binary(path) as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_sums(host: Host, directory: Path, files: Sequence[DumpedFile]) -> list[str]:
    """What differs between the files in ``directory`` and the catalog (size, then SHA-256)."""
    problems = []
    for f in files:
        path = directory / f.name
        try:
            size = host.size_of(path)
            if size != f.size:
                problems.append(f"{f.name}: {size} bytes, catalog says {f.size}")
            elif sha256_file(host, path) != f.sha256:
                problems.append(f"{f.name}: SHA-256 differs from the catalog")
        except (HostError, OSError) as exc:
            problems.append(f"{f.name}: {exc}")
    return problems


class Backend:
    def __init__(self, name: str, dest: Destination, host: Host) -> None:
        self.name = name
        self.dest = dest
        self.host = host

    @property
    def offsite(self) -> bool:
        return self.dest.is_offsite

    def open(self) -> None:
        """Make the destination reachable (mount a volume)."""

    def close(self) -> None:
        """Undo open() (unmount a volume)."""

    def store(self, staging: Path, job: str, backup_id: str, files: Sequence[DumpedFile]) -> None:
        raise NotImplementedError

    def delete(self, job: str, backup_id: str) -> None:
        raise NotImplementedError

    def fetch(self, job: str, backup_id: str, name: str, into: Path) -> Path:
        raise NotImplementedError

    def check(self, job: str, backup_id: str, files: Sequence[DumpedFile]) -> list[str]:
        raise NotImplementedError


def make_private_dirs(host: Host, path: str | os.PathLike[str]) -> None:
    """``path`` and its missing parents, each created with mode 0700 (backups hold every row
    of every database); an existing directory is fine. HostError when one cannot be made."""
    missing = []
    where = Path(os.path.abspath(path))
    while not host.is_dir(str(where)) and where != where.parent:
        missing.append(where)
        where = where.parent
    for directory in reversed(missing):
        host.make_dir(directory, 0o700, parents=True)


class DirectoryBackend(Backend):
    def root(self, job: str) -> Path:
        return Path(self.dest.path) / job

    def staging_dir(self, job: str, backup_id: str) -> Path:
        return self.root(job) / f".partial-{backup_id}"

    def open(self) -> None:
        """The directory, created on the first run (0700, with its parents)."""
        try:
            make_private_dirs(self.host, self.dest.path)
        except HostError as exc:
            raise DestinationError(f"{self.name}: {exc}") from None

    def writable(self) -> None:
        """Raises DestinationError where this destination must not be written now."""

    def prepare(self, job: str, backup_id: str) -> Path:
        """A fresh staging directory on this destination (the dump is written straight here)."""
        self.writable()
        staging = self.staging_dir(job, backup_id)
        try:
            self.host.make_dir(self.root(job), parents=True)
            self.host.make_dir(staging)
        except HostError as exc:
            raise DestinationError(f"{self.name}: {exc}") from None
        return staging

    def store(self, staging: Path, job: str, backup_id: str, files: Sequence[DumpedFile]) -> None:
        self.writable()
        own = self.staging_dir(job, backup_id)
        try:
            # The staging directory's files were hashed as they were written (and fsynced):
            # read back from the page cache they could only say the same. A copy is checked.
            problems = []
            if staging != own:
                self._copy(staging, job, backup_id, files)
                problems = check_sums(self.host, own, files)
            if problems:
                raise DestinationError(f"{self.name}: copy does not match: {'; '.join(problems)}")
            self.host.rename(own, self.root(job) / backup_id)
        except HostError as exc:
            raise DestinationError(f"{self.name}: {exc}") from None
        finally:  # a copy that did not become the backup is not kept
            if staging != own:
                with contextlib.suppress(HostError):
                    self.host.remove_tree(own)

    def _copy(self, staging: Path, job: str, backup_id: str, files: Sequence[DumpedFile]) -> None:
        own = self.prepare(job, backup_id)
        for f in files:
            self.host.copy_file(staging / f.name, own / f.name)

    def delete(self, job: str, backup_id: str) -> None:
        self.writable()
        try:
            self.host.remove_tree(self.root(job) / backup_id)
        except HostError as exc:
            raise DestinationError(f"{self.name}: {exc}") from None

    def fetch(self, job: str, backup_id: str, name: str, into: Path) -> Path:
        path = self.root(job) / backup_id / name
        if not self.host.exists(str(path)):
            raise DestinationError(f"{self.name}: {path} is missing")
        return path

    def check(self, job: str, backup_id: str, files: Sequence[DumpedFile]) -> list[str]:
        return check_sums(self.host, self.root(job) / backup_id, files)


class VolumeBackend(DirectoryBackend):
    """A disk mounted for the job and unmounted after, out of reach of an ``rm -rf /``."""

    mounted_by_us = False

    def open(self) -> None:
        path = self.dest.path
        if self.host.is_mount(path):
            return
        try:
            self.host.make_dir(path, 0o755, parents=True)
        except HostError as exc:
            raise DestinationError(f"{self.name}: {exc}") from None
        argv = ["mount"]
        if self.dest.fstype:
            argv += ["-t", self.dest.fstype]
        if self.dest.mount_options:
            argv += ["-o", self.dest.mount_options]
        argv += ["--", str(self.dest.device), path]
        _run(self.host, argv, f"{self.name}: mount", 120)
        self.mounted_by_us = True
        self.writable()

    def writable(self) -> None:
        # Unmounted, the mount point is a directory of the root file system: what is written
        # there is not on the volume, and fills the system's disk.
        if not self.host.is_mount(self.dest.path):
            raise DestinationError(
                f"{self.name}: {self.dest.path} is not mounted; refusing to write to the mount "
                "point itself"
            )

    def close(self) -> None:
        if self.mounted_by_us:
            with contextlib.suppress(OSError):
                os.sync()
            _run(self.host, ["umount", "--", self.dest.path], f"{self.name}: umount", 300)
            self.mounted_by_us = False


class SshBackend(Backend):
    def target(self) -> str:
        return f"{self.dest.user}@{self.dest.host}" if self.dest.user else str(self.dest.host)

    def ssh_options(self) -> list[str]:
        opts = ["-p", str(self.dest.port), "-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]
        opts += ["-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
        if self.dest.identity_file:
            opts += ["-i", self.dest.identity_file, "-o", "IdentitiesOnly=yes"]
        if self.dest.known_hosts_file:
            opts += ["-o", f"UserKnownHostsFile={self.dest.known_hosts_file}"]
            opts += ["-o", "StrictHostKeyChecking=yes"]
        return opts

    def remote(self, *commands: Sequence[str], timeout: float = 600) -> str:
        """Run ``commands`` on the remote host, one after the other while each succeeds, in
        one connection: each word quoted for the remote shell, which reads it back as it was."""
        line = " && ".join(" ".join(shlex.quote(word) for word in argv) for argv in commands)
        return _run(self.host, self.ssh_argv(line), f"{self.name}: ssh {self.target()}", timeout)

    def ssh_argv(self, command: str) -> list[str]:
        return ["ssh", *self.ssh_options(), "--", self.target(), command]

    def root(self, job: str) -> str:
        return f"{self.dest.path.rstrip('/')}/{job}"

    def rsync(self, sources: Sequence[str], target: str, timeout: float) -> None:
        # --protect-args: the remote path goes through rsync's protocol, not the remote shell
        # (rsync parses -e itself, honouring the quotes shlex.quote makes).
        shell = " ".join(shlex.quote(a) for a in ["ssh", *self.ssh_options()])
        argv = ["rsync", "-rt", "--protect-args", "--chmod=D700,F600", "-e", shell, "--"]
        what = f"{self.name}: rsync to {self.target()}"
        _run(self.host, [*argv, *sources, target], what, timeout)

    def store(self, staging: Path, job: str, backup_id: str, files: Sequence[DumpedFile]) -> None:
        root = self.root(job)
        partial = f"{root}/.partial-{backup_id}"
        # The job's lock is held: any other partial directory is left by a killed run.
        self.remote(
            ["mkdir", "-p", "-m", "700", "--", partial],
            ["cd", "--", root],
            ["find", ".", "-mindepth", "1", "-maxdepth", "1", "-name", ".partial-*",
             "!", "-name", f".partial-{backup_id}", "-exec", "rm", "-rf", "--", "{}", "+"],
        )  # fmt: skip
        self.rsync([f"{staging}/"], f"{self.target()}:{partial}/", 6 * 3600)
        problems = self._sums(partial, files)
        if problems:
            raise DestinationError(f"{self.name}: copy does not match: {'; '.join(problems)}")
        self.remote(
            ["sync", "-f", "--", partial], ["mv", "-T", "--", partial, f"{root}/{backup_id}"]
        )

    def _sums(self, directory: str, files: Sequence[DumpedFile]) -> list[str]:
        """SHA-256 of the files in ``directory``, computed there: sha256sum prints the plain
        file names (escaped ones start with a backslash, and are not ours)."""
        if not files:
            return []
        out = self.remote(["cd", "--", directory], ["sha256sum", "--", *[f.name for f in files]])
        found: dict[str, str] = {}
        for line in out.splitlines():
            digest, _, name = line.partition("  ")
            found[name] = digest.strip()
        return [
            f"{f.name}: SHA-256 differs from the catalog"
            for f in files
            if found.get(f.name) != f.sha256
        ]

    def delete(self, job: str, backup_id: str) -> None:
        self.remote(["rm", "-rf", "--", f"{self.root(job)}/{backup_id}"])

    def free_bytes(self) -> int:
        """Free bytes on the remote file system of the destination's path (``df -Pk``)."""
        path = self.dest.path  # made now if it is not there yet (a run makes it anyway)
        out = self.remote(
            ["mkdir", "-p", "-m", "700", "--", path], ["df", "-Pk", "--", path], timeout=60
        )
        free = df_available(out)
        if free is None:
            raise DestinationError(f"{self.name}: df on {self.target()} said nothing usable")
        return free

    def fetch(self, job: str, backup_id: str, name: str, into: Path) -> Path:
        """The file copied into ``into`` by ``ssh cat``: no pattern of rsync's, no shell word
        splitting can make another file of it."""
        source = f"{self.root(job)}/{backup_id}/{name}"
        what = f"{self.name}: fetching {name} from {self.target()}"
        try:
            process = self.host.spawn(self.ssh_argv(f"cat -- {shlex.quote(source)}"), what=what)
            self.host.drain_to_file(process, into / name, timeout=6 * 3600)
        except (CommandFailed, CommandTimeout) as exc:
            raise DestinationError(str(exc)) from None
        except HostError as exc:
            raise DestinationError(f"{what}: {exc}") from None
        return into / name

    def check(self, job: str, backup_id: str, files: Sequence[DumpedFile]) -> list[str]:
        try:
            return self._sums(f"{self.root(job)}/{backup_id}", files)
        except DestinationError as exc:
            return [str(exc)]


# POSIX ``df -P``: name, 1024-blocks, used, available, capacity%, mount point (names may hold
# spaces, so the numbers are found between them).
_DF_FIRST = re.compile(r"\S.*?\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+%\s+\S.*")
_DF_LAST = re.compile(r"\S.*\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+%\s+\S.*?")


def df_available(text: str) -> int | None:
    """Available bytes from ``df -Pk`` output of one path (its second line); None where the
    output is not that (a remote shell that says something else, a lying host)."""
    lines = text.splitlines()
    if len(lines) != 2:
        return None
    first, last = _DF_FIRST.fullmatch(lines[1]), _DF_LAST.fullmatch(lines[1])
    if first is None or last is None or first.span(3) != last.span(3):
        return None  # names that look like figures themselves: which column is which?
    return int(first.group(3)) * 1024


def _run(host: Host, argv: Sequence[str], what: str, timeout: float) -> str:
    """A command of a destination (ssh, rsync, mount); DestinationError naming it on failure."""
    try:
        return host.run(argv, timeout=timeout, what=what).stdout
    except (CommandFailed, CommandTimeout) as exc:
        raise DestinationError(str(exc)) from None
    except HostError as exc:
        raise DestinationError(f"{what}: {exc}") from None


def backend(name: str, dest: Destination, host: Host) -> Backend:
    if dest.kind == "ssh":
        return SshBackend(name, dest, host)
    if dest.kind == "volume":
        return VolumeBackend(name, dest, host)
    return DirectoryBackend(name, dest, host)
