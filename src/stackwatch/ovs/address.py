"""The address of internal ports (the management port of a hypervisor).

Open vSwitch creates the network device of an internal port; the kernel holds its address, which
OVSDB knows nothing about. So after the OVSDB transaction, ``apply`` gives the device its declared
address with ``ip addr replace`` and sets the link up, and ``verify`` reads the device back with
``ip -j addr show``. Both run in the network namespace ovs-vswitchd runs in: the host's own by
default, a named one (``ip -n NAME``) where the switch daemon lives in one.

Only an address stackwatch set (recorded in the port's external_ids) is ever removed from a device;
addresses added by hand are reported, never deleted.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from stackwatch.core.host import CommandFailed, Host, HostError
from stackwatch.core.record import dataclass
from stackwatch.ovs.layout import Layout


class AddressError(HostError):
    """The address of a device could not be read or set."""


@dataclass(frozen=True)
class AddressTarget:
    """An internal port that the layout gives an address."""

    bridge: str
    port: str
    address: str  # as declared, e.g. 10.0.15.11/24


@dataclass(frozen=True)
class DeviceState:
    name: str
    up: bool  # administratively up
    addresses: tuple[str, ...]  # global (not link-local) addresses as ADDRESS/PREFIX


def declared_addresses(layout: Layout) -> list[AddressTarget]:
    return [
        AddressTarget(bridge.name, port.name, port.address)
        for bridge in layout.bridges
        for port in bridge.ports
        if port.address
    ]


def _normal(address: str) -> str:
    """One spelling per address (IPv6 compression, no leading zeros)."""
    try:
        return str(ipaddress.ip_interface(address))
    except ValueError:
        return address


def parse_ip_addr_json(text: str, device: str) -> DeviceState:
    """``ip -j addr show dev DEVICE`` as a DeviceState (pure); AddressError when malformed."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise AddressError(f"ip addr show dev {device}: unreadable JSON ({exc})") from None
    entries = [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
    entry = next((e for e in entries if e.get("ifname") == device), None)
    if entry is None:
        raise AddressError(f"ip addr show dev {device}: no entry for the device in the reply")
    flags = entry.get("flags")
    up = isinstance(flags, list) and "UP" in flags
    found: list[str] = []
    info = entry.get("addr_info")
    for item in info if isinstance(info, list) else []:
        if not isinstance(item, dict) or item.get("family") not in ("inet", "inet6"):
            continue
        if item.get("scope") in ("link", "host"):
            continue  # the kernel's own fe80:: address, loopback
        local, prefix = item.get("local"), item.get("prefixlen")
        if not isinstance(local, str) or not isinstance(prefix, int) or isinstance(prefix, bool):
            continue
        try:
            found.append(str(ipaddress.ip_interface(f"{local}/{prefix}")))
        except ValueError:
            continue
    return DeviceState(device, up, tuple(found))


def _ip(netns: str | None, *args: str) -> list[str]:
    return ["ip", "-n", netns, *args] if netns else ["ip", *args]


def _where(netns: str | None) -> str:
    return f"network namespace {netns}" if netns else "the host's network namespace"


def read_device(host: Host, device: str, netns: str | None = None) -> DeviceState | None:
    """The device's state, or None where it does not exist."""
    try:
        done = host.run(_ip(netns, "-j", "addr", "show", "dev", device))
    except CommandFailed as exc:
        if "does not exist" in str(exc):
            return None
        raise AddressError(f"cannot read the address of {device}: {exc}") from None
    return parse_ip_addr_json(done.stdout, device)


def device_differences(want: AddressTarget, have: DeviceState | None) -> list[str]:
    """What differs between a declared address and the live device, in words (pure)."""
    if have is None:
        return ["the device does not exist"]
    diffs = []
    declared = _normal(want.address)
    if declared not in have.addresses:
        family = ":" in declared
        others = [a for a in have.addresses if (":" in a) == family]
        diffs.append(f"address {', '.join(others) or '(none)'} -> {declared}")
    if not have.up:
        diffs.append("link down -> up")
    return diffs


@dataclass(frozen=True)
class DeviceChange:
    target: AddressTarget
    details: tuple[str, ...]
    new_device: bool = False  # the port is created by this apply: the device comes with it

    def __str__(self) -> str:
        sign = "+" if self.new_device else "~"
        what = f"{sign} device {self.target.port} ({self.target.bridge}/{self.target.port})"
        return f"{what}: {'; '.join(self.details)}"


def plan_devices(
    layout: Layout,
    host: Host,
    netns: str | None = None,
    new_ports: frozenset[str] = frozenset(),
) -> list[DeviceChange]:
    """The address changes apply would make; ``new_ports`` are ports apply is about to create."""
    changes = []
    for target in declared_addresses(layout):
        state = read_device(host, target.port, netns)
        if state is None and target.port in new_ports:
            details = (f"address {_normal(target.address)}, link up",)
            changes.append(DeviceChange(target, details, new_device=True))
            continue
        diffs = device_differences(target, state)
        if state is None:
            diffs = [f"the device does not exist in {_where(netns)} (is ovs-vswitchd running?)"]
        if diffs:
            changes.append(DeviceChange(target, tuple(diffs)))
    return changes


def _wait_for_device(
    host: Host, device: str, netns: str | None, timeout: float, clock: Callable[[], float]
) -> DeviceState:
    deadline = clock() + timeout
    while True:
        state = read_device(host, device, netns)
        if state is not None:
            return state
        if clock() >= deadline:
            raise AddressError(
                f"device {device} did not appear in {_where(netns)} within {timeout:g} s: is "
                "ovs-vswitchd running there? The OVSDB changes are made; run apply again "
                "(with --netns NAME where ovs-vswitchd runs in a namespace)"
            )
        time.sleep(0.05)


def configure_devices(
    layout: Layout,
    host: Host,
    netns: str | None = None,
    previous: Mapping[str, str | None] | None = None,
    timeout: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
) -> list[DeviceChange]:
    """Give every addressed internal port's device its address and set it up; idempotent.

    ``previous`` maps port names to the address stackwatch set before (from external_ids): that
    address, and only that one, is removed from the device when the layout declares another.
    """
    done = []
    for target in declared_addresses(layout):
        state = _wait_for_device(host, target.port, netns, timeout, clock)
        declared = _normal(target.address)
        made = []
        old = (previous or {}).get(target.port)
        if old and _normal(old) != declared and _normal(old) in state.addresses:
            _run(host, _ip(netns, "addr", "del", _normal(old), "dev", target.port))
            made.append(f"address {_normal(old)} removed")
        if declared not in state.addresses:
            _run(host, _ip(netns, "addr", "replace", declared, "dev", target.port))
            made.append(f"address {declared}")
        if not state.up:
            _announce_when_up(host, netns, target.port)
            _run(host, _ip(netns, "link", "set", "dev", target.port, "up"))
            made.append("link up")
        if made:
            done.append(DeviceChange(target, tuple(made)))
    return done


def _announce_when_up(host: Host, netns: str | None, device: str) -> None:
    """Have the kernel announce the device's addresses as it comes up (a gratuitous ARP, an
    unsolicited neighbour advertisement: arp_notify, ndisc_notify). A port made anew (by a
    rollback, or moved) has a new MAC address, which the peers that cached the old one would
    otherwise learn only when their entry goes stale, half a minute and more: an SSH session
    that could come back stays cut off. Best effort: without sysctl(8), only slower."""
    name = device.replace(".", "/")  # sysctl(8) spells a dot in a device name as a slash
    keys = [f"net.ipv4.conf.{name}.arp_notify=1", f"net.ipv6.conf.{name}.ndisc_notify=1"]
    argv = ["sysctl", "-q", "-e", "-w", *keys]
    with contextlib.suppress(HostError):
        host.run(["ip", "netns", "exec", netns, *argv] if netns else argv, check=False)


def _run(host: Host, argv: list[str]) -> Any:
    try:
        return host.run(argv)
    except HostError as exc:
        raise AddressError(f"{' '.join(argv)}: {exc}") from None
