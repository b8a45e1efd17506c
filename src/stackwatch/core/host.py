"""The one door to the machine: files under a root, commands with timeouts, network namespaces.

Every check reads through a ``Host``. ``Host(root="/")`` is this machine; ``Host(root=fixture)``
reads a captured tree of /proc and /sys instead (the node_exporter way), so every check can be
tested and replayed on data from another machine.

Every program stackwatch starts is started here, under one rule: no shell; an argv that carries no
password (``audit_argv``: passwords go in option files, command lines are visible to every user);
a deadline, at which the program gets SIGTERM, then SIGKILL after ``STOP_GRACE`` seconds, and is
reaped; failures as ``HostError`` subclasses (CommandNotFound, CommandTimeout, CommandFailed).
``run`` is for short commands, ``spawn`` for long-running ones whose output is streamed
(``drain_to_file``) or whose input is fed (``feed``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType

from stackwatch.core.record import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a Nagios call more than a check: for the type checker only
    import subprocess
    from concurrent.futures import ProcessPoolExecutor
    from pathlib import Path
    from typing import IO, Any, BinaryIO, Protocol, TypeVar

    T = TypeVar("T")

# subprocess, shutil, tempfile, hashlib, glob and threading are imported by the functions that
# use them: one Nagios check that only reads /proc must not pay for them at every start.

DEFAULT_COMMAND_TIMEOUT = 10.0
CLONE_NEWNET = 0x40000000


class HostError(Exception):
    """A failure to read a fact from the machine."""


_AT_FDCWD = -100  # renameat2's "relative to the current directory"
_RENAME_EXCHANGE = 2


class LockHeld(HostError):
    """Another process holds the lock."""

    def __init__(self, path: str, holder: str) -> None:
        super().__init__(f"{path} is held by pid {holder}")
        self.path = path
        self.holder = holder


class CommandNotFound(HostError):
    def __init__(self, program: str) -> None:
        super().__init__(f"{program}: command not found")
        self.program = program


class CommandTimeout(HostError):
    def __init__(self, argv: Sequence[str], timeout: float, what: str | None = None) -> None:
        super().__init__(f"{what or argv[0]} did not finish within {timeout:g} s")
        self.argv = list(argv)
        self.timeout = timeout


class CommandFailed(HostError):
    def __init__(
        self, argv: Sequence[str], returncode: int, stderr: str, what: str | None = None
    ) -> None:
        tail = stderr.strip().splitlines()[-1].strip() if stderr.strip() else "no message"
        super().__init__(f"{what or argv[0]} exited with status {returncode}: {tail}")
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


class SecretOnCommandLine(HostError):
    """An argv that would show a password to every user of the machine (``ps``)."""

    def __init__(self, program: str, index: int) -> None:
        super().__init__(
            f"refusing to run {program}: argument {index} carries a password, and command lines "
            "are visible to every user; put it in an option file (e.g. --defaults-extra-file)"
        )
        self.program = program
        self.index = index


class NamespaceAccessDenied(HostError):
    """Entering a network namespace needs CAP_SYS_ADMIN (run as root)."""


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class Host:
    """Files resolved under ``root``, commands run without a shell and with a timeout."""

    def __init__(
        self,
        root: str | os.PathLike[str] = "/",
        timeout: float = DEFAULT_COMMAND_TIMEOUT,
        path_env: str | None = None,
    ) -> None:
        self.root = os.fspath(root)
        self.timeout = timeout
        self._path_env = path_env

    @property
    def is_live(self) -> bool:
        """True when this Host is the running machine, not a captured tree."""
        return os.path.realpath(self.root) == "/"

    def real(self, path: str | os.PathLike[str]) -> str:
        """The real location of an absolute machine path such as /proc/net/snmp, as text (the
        reads on the path of one check use os directly: pathlib costs an import per call)."""
        text = os.fspath(path)
        if not text.startswith("/"):
            raise ValueError(f"host paths are absolute, got {text!r}")
        return os.path.join(self.root, text.lstrip("/"))

    def path(self, path: str | os.PathLike[str]) -> Path:
        """The real location of an absolute machine path, as a Path."""
        from pathlib import Path

        return Path(self.real(path))

    def exists(self, path: str) -> bool:
        return os.path.exists(self.real(path))

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(self.real(path))

    def read_bytes(self, path: str) -> bytes:
        try:
            with open(self.real(path), "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise HostError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def read_tail(self, path: str, max_bytes: int) -> bytes:
        """The last ``max_bytes`` of a file (all of it when smaller): the recent end of a log,
        read without reading the rest."""
        try:
            with open(self.real(path), "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                handle.seek(max(0, size - max_bytes))
                return handle.read(max_bytes)
        except OSError as exc:
            raise HostError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def read_small(self, path: str | os.PathLike[str], limit: int) -> bytes | None:
        """A small file (state, configuration) read whole, or None where it does not exist.
        Refused (HostError) when it is larger than ``limit`` bytes or not a regular file (a
        character device such as /dev/null is read like one): a FIFO or /dev/zero put in its
        place must not hang or fill the memory of the run."""
        import stat as stat_module

        try:
            # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
            fd = os.open(self.real(path), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as handle:
                mode = os.fstat(fd).st_mode  # a file, or a device such as /dev/null
                if not (stat_module.S_ISREG(mode) or stat_module.S_ISCHR(mode)):
                    raise HostError(f"{os.fspath(path)} is not a regular file")
                data = handle.read(limit + 1)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise HostError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc
        if len(data) > limit:
            raise HostError(f"{os.fspath(path)} is larger than {limit} bytes")
        return data

    @contextlib.contextmanager
    def exclusive_lock(self, path: str | os.PathLike[str]) -> Iterator[None]:
        """Hold an flock on ``path`` (created 0600, parents too) while the block runs; the
        kernel releases it when the process ends, so a killed run leaves no stale lock. Raises
        LockHeld, naming the holder's pid written in the file, where another process holds it."""
        import fcntl

        real = self.real(path)
        try:
            os.makedirs(os.path.dirname(real), exist_ok=True)
            fd = os.open(real, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise HostError(f"cannot open lock {os.fspath(path)}: {exc.strerror or exc}") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise LockHeld(os.fspath(path), holder) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)

    def lock_holder(self, path: str | os.PathLike[str]) -> str | None:
        """Whether another process holds the ``exclusive_lock`` on ``path``: the pid written in
        it (as text) where one does, None where nobody does (or there is no such file). The lock
        is only tried, never kept, and the file is left as it is."""
        import fcntl

        try:
            fd = os.open(self.real(path), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise HostError(f"cannot open lock {os.fspath(path)}: {exc.strerror or exc}") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            return None
        finally:
            os.close(fd)  # releases the lock where it was taken

    def read_in_root(self, root: str, relative: str, limit: int) -> bytes | None:
        """A small regular file of a container, ``relative`` to the container's ``root`` (a
        machine path), resolved as the container would resolve it and never outside it: symbolic
        links (absolute ones too) and ``..`` stay inside ``root`` (openat2 RESOLVE_IN_ROOT; where
        the kernel lacks it, a walk that refuses every symbolic link). None where it does not
        exist; HostError where it is not a regular file (a device or FIFO is never opened for
        reading), is larger than ``limit`` bytes, or cannot be read."""
        try:
            root_fd = os.open(self.real(root), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise HostError(f"{root}: no such container root") from None
        except OSError as exc:
            raise HostError(f"cannot open {root}: {exc.strerror or exc}") from exc
        try:
            return _read_regular_in_root(root_fd, relative, limit)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise HostError(f"cannot read {relative}: {exc.strerror or exc}") from exc
        finally:
            os.close(root_fd)

    def is_writable_dir(self, path: str | os.PathLike[str]) -> bool:
        """True where ``path`` is (or could be made, parents included) a directory this user may
        write in."""
        where = self.real(path)
        try:
            os.makedirs(where, mode=0o700, exist_ok=True)
        except OSError:
            return False
        return os.access(where, os.W_OK | os.X_OK)

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", errors="replace")

    def read_optional(self, path: str) -> str | None:
        """The file's text, or None where it does not exist (a feature this kernel lacks)."""
        try:
            with open(self.real(path), "rb") as handle:
                return handle.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise HostError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def read_int(self, path: str) -> int:
        text = self.read_text(path).strip()
        try:
            return int(text)
        except ValueError:
            raise HostError(f"{path}: expected an integer, found {text[:40]!r}") from None

    # Files: streaming reads, stat, glob, atomic writes -------------------------------------------
    # (issue 9: every file access goes through the Host; the process methods live apart)

    def open_binary(self, path: str | os.PathLike[str]) -> BinaryIO:
        """An open binary handle for streaming reads (the caller closes it). A handle kept open
        follows the file across a rename, as ``tail -F`` and a log follower need."""
        try:
            handle: BinaryIO = open(self.real(path), "rb")  # noqa: SIM115 (the caller closes it)
        except OSError as exc:
            raise HostError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc
        return handle

    def stat(self, path: str) -> os.stat_result:
        """The file's status (following symbolic links)."""
        try:
            return os.stat(self.real(path))
        except OSError as exc:
            raise HostError(f"cannot stat {path}: {exc.strerror or exc}") from exc

    def stat_optional(self, path: str) -> os.stat_result | None:
        """The file's status, or None where it does not exist (a log rotated away)."""
        try:
            return os.stat(self.real(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise HostError(f"cannot stat {path}: {exc.strerror or exc}") from exc

    def read_bytes_optional(self, path: str) -> bytes | None:
        """The file's bytes, or None where it does not exist."""
        try:
            with open(self.real(path), "rb") as handle:
                return handle.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise HostError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def glob(self, pattern: str) -> list[str]:
        """The machine paths an absolute glob pattern matches, sorted; a pattern without
        wildcards gives itself where it exists. A --root tree is looked into, not named."""
        import glob

        if not pattern.startswith("/"):
            raise ValueError(f"host paths are absolute, got {pattern!r}")
        found = glob.glob(pattern.lstrip("/"), root_dir=self.root)
        return sorted("/" + name for name in found)

    # ---------------------------------------------------------------------------------------------

    def listdir(self, path: str) -> list[str]:
        """Sorted entry names; empty where the directory does not exist."""
        try:
            return sorted(os.listdir(self.real(path)))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise HostError(f"cannot list {path}: {exc.strerror or exc}") from exc

    def readlink(self, path: str) -> str | None:
        try:
            return os.readlink(self.real(path))
        except OSError:
            return None

    def stat_reachable(self, path: str) -> os.stat_result | None:
        """The file's status (symlinks followed), or None where it cannot be reached: absent, or
        not ours to look at (another user's /proc/PID/exe)."""
        try:
            return os.stat(self.real(path))
        except (OSError, ValueError):
            return None

    def is_link(self, path: str) -> bool:
        return os.path.islink(self.real(path))

    def realpath(self, path: str) -> str:
        """The machine path with every symbolic link resolved (links under a captured root
        resolve inside it only where they are relative)."""
        real = os.path.realpath(self.real(path))
        root = os.path.realpath(self.root)
        if root == "/":
            return real
        if real == root:
            return "/"
        return "/" + os.path.relpath(real, root) if real.startswith(root + "/") else real

    def processes_with_argument(self, argument: str) -> list[int]:
        """The ids of the processes whose command line holds ``argument`` as one whole argument
        (a server started with ``--datadir=X``): found also where a start was interrupted before
        its caller learnt the pid, or where a script started it. Ended ones (zombies) have no
        command line and are not listed."""
        wanted = os.fsencode(argument)
        found = []
        for name in self.listdir("/proc"):
            if not (name.isascii() and name.isdigit()):
                continue
            with contextlib.suppress(HostError):
                argv = self.read_bytes_optional(f"/proc/{name}/cmdline") or b""
                if wanted in argv.split(b"\0"):
                    found.append(int(name))
        return found

    def which(self, program: str) -> str | None:
        import shutil

        return shutil.which(program, path=self._path_env or os.environ.get("PATH"))

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        check: bool = True,
        input_text: str | None = None,
        env: Mapping[str, str] | None = None,
        what: str | None = None,
    ) -> CommandResult:
        """Run a program (never through a shell) and wait for it. Raises SecretOnCommandLine,
        CommandNotFound, CommandTimeout (the program stopped: SIGTERM, SIGKILL after STOP_GRACE)
        and, with ``check``, CommandFailed on a non-zero exit. ``what`` names the command in those
        messages (default: the program)."""
        import subprocess

        limit = self.timeout if timeout is None else timeout
        stdin = None if input_text is None else subprocess.PIPE
        with self._popen(argv, stdin, subprocess.PIPE, subprocess.PIPE, env, text=True) as popen:
            try:
                stdout, stderr = popen.communicate(input_text, timeout=limit)
            except subprocess.TimeoutExpired:
                _end_popen(popen, STOP_GRACE)
                raise CommandTimeout(argv, limit, what) from None
            except BaseException:
                # Ctrl-C or SIGTERM (raised as KeyboardInterrupt) while it runs: the standard
                # Popen would leave it running on its own; it ends with us instead.
                _end_popen(popen, STOP_GRACE)
                raise
        result = CommandResult(tuple(argv), popen.returncode, stdout, stderr)
        if check and popen.returncode != 0:
            raise CommandFailed(argv, popen.returncode, stderr, what)
        return result

    # Network namespaces -------------------------------------------------------------------------

    def netns_names(self) -> list[str]:
        """Named network namespaces (``ip netns``): the entries of /run/netns."""
        return [n for n in self.listdir("/run/netns") if not n.startswith(".")]

    def in_netns(self, name: str, read: Callable[[Host], T]) -> T:
        """Call ``read`` with a Host that sees the named network namespace.

        On a captured tree, /run/netns/NAME is a directory holding that namespace's own tree. On the
        live machine the call runs in a short-lived thread that has joined the namespace (a network
        namespace belongs to a thread, not the process), so nothing else is affected.
        """
        if "/" in name or name in (".", ".."):
            raise HostError(f"invalid namespace name {name!r}")
        if not self.is_live:
            return read(Host(self.real(f"/run/netns/{name}"), self.timeout, self._path_env))
        return _call_in_netns(self.real(f"/run/netns/{name}"), read, self)

    # Processes and the files of long-running jobs ==============================================
    # (issue 9: every process start goes through Host; the rule is in the module docstring)

    def spawn(
        self,
        argv: Sequence[str],
        *,
        stdin: bool = False,
        stdout: bool = True,
        env: Mapping[str, str] | None = None,
        what: str | None = None,
        stdin_from: Process | None = None,
    ) -> Process:
        """Start a program and return at once: its output on a pipe (or /dev/null), its input
        on a pipe (or /dev/null, or ``stdin_from``'s output: a pipeline, the bytes never pass
        through this process), its stderr kept in a temporary file. The caller stops it
        (``with process:`` or ``process.stop()``); ``drain_to_file`` does."""
        import subprocess
        import tempfile

        source: int | IO[bytes] | None = subprocess.PIPE if stdin else subprocess.DEVNULL
        if stdin_from is not None:
            source = stdin_from.stdout
        errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by Process.stop)
        try:
            popen = self._popen(
                argv, source, subprocess.PIPE if stdout else subprocess.DEVNULL, errors, env
            )
        except BaseException:
            errors.close()
            raise
        if stdin_from is not None:  # the reader's end is the new program's alone now: when it
            stdin_from.close_output()  # ends, the writer gets EPIPE instead of blocking
        return Process(argv, popen, errors, what or argv[0])

    def worker_pool(
        self,
        workers: int,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> ProcessPoolExecutor:
        """Forked worker processes for CPU-bound work on what this process already read (parts
        of a log): they inherit its compiled patterns and data, run no other program, and end
        with the pool (use it in a ``with``). The one place besides ``fork_call`` where
        stackwatch forks itself."""
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        return ProcessPoolExecutor(workers, get_context("fork"), initializer, initargs)

    def fork_call(self, function: Callable[..., Any], *args: Any) -> ForkedCall:
        """``function(*args)`` computed in a forked child, started now, its result (or the
        exception it raised) sent back on a pipe: for work handed out as the children are made,
        where a pool's queue would start them late (its feeder thread waits for this process's
        interpreter lock, which a regular expression over a block holds)."""
        from multiprocessing import get_context

        context = get_context("fork")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_send_result, args=(function, args, send), daemon=True)
        child.start()
        send.close()
        return ForkedCall(child, receive)

    def start_detached(self, argv: Sequence[str], output: str | os.PathLike[str]) -> int:
        """Start a program that outlives this one and the session it runs in, and return its
        pid at once: the classic double fork. A child makes a new session (setsid: no
        controlling terminal, so the SIGHUP of a closing SSH session never reaches it) and
        starts the program, which is not a session leader (it can never acquire a terminal),
        then exits; the program is left to init. Its input is /dev/null, its output and errors
        are appended to ``output`` (created 0600), its working directory is /."""
        import subprocess

        audit_argv(argv)
        program = self.which(argv[0]) if "/" not in argv[0] else argv[0]
        if program is None:
            raise CommandNotFound(argv[0])
        try:
            log = os.open(
                self.real(output), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600
            )
        except OSError as exc:
            raise HostError(f"cannot open {os.fspath(output)}: {exc.strerror or exc}") from exc
        read_end, write_end = os.pipe()
        try:
            child = os.fork()
            if child == 0:  # the intermediate child: never returns into the caller's code
                _start_in_new_session([program, *argv[1:]], log, write_end, subprocess)
        except OSError as exc:
            os.close(read_end)
            raise HostError(f"cannot start {argv[0]}: {exc.strerror or exc}") from exc
        finally:
            os.close(write_end)
            os.close(log)
        os.waitpid(child, 0)
        with os.fdopen(read_end, "rb") as reply:
            told = reply.read(64).decode(errors="replace")
        if not (told.isascii() and told.isdigit()):
            raise HostError(f"cannot start {argv[0]}: {told or 'no reason given'}")
        return int(told)

    def drain_to_file(
        self,
        process: Process,
        path: str | os.PathLike[str],
        *,
        timeout: float,
        encoder: Encoder | None = None,
        accept: Callable[[Drained], None] | None = None,
        mode: int = 0o600,
    ) -> Drained:
        """Write what ``process`` prints into ``path``, through ``encoder`` (a compressor) when
        given: under a temporary name beside it, mode ``mode``, fsynced, renamed into place (the
        directory fsynced) once the program exited 0 within ``timeout`` and ``accept`` raised
        nothing for the result. Raises CommandTimeout, CommandFailed, HostError (writing) or what
        ``accept`` raises, leaving nothing behind. The program is stopped whatever happens."""
        if process.stdout is None:
            raise ValueError(f"{process.what}: started without an output pipe")
        target = self.path(path)
        with process, _Deadline(process, timeout) as deadline, _PartialFile(target, mode) as out:
            drained = _copy_stream(process.stdout, out, encoder or _Unchanged())
            returncode = process.wait(None)
            deadline.check(process)
            process.check(returncode)
            if accept is not None:
                accept(drained)
            out.commit()
        return drained

    def feed(
        self,
        argv: Sequence[str],
        chunks: Iterable[bytes],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        what: str | None = None,
        then: Sequence[str] | None = None,
    ) -> None:
        """Run a program with ``chunks`` on its input (its output discarded, or with ``then``
        the input of that second program: ``argv | then``) and wait for it. A program that ends
        early ends the feeding (broken pipe): its exit status says why (the first program's
        first). Raises like ``run``; an exception raised by ``chunks`` (a corrupt source) stops
        the programs and goes through."""
        with contextlib.ExitStack() as stack:
            first = self.spawn(argv, stdin=True, stdout=then is not None, env=env, what=what)
            processes = [stack.enter_context(first)]
            if then is not None:
                after = self.spawn(then, stdout=False, env=env, what=what, stdin_from=first)
                processes.append(stack.enter_context(after))
            deadlines = [stack.enter_context(_Deadline(p, timeout)) for p in processes]
            _write_all(first, chunks)
            codes = []
            for process, deadline in zip(processes, deadlines, strict=True):
                codes.append(process.wait(None))
                deadline.check(process)
            for process, returncode in _why_first(processes, codes):
                process.check(returncode)

    def size_of(self, path: str | os.PathLike[str]) -> int:
        """A file's size in bytes."""
        try:
            return self.path(path).stat().st_size
        except OSError as exc:
            raise HostError(f"cannot stat {os.fspath(path)}: {exc.strerror or exc}") from exc

    def is_mount(self, path: str | os.PathLike[str]) -> bool:
        return os.path.ismount(self.path(path))

    def make_dir(
        self, path: str | os.PathLike[str], mode: int = 0o700, *, parents: bool = False
    ) -> None:
        """Create a directory; with ``parents``, its parents too and an existing one is fine."""
        try:
            if parents:
                os.makedirs(self.real(path), mode=mode, exist_ok=True)
            else:
                os.mkdir(self.real(path), mode)
        except OSError as exc:
            raise HostError(f"cannot create {os.fspath(path)}: {exc.strerror or exc}") from exc

    def copy_file(
        self, source: str | os.PathLike[str], target: str | os.PathLike[str], mode: int = 0o600
    ) -> None:
        """Copy under a temporary name beside ``target``, fsync, rename, fsync the directory:
        ``target`` is the whole copy or absent."""
        with self.open_binary(source) as reader, _PartialFile(self.path(target), mode) as out:
            try:
                while block := reader.read(DRAIN_CHUNK):
                    out.write(block)
            except OSError as exc:
                raise HostError(f"cannot read {os.fspath(source)}: {exc.strerror}") from exc
            out.commit()

    def write_blocks(
        self, target: str | os.PathLike[str], blocks: Iterable[bytes], mode: int = 0o600
    ) -> int:
        """Write ``blocks`` (a stream read from elsewhere: an archive's member) under a temporary
        name beside ``target``, fsync, rename: ``target`` is the whole stream or absent. An
        exception raised by ``blocks`` (a limit reached) goes through, leaving nothing behind.
        Returns the bytes written."""
        written = 0
        with _PartialFile(self.path(target), mode) as out:
            for block in blocks:
                out.write(block)
                written += len(block)
            out.commit()
        return written

    def free_bytes(self, path: str | os.PathLike[str]) -> int:
        """Bytes an unprivileged writer may still use on the file system holding ``path``."""
        try:
            usage = os.statvfs(self.real(path))
        except OSError as exc:
            raise HostError(f"cannot stat {os.fspath(path)}: {exc.strerror or exc}") from exc
        return usage.f_bavail * usage.f_frsize

    def write_atomic(
        self, path: str | os.PathLike[str], data: bytes | str, mode: int = 0o644
    ) -> None:
        """Replace a file in one step (write_atomic below): the old one or the new, never a part."""
        try:
            write_atomic(self.real(path), data, mode)
        except OSError as exc:
            raise HostError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from exc

    def rename(self, source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        """Rename in one step (replacing ``target``) and make it durable (fsync the directory)."""
        try:
            os.replace(self.path(source), self.path(target))
        except OSError as exc:
            raise HostError(f"cannot rename {os.fspath(source)}: {exc.strerror or exc}") from exc
        fsync_directory(self.path(target).parent)

    def remove_tree(self, path: str | os.PathLike[str]) -> None:
        """Remove a directory and everything in it (nothing where it is absent), durably."""
        import shutil

        where = self.path(path)
        try:
            shutil.rmtree(where)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise HostError(f"cannot delete {os.fspath(path)}: {exc.strerror or exc}") from exc
        fsync_directory(where.parent)

    def symlink(self, target: str, link: str | os.PathLike[str]) -> None:
        """Make ``link`` a symbolic link to ``target`` (a text, not resolved here)."""
        try:
            os.symlink(target, self.real(link))
        except OSError as exc:
            raise HostError(f"cannot link {os.fspath(link)}: {exc.strerror or exc}") from exc

    def exchange(self, first: str | os.PathLike[str], second: str | os.PathLike[str]) -> None:
        """Swap two existing paths in one step (Linux renameat2 RENAME_EXCHANGE: both names
        exist at every instant), durably."""
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        one, two = os.fsencode(self.real(first)), os.fsencode(self.real(second))
        if libc.renameat2(_AT_FDCWD, one, _AT_FDCWD, two, _RENAME_EXCHANGE) != 0:
            reason = os.strerror(ctypes.get_errno())
            raise HostError(f"cannot exchange {os.fspath(first)} and {os.fspath(second)}: {reason}")
        fsync_directory(self.path(second).parent)

    def set_mode(self, path: str | os.PathLike[str], mode: int) -> None:
        """chmod: for modes that creation under the umask cannot give (a sticky 1777)."""
        try:
            os.chmod(self.real(path), mode)
        except OSError as exc:
            raise HostError(f"cannot chmod {os.fspath(path)}: {exc.strerror or exc}") from exc

    def make_temp_dir(self, prefix: str, within: str | os.PathLike[str] | None = None) -> str:
        """A new private (0700) directory with a unique name, in ``within`` or the system's
        temporary directory; the caller removes it (``remove_tree``)."""
        import tempfile

        where = None if within is None else self.real(within)
        try:
            return tempfile.mkdtemp(prefix=prefix, dir=where)
        except OSError as exc:
            raise HostError(f"cannot create a directory in {where}: {exc.strerror or exc}") from exc

    @contextlib.contextmanager
    def temporary_dir(
        self, prefix: str, within: str | os.PathLike[str] | None = None
    ) -> Iterator[str]:
        """``make_temp_dir`` for the block, removed with everything in it afterwards."""
        where = self.make_temp_dir(prefix, within)
        try:
            yield where
        finally:
            with contextlib.suppress(HostError):
                self.remove_tree(where)

    def remove_file(self, path: str | os.PathLike[str]) -> None:
        """Remove a file (nothing where it is absent)."""
        try:
            self.path(path).unlink(missing_ok=True)
        except OSError as exc:
            raise HostError(f"cannot delete {os.fspath(path)}: {exc.strerror or exc}") from exc

    def _popen(
        self,
        argv: Sequence[str],
        stdin: int | IO[bytes] | None,
        stdout: int | IO[bytes] | None,
        stderr: int | IO[bytes] | None,
        env: Mapping[str, str] | None,
        *,
        text: bool = False,
    ) -> subprocess.Popen[Any]:
        """The one place a program is started: argv audited, program found on PATH."""
        import subprocess

        if not argv:
            raise ValueError("empty command")
        audit_argv(argv)
        program = self.which(argv[0]) if "/" not in argv[0] else argv[0]
        if program is None:
            raise CommandNotFound(argv[0])
        try:
            return subprocess.Popen(
                [program, *argv[1:]],
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                env=self._env(env),
                text=text,
                errors="replace" if text else None,
            )
        except FileNotFoundError:
            raise CommandNotFound(argv[0]) from None
        except PermissionError as exc:
            raise HostError(f"cannot run {argv[0]}: {exc.strerror}") from exc

    def _env(self, env: Mapping[str, str] | None) -> dict[str, str] | None:
        if env is None and self._path_env is None:
            return None
        merged = dict(os.environ)
        if self._path_env is not None:
            merged["PATH"] = self._path_env
        merged.update(env or {})
        return merged

    # End of processes and the files of long-running jobs =======================================


class ForkedCall:
    """A child started by ``Host.fork_call``: ``result()`` waits for its answer, ``stop()``
    ends it (idempotent; call it in a ``finally``)."""

    def __init__(self, child: Any, receive: Any) -> None:
        self._child, self._receive = child, receive

    def result(self) -> Any:
        """The function's value; its exception raised here; HostError if the child died first
        (killed, out of memory) without an answer."""
        try:
            answer, failure = self._receive.recv()
        except EOFError:
            raise HostError("a worker process ended without an answer") from None
        self._child.join()
        if failure is not None:
            raise failure
        return answer

    def stop(self) -> None:
        self._receive.close()
        if self._child.is_alive():
            self._child.terminate()
            self._child.join()


def _send_result(function: Callable[..., Any], args: tuple[Any, ...], send: Any) -> None:
    """In the child of fork_call: compute, send (value, None) or (None, exception)."""
    try:
        answer: tuple[Any, BaseException | None] = (function(*args), None)
    except Exception as exc:  # handed to the parent, which raises it where the work was asked
        answer = (None, exc)
    send.send(answer)
    send.close()


def _start_in_new_session(argv: list[str], log: int, reply: int, subprocess: Any) -> None:
    """The intermediate child of ``Host.start_detached``: a new session, the program started in
    it, its pid (or why it could not start) written on ``reply``; then it exits at once."""
    code = 1
    try:
        os.setsid()
        started = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd="/", close_fds=True
        )
        os.write(reply, str(started.pid).encode())
        code = 0
    except BaseException as exc:  # told to the parent, which raises HostError
        with contextlib.suppress(OSError):
            os.write(reply, str(exc).encode(errors="replace")[:64])
    finally:
        os._exit(code)


def _call_in_netns(ns_path: str, read: Callable[[Host], T], host: Host) -> T:
    import ctypes
    import threading

    outcome: dict[str, object] = {}

    def worker() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    if err == 1:
                        raise NamespaceAccessDenied(
                            "entering network namespaces needs root (CAP_SYS_ADMIN)"
                        )
                    raise HostError(f"cannot enter {ns_path}: {os.strerror(err)}")
            finally:
                os.close(fd)
            outcome["value"] = read(host)
        except PermissionError:
            outcome["error"] = NamespaceAccessDenied(
                "entering network namespaces needs root (CAP_SYS_ADMIN)"
            )
        except Exception as exc:  # handed back to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=worker, name="netns-reader", daemon=True)
    thread.start()
    thread.join(host.timeout)
    if thread.is_alive():
        raise HostError(f"reading namespace {ns_path} took longer than {host.timeout:g} s")
    if "error" in outcome:
        error = outcome["error"]
        assert isinstance(error, Exception)
        raise error
    return outcome["value"]  # type: ignore[return-value]


# Processes: the handle, the deadline, the argv audit (issue 9) ===================================

STOP_GRACE = 2.0  # seconds between SIGTERM and SIGKILL
DRAIN_CHUNK = 1 << 20
WRITEBACK_EVERY = 8 << 20  # bytes written between two starts of their writeback (_PartialFile)
TAIL_BYTES = 512
# --password[=...] and the abbreviations MySQL programs accept (--pass, --passw, ...);
# not --password-file=PATH (rsync), which names a file, as an option file does.
_PASSWORD_OPTION = r"(?i)--pass(?:w(?:o(?:r(?:d)?)?)?)?(?:=|$)"  # compiled (and cached) at use
_SHORT_P_IS_PASSWORD = ("mysql", "mariadb")  # -pSECRET; for ssh, -p is the port


def audit_argv(argv: Sequence[str]) -> None:
    """Refuse an argv that carries a password: any element holding ``password=``; before a
    ``--`` (after it come operands, not options), ``--password`` in any form and, for MySQL
    and MariaDB programs, ``-pSECRET``. Every user can read a command line (/proc/PID/cmdline):
    passwords go in option files."""
    program = os.path.basename(argv[0])
    short_p = program.startswith(_SHORT_P_IS_PASSWORD)
    options = True
    for index, element in enumerate(argv[1:], start=1):
        if element == "--":
            options = False
        if "password=" in element.lower() or (options and _is_password_option(element, short_p)):
            raise SecretOnCommandLine(program, index)


def _is_password_option(element: str, short_p_is_password: bool) -> bool:
    if re.match(_PASSWORD_OPTION, element):
        return True
    return short_p_is_password and element.startswith("-p") and len(element) > 2


if TYPE_CHECKING:  # a Protocol class costs ~1 ms to create: for the type checker only

    class Encoder(Protocol):
        """A streaming transformation of a program's output (zstandard's compressobj, ...)."""

        def compress(self, data: bytes, /) -> bytes: ...

        def flush(self) -> bytes: ...


class _Unchanged:
    def compress(self, data: bytes, /) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


@dataclass(frozen=True)
class Drained:
    """What ``Host.drain_to_file`` wrote."""

    size: int  # bytes written (after the encoder)
    raw_size: int  # bytes the program printed
    sha256: str  # of the bytes written
    tail: bytes  # the last TAIL_BYTES the program printed (where a completion trailer is)


class Process:
    """A program started by ``Host.spawn``. Its stderr goes to a temporary file (a chatty
    program never blocks on it; its last line makes the error message). ``stop``, or leaving a
    ``with`` block, ends it the one way: SIGTERM, SIGKILL after STOP_GRACE, reaped, pipes closed."""

    def __init__(
        self, argv: Sequence[str], popen: subprocess.Popen[bytes], stderr: IO[bytes], what: str
    ) -> None:
        self.argv = tuple(argv)
        self.what = what
        self._popen = popen
        self._stderr = stderr
        self._stderr_seen = 0

    @property
    def stdin(self) -> IO[bytes] | None:
        return self._popen.stdin

    @property
    def stdout(self) -> IO[bytes] | None:
        return self._popen.stdout

    def poll(self) -> int | None:
        """The exit status, or None while it runs."""
        return self._popen.poll()

    def kill(self) -> None:
        """SIGKILL now, from any thread: whoever reads its output sees the end at once. The
        owner still stops it (reaps it, closes its pipes)."""
        with contextlib.suppress(OSError):
            self._popen.kill()

    def end(self, grace: float = STOP_GRACE) -> int:
        """SIGTERM, SIGKILL after ``grace`` seconds, reaped: the exit status. The pipes stay
        open, so a deadline timer may call this while another thread reads them."""
        return _end_popen(self._popen, grace)

    def wait(self, timeout: float | None) -> int:
        """The exit status; at ``timeout`` the program is ended and CommandTimeout raised."""
        import subprocess

        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.end()
            raise CommandTimeout(self.argv, timeout or 0.0, self.what) from None

    def close_input(self) -> None:
        """End of input: the program sees EOF on its stdin."""
        if self._popen.stdin is not None:
            with contextlib.suppress(OSError):
                self._popen.stdin.close()

    def close_output(self) -> None:
        """This process's end of the program's output pipe (handed to another program)."""
        if self._popen.stdout is not None:
            self._popen.stdout.close()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """End it if it still runs, reap it, release its pipes and stderr file (idempotent)."""
        self.end(grace)
        self.close_input()
        self.close_output()
        self._stderr.close()

    def stderr_text(self) -> str:
        """Everything it wrote to stderr so far."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def new_stderr(self) -> str:
        """What it wrote to stderr since the last call (the errors of a long-lived session)."""
        self._stderr.seek(self._stderr_seen)
        data = self._stderr.read()
        self._stderr_seen += len(data)
        return data.decode(errors="replace")

    def check(self, returncode: int) -> None:
        """CommandFailed (with stderr's last line) unless ``returncode`` is 0."""
        if returncode != 0:
            raise CommandFailed(self.argv, returncode, self.stderr_text(), self.what)

    def __enter__(self) -> Process:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _why_first(processes: list[Process], codes: list[int]) -> list[tuple[Process, int]]:
    """A pipeline's programs in the order their exit says why it failed: the first program
    first, unless it died of SIGPIPE because a later one ended (mbstream out of space, zstd
    then killed writing to it): that later one says why."""
    import signal

    pairs = list(zip(processes, codes, strict=True))
    if codes and codes[0] == -signal.SIGPIPE and any(c != 0 for c in codes[1:]):
        return pairs[1:] + pairs[:1]
    return pairs


def _end_popen(popen: subprocess.Popen[Any], grace: float) -> int:
    import subprocess

    if popen.poll() is None:
        with contextlib.suppress(OSError):
            popen.terminate()
        try:
            return popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                popen.kill()
    return popen.wait()


class _Deadline:
    """Ends a process (from a timer thread) when ``seconds`` have passed."""

    def __init__(self, process: Process, seconds: float) -> None:
        import threading

        self.seconds = seconds
        self.expired = threading.Event()
        self._timer = threading.Timer(seconds, self._expire, args=(process,))
        self._timer.daemon = True

    def _expire(self, process: Process) -> None:
        self.expired.set()
        process.end()

    def check(self, process: Process) -> None:
        if self.expired.is_set():
            raise CommandTimeout(process.argv, self.seconds, process.what)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()


class _PartialFile:
    """A file written under a temporary name beside ``target``; ``commit`` fsyncs it, renames it
    into place and fsyncs the directory. Left uncommitted, it is removed."""

    def __init__(self, target: Path, mode: int) -> None:
        from pathlib import Path

        self.target = target
        self._committed = False
        try:
            fd, name = _temporary_beside(os.fspath(target))
        except OSError as exc:
            raise self._error(exc) from None
        self._tmp = Path(name)
        self._out = os.fdopen(fd, "wb", buffering=0)
        self._written = self._flushed = 0
        os.fchmod(fd, mode)

    def _error(self, exc: OSError) -> HostError:
        return HostError(f"writing {self.target}: {exc.strerror or exc}")

    def write(self, block: bytes) -> None:
        view = memoryview(block)
        try:
            while view:
                written = self._out.write(view) or 0
                view = view[written:]
                self._written += written
        except OSError as exc:
            raise self._error(exc) from None
        if self._written - self._flushed >= WRITEBACK_EVERY:
            self._start_writeback()

    def _start_writeback(self) -> None:
        """Start writing the new part to disk now (Linux: POSIX_FADV_DONTNEED starts the
        writeback of dirty pages without waiting for it), so that ``commit``'s fsync waits for
        the last part only instead of the whole file at the end."""
        with contextlib.suppress(OSError, AttributeError):
            os.posix_fadvise(
                self._out.fileno(),
                self._flushed,
                self._written - self._flushed,
                os.POSIX_FADV_DONTNEED,
            )
        self._flushed = self._written

    def commit(self) -> None:
        try:
            os.fsync(self._out.fileno())
            self._out.close()
            os.replace(self._tmp, self.target)
        except OSError as exc:
            raise self._error(exc) from None
        self._committed = True
        fsync_directory(self.target.parent)

    def __enter__(self) -> _PartialFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._out.close()
        if not self._committed:
            with contextlib.suppress(OSError):
                self._tmp.unlink()


def _copy_stream(source: IO[bytes], out: _PartialFile, encoder: Encoder) -> Drained:
    import hashlib

    digest = hashlib.sha256()
    size = raw = 0
    tail = b""

    def put(block: bytes) -> None:
        nonlocal size
        if block:
            out.write(block)
            digest.update(block)
            size += len(block)

    while chunk := source.read(DRAIN_CHUNK):
        raw += len(chunk)
        tail = (tail + chunk[-TAIL_BYTES:])[-TAIL_BYTES:]
        put(encoder.compress(chunk))
    put(encoder.flush())
    return Drained(size, raw, digest.hexdigest(), tail)


def _write_all(process: Process, chunks: Iterable[bytes]) -> None:
    pipe = process.stdin
    if pipe is None:
        raise ValueError(f"{process.what}: started without an input pipe")
    try:
        for chunk in chunks:
            pipe.write(chunk)
        pipe.close()
    except BrokenPipeError:
        pass  # the program ended early: its exit status says why


# End of processes ==============================================================================


# Writing files so that nothing is lost: temporary name, fsync, rename, fsync the directory ====


def write_atomic(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` in one step: a reader sees the old file or the new one,
    never a part; a failure (full disk) leaves the old file in place."""
    target = os.fspath(path)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp_name = _temporary_beside(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    fsync_directory(os.path.dirname(os.path.abspath(target)))


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename in ``directory`` durable."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temporary_beside(target: str) -> tuple[int, str]:
    """A new file (O_EXCL, 0600) in the target's directory, for the rename to be atomic.
    (tempfile would do, at the price of ~3 ms of imports on every Nagios call.)"""
    directory, base = os.path.split(os.path.abspath(target))
    for attempt in range(100):
        name = os.path.join(directory, f".{base}.{os.getpid()}.{attempt}.tmp")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file beside {target}")


# Files inside a container root ===================================================================

_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_SYS_OPENAT2 = 437  # the same number on every architecture (new system calls share one table)
_openat2_missing = False  # set once the kernel (or a seccomp filter) refused openat2


def _openat2_in_root(root_fd: int, relative: str) -> int | None:
    """An O_PATH descriptor of ``relative`` resolved inside ``root_fd``; None where this kernel
    (or a seccomp filter) has no openat2."""
    global _openat2_missing
    if _openat2_missing:
        return None
    import ctypes
    import errno

    syscall, how = _openat2_call()
    fd = int(syscall(_SYS_OPENAT2, root_fd, relative.encode(), ctypes.byref(how), len(bytes(how))))
    if fd >= 0:
        return fd
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EPERM):
        _openat2_missing = True
        return None
    raise OSError(code, os.strerror(code))


_OPENAT2: list[Any] = []


def _openat2_call() -> tuple[Any, Any]:
    """libc's syscall() and the ``struct open_how`` of every in-root open (made once)."""
    if not _OPENAT2:
        import ctypes

        class OpenHow(ctypes.Structure):
            _fields_ = (
                ("flags", ctypes.c_uint64),
                ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64),
            )

        how = OpenHow(os.O_PATH | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
        _OPENAT2.extend([ctypes.CDLL(None, use_errno=True).syscall, how])
    return _OPENAT2[0], _OPENAT2[1]


def _walk_in_root(root_fd: int, relative: str) -> int:
    """An O_PATH descriptor of ``relative`` reached one component at a time without following
    any symbolic link or ``..`` (stricter than RESOLVE_IN_ROOT: a link is refused, not resolved)."""
    import errno

    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise OSError(errno.EPERM, "path leaves the container root")
    fd = os.dup(root_fd)
    try:
        for part in parts:
            following = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = following
            if _is_symlink(fd):
                raise OSError(errno.ELOOP, "symbolic link not followed (no openat2 here)")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_symlink(fd: int) -> bool:
    import stat as stat_module

    return stat_module.S_ISLNK(os.fstat(fd).st_mode)


def _read_regular_in_root(root_fd: int, relative: str, limit: int) -> bytes:
    import stat as stat_module

    path_fd = _openat2_in_root(root_fd, relative)
    if path_fd is None:
        path_fd = _walk_in_root(root_fd, relative)
    try:
        if not stat_module.S_ISREG(os.fstat(path_fd).st_mode):
            raise HostError(f"{relative} is not a regular file")
        # Reopen the very inode checked above (its O_PATH descriptor), for reading.
        fd = os.open(f"/proc/self/fd/{path_fd}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    finally:
        os.close(path_fd)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise HostError(f"{relative} is larger than {limit} bytes")
    return data
