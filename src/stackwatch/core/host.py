"""The one door to the machine: files under a root, commands with timeouts, network namespaces.

Every check reads through a ``Host``. ``Host(root="/")`` is this machine; ``Host(root=fixture)``
reads a captured tree of /proc and /sys instead (the node_exporter way), so every check can be
tested and replayed on data from another machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DEFAULT_COMMAND_TIMEOUT = 10.0
CLONE_NEWNET = 0x40000000


class HostError(Exception):
    """A failure to read a fact from the machine."""


class CommandNotFound(HostError):
    def __init__(self, program: str) -> None:
        super().__init__(f"{program}: command not found")
        self.program = program


class CommandTimeout(HostError):
    def __init__(self, argv: Sequence[str], timeout: float) -> None:
        super().__init__(f"{argv[0]} did not finish within {timeout:g} s")
        self.argv = list(argv)
        self.timeout = timeout


class CommandFailed(HostError):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        tail = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
        super().__init__(f"{argv[0]} exited with status {returncode}: {tail}")
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


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
        self.root = Path(root)
        self.timeout = timeout
        self._path_env = path_env

    @property
    def is_live(self) -> bool:
        """True when this Host is the running machine, not a captured tree."""
        return self.root.resolve() == Path("/")

    def path(self, path: str | os.PathLike[str]) -> Path:
        """The real location of an absolute machine path such as /proc/net/snmp."""
        text = os.fspath(path)
        if not text.startswith("/"):
            raise ValueError(f"host paths are absolute, got {text!r}")
        return self.root / text.lstrip("/")

    def exists(self, path: str) -> bool:
        return self.path(path).exists()

    def is_dir(self, path: str) -> bool:
        return self.path(path).is_dir()

    def read_bytes(self, path: str) -> bytes:
        try:
            return self.path(path).read_bytes()
        except OSError as exc:
            raise HostError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def read_tail(self, path: str, max_bytes: int) -> bytes:
        """The last ``max_bytes`` of a file (all of it when smaller): the recent end of a log,
        read without reading the rest."""
        try:
            with self.path(path).open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                handle.seek(max(0, size - max_bytes))
                return handle.read(max_bytes)
        except OSError as exc:
            raise HostError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", errors="replace")

    def read_optional(self, path: str) -> str | None:
        """The file's text, or None where it does not exist (a feature this kernel lacks)."""
        try:
            return self.path(path).read_bytes().decode("utf-8", errors="replace")
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

    def listdir(self, path: str) -> list[str]:
        """Sorted entry names; empty where the directory does not exist."""
        try:
            return sorted(os.listdir(self.path(path)))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise HostError(f"cannot list {path}: {exc.strerror or exc}") from exc

    def readlink(self, path: str) -> str | None:
        try:
            return os.readlink(self.path(path))
        except OSError:
            return None

    def is_link(self, path: str) -> bool:
        return self.path(path).is_symlink()

    def realpath(self, path: str) -> str:
        """The machine path with every symbolic link resolved (links under a captured root
        resolve inside it only where they are relative)."""
        real = os.path.realpath(self.path(path))
        root = os.path.realpath(self.root)
        if root == "/":
            return real
        if real == root:
            return "/"
        return "/" + os.path.relpath(real, root) if real.startswith(root + "/") else real

    def which(self, program: str) -> str | None:
        return shutil.which(program, path=self._path_env or os.environ.get("PATH"))

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        check: bool = True,
        input_text: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run a program (never through a shell). Raises CommandNotFound, CommandTimeout and,
        with ``check``, CommandFailed on a non-zero exit."""
        if not argv:
            raise ValueError("empty command")
        program = self.which(argv[0]) if "/" not in argv[0] else argv[0]
        if program is None:
            raise CommandNotFound(argv[0])
        limit = self.timeout if timeout is None else timeout
        run_env = None
        if env is not None or self._path_env is not None:
            run_env = dict(os.environ)
            if self._path_env is not None:
                run_env["PATH"] = self._path_env
            run_env.update(env or {})
        try:
            completed = subprocess.run(
                [program, *argv[1:]],
                input=input_text,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=limit,
                env=run_env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CommandTimeout(argv, limit) from None
        except FileNotFoundError:
            raise CommandNotFound(argv[0]) from None
        except PermissionError as exc:
            raise HostError(f"cannot run {argv[0]}: {exc.strerror}") from exc
        result = CommandResult(
            tuple(argv), completed.returncode, completed.stdout, completed.stderr
        )
        if check and completed.returncode != 0:
            raise CommandFailed(argv, completed.returncode, completed.stderr)
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
            return read(Host(self.path(f"/run/netns/{name}"), self.timeout, self._path_env))
        return _call_in_netns(str(self.path(f"/run/netns/{name}")), read, self)


def _call_in_netns(ns_path: str, read: Callable[[Host], T], host: Host) -> T:
    import ctypes

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
