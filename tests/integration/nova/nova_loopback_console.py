"""Nova's fake virt driver (nova.virt.fake.FakeDriverWithoutFakeNodes: a FakeDriver whose node
keeps its uuid in state_path/compute_id, so a compute can be stopped and started again) with its
VNC console on 127.0.0.1 (the port in NOVA_TEST_VNC_PORT) instead of fakevncconsole.com, so that
the real nova-novncproxy connects to a listener of the test and no name is looked up outside.
Nova loads drivers from the nova.virt package only: sitecustomize.py maps
nova.virt.loopback_console to this file. Loaded by the Nova under test, never by stackwatch."""

import os
from typing import Any

from nova.console import type as ctype
from nova.virt import fake


class LoopbackConsoleDriver(fake.FakeDriverWithoutFakeNodes):  # type: ignore[misc]
    def get_vnc_console(self, context: Any, instance: Any) -> Any:
        return ctype.ConsoleVNC(
            internal_access_path=None,
            host="127.0.0.1",
            port=int(os.environ["NOVA_TEST_VNC_PORT"]),
        )
