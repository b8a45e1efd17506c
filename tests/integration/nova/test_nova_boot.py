"""The test Nova itself: a server boots to ACTIVE on one of the two fake hosts."""

from __future__ import annotations

import time
from typing import Any

from tests.integration.nova.conftest import HOSTS, Nova


def boot(nova: Nova, name: str, host: str | None = None, tags: tuple[str, ...] = ()) -> Any:
    """A server (networks: none), waited for until ACTIVE; on ``host`` where given."""
    conn = nova.connect()
    attrs: dict[str, Any] = {
        "name": name, "image_id": nova.image_id, "flavor_id": nova.flavor_id, "networks": "none",
    }  # fmt: skip
    if host:
        attrs["availability_zone"] = f"nova:{host}"
    if tags:
        attrs["tags"] = list(tags)
    server = conn.compute.create_server(**attrs)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        server = conn.compute.get_server(server.id)
        if server.status in ("ACTIVE", "ERROR"):
            break
        time.sleep(0.3)
    assert server.status == "ACTIVE", (server.status, server.fault)
    return server


def test_a_server_boots_to_active_on_a_fake_host(nova_cloud: Nova) -> None:
    started = time.monotonic()
    server = boot(nova_cloud, "boot-test")
    assert server.compute_host in HOSTS
    print(f"ACTIVE in {time.monotonic() - started:.1f} s on {server.compute_host}")
