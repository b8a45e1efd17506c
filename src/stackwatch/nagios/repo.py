"""The configuration repository and the server's place in it.

Layout::

    common/<class>/...            what every Nagios server of the class (global, cell, mixed) shares
    environments/<env>/<part>/... one environment's hosts and services; a cell server's part is
                                  its cell (c0001), a global or mixed server's part is named in
                                  [[nagios.servers]] (or the whole environment)

``classify`` reads the server's class, environment and part from its host name; ``plan`` checks
the repository (the class folder is there, no broken link, no link leading out of the
repository) and lists what assemble copies and what it links. Reads go through the Host.
"""

from __future__ import annotations

import fnmatch
import re

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass
from stackwatch.nagios.settings import NagiosSettings

ENVIRONMENT_LINK = "environment"  # the name of the link to the environment's part in conf.d


class RepoError(Exception):
    """A repository or a server name assemble cannot work with: one line, with the path."""


@dataclass(frozen=True)
class Server:
    name: str
    server_class: str
    environment: str
    part: str | None  # None: the whole environment

    @property
    def environment_path(self) -> str:
        """environments/<env>[/<part>], relative to the repository."""
        return f"environments/{self.environment}" + (f"/{self.part}" if self.part else "")

    def describe(self) -> str:
        where = self.environment + (f"/{self.part}" if self.part else "")
        return f"server {self.name}: class {self.server_class}, environment {where}"


def classify(settings: NagiosSettings, name: str) -> Server:
    """Explicit [[nagios.servers]] rules first (first match wins), then server_pattern."""
    for rule in settings.servers:
        if fnmatch.fnmatchcase(name, rule.host):
            return Server(name, rule.server_class, rule.environment, rule.part)
    match = re.search(settings.server_pattern, name)
    if match is None:
        raise RepoError(
            f"cannot tell the class of server {name!r}: it matches no [[nagios.servers]] rule "
            f"and not server_pattern {settings.server_pattern!r}"
        )
    groups = match.groupdict()
    if not groups.get("env"):
        raise RepoError(f"server_pattern matched {name!r} without a group (?P<env>...)")
    return Server(name, "cell", groups["env"], groups["cell"])


@dataclass(frozen=True)
class Plan:
    """What the new conf.d is made of."""

    repo: str  # the repository's real path
    server: Server
    copies: tuple[tuple[str, str], ...]  # (path in conf.d, source file), sorted
    directories: tuple[str, ...]  # directories to create in conf.d, parents first
    link_target: str  # the real path of the environment's part

    @property
    def class_dir(self) -> str:
        return f"{self.repo}/common/{self.server.server_class}"


def plan(host: Host, repo: str, server: Server) -> Plan:
    if not host.is_dir(repo):
        raise RepoError(f"repository {repo}: not a directory")
    root = host.realpath(repo)
    class_dir = f"{root}/common/{server.server_class}"
    if not host.is_dir(class_dir):
        raise RepoError(
            f"{class_dir}: missing class folder for {server.describe()} "
            f"(the repository holds common/{{global,cell,mixed}})"
        )
    part = f"{root}/{server.environment_path}"
    _check_link(host, root, part)
    if not host.is_dir(part):
        raise RepoError(f"{part}: missing environment folder for {server.describe()}")
    copies: list[tuple[str, str]] = []
    directories: list[str] = []
    _walk(host, root, class_dir, "", copies, directories)
    _walk(host, root, part, "", [], [])  # checked only: it is linked, not copied
    return Plan(root, server, tuple(sorted(copies)), tuple(directories), host.realpath(part))


def _check_link(host: Host, root: str, path: str) -> None:
    """A link must lead to something, inside the repository."""
    if not host.is_link(path):
        return
    target = host.readlink(path)
    if not host.exists(path):
        raise RepoError(f"{path}: broken symlink (to {target})")
    real = host.realpath(path)
    if real != root and not real.startswith(root + "/"):
        raise RepoError(f"{path}: symlink leads outside the repository, to {real}")


def _walk(
    host: Host,
    root: str,
    directory: str,
    relative: str,
    copies: list[tuple[str, str]],
    directories: list[str],
    depth: int = 0,
) -> None:
    """Every file under ``directory``, links checked; directories in order, parents first."""
    if depth > 40:
        raise RepoError(f"{directory}: directories nested too deep (a loop of links?)")
    try:
        names = host.listdir(directory)
    except HostError as exc:
        raise RepoError(str(exc)) from None
    for name in names:
        if name.startswith("."):
            continue  # .git, editors' swap files: never configuration
        path = f"{directory}/{name}"
        inside = f"{relative}/{name}" if relative else name
        _check_link(host, root, path)
        if host.is_dir(path):
            directories.append(inside)
            _walk(host, root, path, inside, copies, directories, depth + 1)
        else:
            copies.append((inside, path))
