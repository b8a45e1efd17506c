"""Benchmark: the configuration of 10,000 hypervisors in 100 cells with 15 services each,
generated from an Ansible inventory and validated by the real nagios4 -v; then one host changes
and the files written are counted (the goal is 1).

    python3 bench/nagios_generate.py [--hosts 10000] [--cells 100] [--services 15]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
from tests.integration.nagios.conftest import main_config  # noqa: E402


def inventory(hosts: int, cells: int, changed: int | None = None) -> str:
    lines = ["[compute]"]
    for i in range(hosts):
        cell = f"c{1 + i % cells:04d}"
        address = "127.0.0.2" if i == changed else "127.0.0.1"
        lines.append(f"cmp-{cell}-{i:05d} cell={cell} ansible_host={address}")
    return "\n".join(lines) + "\n"


def generate(tmp: Path, config: Path, main: Path | None) -> tuple[float, str]:
    argv = [sys.executable, "-m", "stackwatch.cli", "nagios", "generate", "--config", str(config),
            "--inventory", str(tmp / "hosts.ini"), "--templates", str(tmp / "templates"),
            "--out", str(tmp / "out"), "--format", "json"]  # fmt: skip
    if main is not None:
        argv += ["--validate-with", str(main)]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"generate failed: {done.stderr[-800:]}")
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--cells", type=int, default=100)
    parser.add_argument("--services", type=int, default=15)
    args = parser.parse_args()
    nagios = shutil.which("nagios4", path="/usr/sbin:/usr/bin:/sbin")
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-nagios-"))
    tmp.chmod(0o755)  # nagios -v reads it as the nagios user
    try:
        (tmp / "templates").mkdir()
        services = "".join(
            f"  - name: stackwatch-check-{n:02d}\n    check: check-{n:02d}\n"
            for n in range(args.services)
        )
        (tmp / "templates/compute.yaml").write_text(f"services:\n{services}")
        (tmp / "hosts.ini").write_text(inventory(args.hosts, args.cells))
        config = tmp / "sw.toml"
        config.write_text(f'[nagios]\nnagios = "{nagios or "nagios4"}"\n')
        first, _ = generate(tmp, config, None)
        files = sum(1 for _ in (tmp / "out").rglob("*.cfg"))
        print(f"{args.hosts} hosts in {args.cells} cells, {args.services} services each: "
              f"{args.hosts * (args.services + 1)} definitions in {files} files")  # fmt: skip
        print(f"generate (first run):              {first:6.2f} s")
        if nagios:
            etc = tmp / "etc"
            etc.mkdir()
            main = main_config(etc)
            again, _ = generate(tmp, config, main)
            print(f"generate (unchanged) + nagios4 -v: {again:6.2f} s")
            print(
                f"  of which nagios4 -v alone:        {_nagios_seconds(nagios, main, tmp):6.2f} s"
            )
        else:
            print("nagios4 not installed: validation not measured")
        (tmp / "hosts.ini").write_text(inventory(args.hosts, args.cells, changed=4242))
        _, changed = generate(tmp, config, None)
        written = json.loads(changed)["written"]
        print(f"files written when one host changes: {len(written)} (goal: 1) {written}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _nagios_seconds(nagios: str, main: Path, tmp: Path) -> float:
    """nagios4 -v alone on the generated tree, as validate() runs it."""
    from stackwatch.core.host import Host
    from stackwatch.nagios.validate import validate

    verdict = validate(Host(), nagios, str(main), None, str(tmp / "out"), 600)
    if not verdict.ok:
        raise SystemExit(f"nagios4 -v refused: {verdict.errors[:3]}")
    return verdict.seconds


if __name__ == "__main__":
    main()
