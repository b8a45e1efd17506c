"""Whether the addresses a layout declares on internal ports come back after a reboot.

OVSDB keeps bridges and ports across restarts, but ``ovs apply`` sets an internal port's address
with ip(8): the kernel forgets it when the port's device goes away, at the next boot or when
ovs-vswitchd restarts. stackwatch's answer is a boot-time unit,
contrib/systemd/stackwatch-ovs-layout.service, that runs ``stackwatch ovs apply`` after
ovs-vswitchd (and again whenever ovs-vswitchd restarts: PartOf=). An address also comes back
where the distribution's own network stack sets it: an ifupdown ``iface PORT inet[6] static``
stanza or a systemd-networkd ``.network`` file matching the port, with that address.

The facts are files under the host's root, so a captured tree (``--root``) is judged by its own
/etc, not this machine's.
"""

from __future__ import annotations

import ipaddress
import re

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass
from stackwatch.ovs.address import AddressTarget, declared_addresses
from stackwatch.ovs.layout import Layout

BOOT_UNIT = "stackwatch-ovs-layout.service"
IFUPDOWN_FILES = ("/etc/network/interfaces", "/etc/network/interfaces.d/*")
NETWORKD_FILES = ("/etc/systemd/network/*.network", "/run/systemd/network/*.network")
MAX_FILE = 1 << 20  # network configuration files are small; a larger one is not read


@dataclass(frozen=True)
class BootPersistence:
    """How the host brings internal ports' addresses back at boot, read from its files."""

    boot_unit: str | None  # the path of the enabled unit's wants/ link, None where not enabled
    ifupdown: frozenset[tuple[str, str]]  # (device, address) set by ifupdown stanzas
    networkd: frozenset[tuple[str, str]]  # (device, address) set by systemd-networkd files

    def keeps(self, target: AddressTarget) -> bool:
        if self.boot_unit is not None:
            return True
        wanted = (target.port, _normal(target.address))
        return wanted in self.ifupdown or wanted in self.networkd


def _normal(address: str) -> str:
    try:
        return str(ipaddress.ip_interface(address.strip()))
    except ValueError:
        return address.strip()


def parse_ifupdown(text: str) -> set[tuple[str, str]]:
    """(device, address) of ``iface DEV inet|inet6 static`` stanzas with an ``address`` line
    (pure); a ``netmask`` line given as a prefix length or dotted mask is joined to it."""
    found: set[tuple[str, str]] = set()
    device: str | None = None
    address = netmask = None
    for line in [*text.splitlines(), "iface - end"]:
        words = line.split("#", 1)[0].split()
        if words and words[0] in ("iface", "auto", "allow-hotplug", "mapping", "source"):
            if device and address:
                found.add((device, _joined(address, netmask)))
            device = words[1] if words[0] == "iface" and len(words) >= 4 else None
            device = device if device and words[-1] == "static" else None
            address = netmask = None
        elif device and len(words) >= 2 and words[0] in ("address", "netmask"):
            address, netmask = (words[1], netmask) if words[0] == "address" else (address, words[1])
    return found


def _joined(address: str, netmask: str | None) -> str:
    if "/" in address or netmask is None:
        return _normal(address)
    return _normal(f"{address}/{netmask}")


def parse_networkd(text: str) -> set[tuple[str, str]]:
    """(device, address) pairs of a systemd-networkd ``.network`` file (pure): each plain Name=
    of [Match] with each Address= of [Network] and [Address] sections."""
    section = ""
    names: list[str] = []
    addresses: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            section = header.group(1)
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key = key.strip()
        if section == "Match" and key == "Name":
            names += [n for n in value.split() if not any(c in n for c in "*?[!")]
        elif section in ("Network", "Address") and key == "Address":
            addresses += value.split()
    return {(name, _normal(address)) for name in names for address in addresses}


def _files(host: Host, patterns: tuple[str, ...]) -> list[str]:
    texts = []
    for pattern in patterns:
        for path in host.glob(pattern):
            try:
                raw = host.read_small(path, MAX_FILE)
            except HostError:
                continue  # unreadable: what it might set is not counted on
            if raw is not None:
                texts.append(raw.decode("utf-8", "replace"))
    return texts


def read_persistence(host: Host) -> BootPersistence:
    """The unit's wants/ link and the ifupdown and systemd-networkd files under the root."""
    links = host.glob(f"/etc/systemd/system/*.wants/{BOOT_UNIT}")
    ifupdown: set[tuple[str, str]] = set()
    for text in _files(host, IFUPDOWN_FILES):
        ifupdown |= parse_ifupdown(text)
    networkd: set[tuple[str, str]] = set()
    for text in _files(host, NETWORKD_FILES):
        networkd |= parse_networkd(text)
    return BootPersistence(links[0] if links else None, frozenset(ifupdown), frozenset(networkd))


def lost_at_reboot(layout: Layout, persistence: BootPersistence) -> list[str]:
    """One line per declared address that nothing would set again after a reboot (pure)."""
    return [
        f"address {t.address} of {t.bridge}/{t.port} would not come back after a reboot "
        "(set with ip only)"
        for t in declared_addresses(layout)
        if not persistence.keeps(t)
    ]


def reboot_hint() -> str:
    return (
        f"enable the boot-time unit: cp contrib/systemd/{BOOT_UNIT} /etc/systemd/system/ && "
        f"systemctl daemon-reload && systemctl enable {BOOT_UNIT} (it runs stackwatch ovs apply "
        "after ovs-vswitchd), or set the address in ifupdown or systemd-networkd"
    )
