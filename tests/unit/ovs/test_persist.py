"""ovs-bridges on whether declared addresses survive a reboot: the boot-time unit enabled, an
ifupdown stanza or a systemd-networkd file setting the address, or nothing (a note, or a
WARNING with reboot_loss = "warning"), read from fixture trees."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from stackwatch.core.host import Host
from stackwatch.core.result import Status
from stackwatch.ovs.checks import OvsBridgesOptions, compare_layout, judge_bridges
from stackwatch.ovs.layout import load_layout
from stackwatch.ovs.persist import BOOT_UNIT, parse_ifupdown, parse_networkd
from tests.unit.ovs.test_live_plan import live

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ovs"
CLASSIC = load_layout(str(FIXTURES / "openstack-compute.yaml"))
LOST = "address 10.0.15.11/24 of br-ex/mgmt would not come back after a reboot (set with ip only)"


def tree(root: Path, files: dict[str, str]) -> Host:
    (root / "etc/systemd/system").mkdir(parents=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return Host(root)


def judged(host: Host, **options: object):  # type: ignore[no-untyped-def]
    facts = compare_layout(CLASSIC, live("classic"), host)
    return judge_bridges(facts, OvsBridgesOptions(**options))  # type: ignore[arg-type]


def test_address_set_with_ip_only_is_reported(tmp_path: Path) -> None:
    result = judged(tree(tmp_path, {}))
    assert result.status is Status.OK  # a note by default: monitoring keeps its status
    assert LOST in result.details
    assert result.summary.endswith("; 1 addresses would not survive a reboot")
    assert result.hint is not None and f"systemctl enable {BOOT_UNIT}" in result.hint
    warned = judged(tree(tmp_path / "w", {}), reboot_loss="warning")
    assert warned.status is Status.WARNING
    assert "1 addresses would not survive a reboot" in warned.summary


def test_enabled_boot_unit_keeps_the_address(tmp_path: Path) -> None:
    host = tree(tmp_path, {f"etc/systemd/system/multi-user.target.wants/{BOOT_UNIT}": ""})
    result = judged(host, reboot_loss="warning")
    assert result.status is Status.OK and LOST not in result.details
    assert result.hint is None


def test_unit_installed_but_not_enabled_is_not_enough(tmp_path: Path) -> None:
    host = tree(tmp_path, {f"etc/systemd/system/{BOOT_UNIT}": "[Unit]\n"})
    assert judged(host, reboot_loss="warning").status is Status.WARNING


def test_ifupdown_stanza_keeps_the_address(tmp_path: Path) -> None:
    stanza = "auto mgmt\niface mgmt inet static\n    address 10.0.15.11\n    netmask 24\n"
    host = tree(tmp_path, {"etc/network/interfaces.d/mgmt": stanza})
    assert judged(host, reboot_loss="warning").status is Status.OK
    other = tree(tmp_path / "o", {"etc/network/interfaces": stanza.replace(".11", ".12")})
    assert judged(other, reboot_loss="warning").status is Status.WARNING


def test_networkd_file_keeps_the_address(tmp_path: Path) -> None:
    text = "[Match]\nName=mgmt\n\n[Network]\nAddress=10.0.15.11/24\n"
    host = tree(tmp_path, {"etc/systemd/network/10-mgmt.network": text})
    assert judged(host, reboot_loss="warning").status is Status.OK


def test_drift_and_loss_share_the_hint(tmp_path: Path) -> None:
    (tmp_path / "drifted.yaml").write_text(
        (FIXTURES / "openstack-compute.yaml").read_text().replace("tag: 15", "tag: 20")
    )
    (tmp_path / "t/etc/network").mkdir(parents=True)
    facts = compare_layout(
        load_layout(str(tmp_path / "drifted.yaml")), live("classic"), Host(tmp_path / "t")
    )
    result = judge_bridges(facts, OvsBridgesOptions(reboot_loss="critical"))
    assert result.status is Status.CRITICAL
    assert (
        result.hint is not None
        and "stackwatch ovs plan" in result.hint
        and BOOT_UNIT in result.hint
    )


def test_parsers() -> None:
    text = (
        "iface lo inet loopback\n"
        "iface mgmt inet static # management\n address 10.0.15.11/24\n"
        "iface v6 inet6 static\n address 2001:db8::0001\n netmask 64\n"
        "iface eth0 inet dhcp\n address 192.0.2.1/24\n"
    )
    assert parse_ifupdown(text) == {("mgmt", "10.0.15.11/24"), ("v6", "2001:db8::1/64")}
    networkd = "[Match]\nName=mgmt en*\n[Address]\nAddress=10.0.15.11/24\n[Route]\nAddress=x\n"
    assert parse_networkd(networkd) == {("mgmt", "10.0.15.11/24")}


@given(st.text())
def test_parsers_take_any_text(text: str) -> None:
    for device, address in parse_ifupdown(text) | parse_networkd(text):
        assert isinstance(device, str) and isinstance(address, str)
