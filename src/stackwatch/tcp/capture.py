"""A capture taken for the diagnosis: tcpdump for a few seconds on one interface (optionally in a
network namespace), headers only, written to a file that is read back with dpkt."""

from __future__ import annotations

import time

from stackwatch.core.host import Host

SNAPLEN = 128  # enough for IP and TCP headers with options; payloads are not needed


def capture_argv(interface: str, path: str, bpf: str, netns: str | None) -> list[str]:
    """tcpdump, packet-buffered (-U: the file is whole when it stops), as root (-Z root: a
    private temporary directory is not the tcpdump user's to write in)."""
    argv = ["tcpdump", "-i", interface, "-s", str(SNAPLEN), "-U", "-n", "-Z", "root", "-w", path]
    argv.extend(bpf.split())
    return ["ip", "netns", "exec", netns, *argv] if netns else argv


def take_capture(
    host: Host, interface: str, seconds: float, path: str, bpf: str, netns: str | None
) -> str:
    """Run tcpdump for ``seconds`` and stop it; the tcpdump summary (packets captured/dropped).
    Raises HostError (CommandFailed where tcpdump ended early: a wrong interface, no rights)."""
    process = host.spawn(capture_argv(interface, path, bpf, netns), stdout=False, what="tcpdump")
    with process:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        early = process.poll()
        if early is not None:
            process.check(early or 1)
        process.end()
        summary = process.stderr_text()
    return " ".join(line.strip() for line in summary.splitlines() if "packets" in line)
