"""[switch] settings refuse what cannot work; the views say what a person needs to read."""

from __future__ import annotations

import json

import pytest

from stackwatch.core.config import ConfigError
from stackwatch.switch.counters import PortRates
from stackwatch.switch.device import DeviceFacts
from stackwatch.switch.settings import SwitchSettings
from stackwatch.switch.tables import Interface, Neighbour, PortVlans
from stackwatch.switch.views import lldp_text, ports_text, vlans_json, vlans_text


@pytest.mark.parametrize(
    "settings",
    [
        SwitchSettings(timeout=0),
        SwitchSettings(timeout=float("nan")),
        SwitchSettings(max_repetitions=0),
        SwitchSettings(max_repetitions=1000),
    ],
)
def test_settings_refused(settings: SwitchSettings) -> None:
    with pytest.raises(ConfigError, match=r"switch\."):
        settings.validate("switch")


FACTS = DeviceFacts(
    "tor1",
    system="core\x1b[2Jsw",
    interfaces=(Interface(1, "Gi0/1\x1b[31m", oper="up", admin_up=True, speed_mbps=1000),),
    vlans=(
        PortVlans(1, "trunk", frozenset({1, 2, 3, 10}), 1, "vtp", ((128, 4095),)),
        PortVlans(2, "access", frozenset({5}), 5, "q-bridge"),
    ),
    neighbours=(Neighbour(None, 9, "cmp1", "00:11:22:33:44:55", "em1", ""),),
)


def test_vlans_json_unknown_only_where_something_is_unknown() -> None:
    ports = json.loads(vlans_json(FACTS))["ports"]
    assert ports[0]["vlans"] == [1, 2, 3, 10] and ports[0]["unknown"] == "128-4095"
    assert "unknown" not in ports[1]
    assert ports[1]["name"] == "2"  # no interface of that ifIndex: the number stands in


def test_text_views_are_printable_and_say_what_is_missing() -> None:
    text = vlans_text(FACTS)
    assert "\x1b" not in text and "1-3,10 (unknown 128-4095)" in text
    assert "(LLDP port 9)" in lldp_text(FACTS)
    ports = ports_text(FACTS, PortRates())
    assert "\x1b" not in ports and "first reading" in ports
    restarted = ports_text(FACTS, PortRates(first_run=False, restarted=True))
    assert "restarted" in restarted
