"""One real Open vSwitch for the whole OVS integration suite, emptied before each test."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from switch import Switch


@pytest.fixture(scope="session")
def ovs_switch() -> Iterator[Switch]:
    if os.geteuid() != 0 or not shutil.which("ovs-vswitchd"):
        pytest.skip("needs root and Debian's openvswitch-switch")
    switch = Switch().start()
    try:
        yield switch
    finally:
        switch.stop()


@pytest.fixture
def switch(ovs_switch: Switch) -> Switch:
    ovs_switch.clear()
    return ovs_switch
