"""Who a process really is: the executable the kernel runs for it, and the user it runs as.

A process name, a command line and argv[0] are whatever the process says: any user can start
``exec -a ovs-vswitchd sleep 1d`` or copy a program to /tmp under a daemon's name. What the
kernel records cannot be borrowed: /proc/PID/exe (the executable file) and the Uid line of
/proc/PID/status. A daemon counts when its executable is one the administrator installed (owned
by root and writable by root alone, or one of the paths configured), argv[0] names that same
program, an interpreter runs a script installed the same way, and, where configured, it runs as
the configured user. Another user's /proc/PID/exe can only be read by root: without it the
process is counted by its name, and the check says so.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import stat
from collections.abc import Sequence

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass

_INTERPRETER = re.compile(r"(python|perl|ruby|node|nodejs|php|sh|bash|dash|ksh|zsh)[0-9.]*")
_VERSION = re.compile(r"[-_]?[0-9][0-9.]*\Z")  # python3.11 -> python, php-fpm8.2 -> php-fpm
NO_SCRIPT = "code on its command line, a module, or a relative path"
DELETED = " (deleted)"  # readlink of /proc/PID/exe once the file was replaced (an upgrade)


@dataclass(frozen=True)
class Identity:
    """What the kernel says about one process; None where it could not be read."""

    exe: str | None  # the executable's path, " (deleted)" removed
    exe_trusted: bool | None  # owned by root and writable by root alone
    argv0_names_exe: bool | None  # argv[0] is that same program (not a borrowed name)
    script: str | None  # for an interpreter: the script it runs, where it runs a file
    script_trusted: bool | None
    uid: int | None  # effective user id


@dataclass(frozen=True)
class Verdict:
    counted: bool
    why: str = ""  # not counted: why it is not the daemon; counted: what could not be checked


def program_name(argv0: str) -> str:
    """The program argv[0] names ("/usr/sbin/nginx", "nginx: worker process" -> nginx)."""
    return argv0.split(" ")[0].rpartition("/")[2].rstrip(":")


def _stem(name: str) -> str:
    return _VERSION.sub("", name) or name


def parse_status_uid(text: str) -> int | None:
    """The effective user id from /proc/PID/status ("Uid: real effective saved fs")."""
    for line in text.splitlines():
        if line.startswith("Uid:"):
            fields = line.split()
            if len(fields) >= 3 and fields[2].isascii() and fields[2].isdigit():
                return int(fields[2])
            return None
    return None


def parse_passwd(text: str) -> dict[str, int]:
    """User name -> uid from /etc/passwd."""
    users: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isascii() and fields[2].isdigit():
            users.setdefault(fields[0], int(fields[2]))
    return users


def resolve_user(host: Host, user: str) -> int:
    """A configured user (name or numeric id) as a uid; an unknown name is the check's UNKNOWN."""
    if user.isascii() and user.isdigit():
        return int(user)
    try:
        passwd = host.read_optional("/etc/passwd") or ""
    except HostError:
        passwd = ""
    users = parse_passwd(passwd)
    if user not in users:
        raise HostError(f"[checks.processes] user {user!r} is not in /etc/passwd")
    return users[user]


def _trusted(status: os.stat_result | None) -> bool | None:
    if status is None:
        return None
    return status.st_uid == 0 and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _in_process_root(host: Host, pid: int, path: str) -> str:
    """Where a path the process sees is found: through /proc/PID/root on this machine (the
    process may live in another mount namespace, a container); under the root of a capture."""
    return f"/proc/{pid}/root{path}" if host.is_live else path


def _script(argv: Sequence[str]) -> str | None:
    """The script file an interpreter runs, by its full path: the first absolute path among its
    arguments, unless code comes first (-c, -e, -r) or a module (-m): then it runs no file."""
    for arg in argv[1:]:
        if arg in ("-c", "-m", "-e", "-E", "-r"):
            return None
        if arg.startswith("/"):
            return arg
    return None


def _exe_status(host: Host, pid: int, exe: str) -> os.stat_result | None:
    # On this machine /proc/PID/exe reaches the running file itself (even when replaced since).
    return host.stat_reachable(f"/proc/{pid}/exe") if host.is_live else host.stat_reachable(exe)


def _argv0_names_exe(
    host: Host, pid: int, argv0: str, exe: str, exe_status: os.stat_result | None
) -> bool | None:
    """argv[0] names the executable: the same file (a symlink such as mysqld -> mariadbd), or
    the same program name (python3 and python3.11, "nginx: worker process" and nginx)."""
    if argv0.startswith("/") and exe_status is not None:
        named = host.stat_reachable(_in_process_root(host, pid, argv0.split(" ")[0]))
        if named is not None and (named.st_dev, named.st_ino) == (
            exe_status.st_dev,
            exe_status.st_ino,
        ):
            return True
    name, exe_name = program_name(argv0), exe.rpartition("/")[2]
    return bool(name) and _stem(name) == _stem(exe_name)


def read_identity(host: Host, pid: int, argv: Sequence[str]) -> Identity:
    """The process's executable (where readable), its script and its user."""
    uid = None
    with contextlib.suppress(HostError):  # gone meanwhile, or hidden: the user is then unknown
        uid = parse_status_uid(host.read_optional(f"/proc/{pid}/status") or "")
    link = host.readlink(f"/proc/{pid}/exe")
    if link is None:
        return Identity(None, None, None, None, None, uid)
    exe = link.removesuffix(DELETED)
    exe_status = _exe_status(host, pid, exe)
    script = _script(argv) if _INTERPRETER.fullmatch(exe.rpartition("/")[2]) else None
    script_status = host.stat_reachable(_in_process_root(host, pid, script)) if script else None
    return Identity(
        exe=exe,
        exe_trusted=_trusted(exe_status),
        argv0_names_exe=_argv0_names_exe(host, pid, argv[0], exe, exe_status) if argv else None,
        script=script,
        script_trusted=_trusted(script_status) if script else None,
        uid=uid,
    )


def _by_path(identity: Identity, exe_patterns: Sequence[str]) -> Verdict:
    assert identity.exe is not None
    if any(fnmatch.fnmatchcase(identity.exe, p) for p in exe_patterns):
        return Verdict(True)
    return Verdict(False, f"runs {identity.exe}, not {' or '.join(exe_patterns)}")


def _program(identity: Identity) -> str:
    """The program the process runs: the script for an interpreter, else the executable."""
    return (identity.script or identity.exe or "").rpartition("/")[2]


def _by_ownership(identity: Identity, names: Sequence[str] | None) -> Verdict:
    """The default: an executable the administrator installed, run under its own name, and
    for a daemon matched by its name, that program is the one named."""
    exe = identity.exe
    if identity.exe_trusted is False:
        return Verdict(False, f"runs {exe}, a file root did not install (others may write it)")
    if identity.argv0_names_exe is False:
        return Verdict(False, f"runs {exe} under a borrowed name")
    if identity.script is not None and identity.script_trusted is False:
        return Verdict(False, f"{exe} runs {identity.script}, a script root did not install")
    interpreted = _INTERPRETER.fullmatch((exe or "").rpartition("/")[2]) is not None
    if names is not None:
        program = _program(identity)
        if interpreted and identity.script is None:
            return Verdict(False, f"{exe} runs no script given by its full path: {NO_SCRIPT}")
        if program not in names and _stem(program) not in {_stem(n) for n in names}:
            return Verdict(False, f"runs {identity.script or exe}, not {' or '.join(names)}")
    if identity.exe_trusted is None:
        return Verdict(True, f"{exe} could not be looked at: counted by its name")
    if interpreted and identity.script is None:
        return Verdict(
            True, f"{exe} runs no script given by its full path: counted by its command line"
        )
    return Verdict(True)


def verify(
    identity: Identity,
    exe_patterns: Sequence[str],
    want_uid: int | None,
    names: Sequence[str] | None = None,
) -> Verdict:
    """Is this process, found by its name (``names``) or its command line, the daemon it
    claims to be? Checked: the user where one is wanted, then the executable."""
    if want_uid is not None and identity.uid is not None and identity.uid != want_uid:
        return Verdict(False, f"runs as uid {identity.uid}, not {want_uid}")
    if identity.exe is None:
        unchecked = "/proc/PID/exe cannot be read (root alone may read another user's)"
        if want_uid is not None and identity.uid is not None:
            return Verdict(True, f"{unchecked}: counted by name and user")
        return Verdict(True, f"{unchecked}: counted by name")
    by_path = bool(exe_patterns)
    verdict = _by_path(identity, exe_patterns) if by_path else _by_ownership(identity, names)
    if verdict.counted and want_uid is not None and identity.uid is None:
        return Verdict(True, "its user cannot be read")
    return verdict
