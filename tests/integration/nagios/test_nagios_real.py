"""The real Nagios: nagios4 -v on assembled and generated trees (and its own error lines quoted
when it refuses one), and a real daemon whose services flip state through checks this test
controls, whose nagios.log `alerts` must count exactly."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from tests.conftest import run_stackwatch
from tests.integration.nagios.conftest import Daemon, give_to_nagios, main_config

GOOD_HOSTS = """\
define host {
    use        generic-host
    host_name  cmp-c0001-001
    address    127.0.0.1
    hostgroups compute
}
define service {
    use                 generic-service
    host_name           cmp-c0001-001
    service_description stackwatch-links
    check_command       check_nrpe!stackwatch_links
}
"""


def repo_site(tmp_path: Path, nagios: str) -> Path:
    repo = tmp_path / "repo"
    (repo / "common/cell").mkdir(parents=True)
    (repo / "common/cell/hostgroups.cfg").write_text(
        "define hostgroup {\n    hostgroup_name compute\n    alias compute\n}\n"
    )
    (repo / "environments/prod/c0001").mkdir(parents=True)
    (repo / "environments/prod/c0001/hosts.cfg").write_text(GOOD_HOSTS)
    etc = tmp_path / "etc"
    etc.mkdir()
    main = main_config(etc, f"cfg_dir={etc}/conf.d\n")
    (tmp_path / "sw.toml").write_text(
        f'[nagios]\nrepo = "{repo}"\nconf_dir = "{etc}/conf.d"\nmain_config = "{main}"\n'
        f'nagios = "{nagios}"\nreload_command = []\n'
    )
    return tmp_path


def assemble(site: Path) -> object:
    return run_stackwatch(
        "nagios", "assemble", "--config", str(site / "sw.toml"), "--host", "nagios-prod-c0001"
    )


def test_real_nagios_accepts_an_assembled_tree_and_refuses_a_broken_one(
    site_dir: Path, nagios4: str
) -> None:
    site = repo_site(site_dir, nagios4)
    done = assemble(site)
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    assert "nagios4 -v accepted it" in done.stdout  # type: ignore[attr-defined]
    live = site / "etc/conf.d"
    assert (live / "hostgroups.cfg").exists() and (live / "environment").is_symlink()
    broken = site / "repo/environments/prod/c0001/hosts.cfg"
    broken.write_text(GOOD_HOSTS.replace("generic-service", "no-such-template"))
    refused = assemble(site)
    assert refused.returncode == 1  # type: ignore[attr-defined]
    err = refused.stderr  # type: ignore[attr-defined]
    assert "Error:" in err and "no-such-template" in err
    assert f"config file '{broken}'" in err  # Nagios's line, with the repository's path
    assert (live / "hostgroups.cfg").exists() and not (site / "etc/.conf.d.new").exists()


def test_real_nagios_accepts_a_generated_tree(site_dir: Path, nagios4: str) -> None:
    tmp_path = site_dir
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "compute.yaml").write_text(
        "services:\n  - name: stackwatch-links\n    check: links\n"
        "  - name: stackwatch-disk\n    check: disk-smart\n"
    )
    (templates / "control.yaml").write_text("services:\n  - name: api\n    check: processes\n")
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "[compute]\n"
        + "".join(
            f"cmp-c000{c}-{h:03d} cell=c000{c} ansible_host=127.0.0.1\n"
            for c in (1, 2)
            for h in range(5)
        )
        + "[control]\nctl-[1:3]\n"
    )
    etc = tmp_path / "etc"
    etc.mkdir()
    main = main_config(etc)
    config = tmp_path / "sw.toml"
    config.write_text(f'[nagios]\nnagios = "{nagios4}"\n')
    done = run_stackwatch(
        "nagios",
        "generate",
        "--config",
        str(config),
        "--inventory",
        str(inventory),
        "--templates",
        str(templates),
        "--out",
        str(tmp_path / "out"),
        "--validate-with",
        str(main),
    )
    assert done.returncode == 0, done.stderr
    assert "nagios4 -v accepted it" in done.stdout and "13 hosts with a role" in done.stdout


CHECK = """#!/bin/sh
cat "{states}/$1.out"
exit "$(cat "{states}/$1.rc")"
"""


def flip(states: Path, name: str, code: int, text: str) -> None:
    (states / f"{name}.out").write_text(text + "\n")
    (states / f"{name}.rc").write_text(f"{code}\n")


def daemon_site(tmp_path: Path) -> tuple[Path, Path]:
    states = tmp_path / "states"
    states.mkdir()
    check = tmp_path / "check.sh"
    check.write_text(CHECK.format(states=states))
    check.chmod(0o755)
    for name in ("flipper", "steady", "acked", "host"):
        flip(states, name, 0, "OK - fine; all well")
    services = "".join(
        f"define service {{\n use generic-service\n host_name cmp-c0001-001\n"
        f" service_description {name}\n check_command check_state!{name}\n{extra}}}\n"
        for name, extra in (
            (
                "flipper",
                " flap_detection_enabled 1\n low_flap_threshold 5\n high_flap_threshold 10\n",
            ),
            ("steady", ""),
            ("acked", ""),
        )
    )
    objects = tmp_path / "conf"
    objects.mkdir()
    (objects / "site.cfg").write_text(
        f"define command {{\n command_name check_state\n command_line {check} $ARG1$\n}}\n"
        "define host {\n use generic-host\n host_name cmp-c0001-001\n address 127.0.0.1\n"
        " max_check_attempts 1\n check_command check_state!host\n}\n" + services
    )
    main = main_config(
        tmp_path,
        f"cfg_dir={objects}\ninterval_length=1\nlog_service_retries=1\nlog_initial_states=1\n"
        "enable_flap_detection=1\ncheck_result_reaper_frequency=1\nmax_check_result_reaper_time=1\n"
        "service_inter_check_delay_method=n\nhost_inter_check_delay_method=n\n"
        "retain_state_information=0\ncheck_external_commands=1\n"
        "cached_host_check_horizon=0\ncached_service_check_horizon=0\n",
    )
    give_to_nagios(tmp_path)
    return main, states


def external(tmp_path: Path, command: str) -> None:
    """An external command through Nagios's command pipe (how an operator acknowledges)."""
    fd = os.open(tmp_path / "nagios.cmd", os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, f"[{int(time.time())}] {command}\n".encode())
    finally:
        os.close(fd)


def wait_for(path: Path, pattern: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and re.search(pattern, path.read_text(errors="replace"), re.M):
            return
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} not in {path} within {timeout} s")


def test_alerts_count_a_real_nagios_log(site_dir: Path, nagios4: str, daemon: list[Daemon]) -> None:
    tmp_path = site_dir
    main, states = daemon_site(tmp_path)
    log = tmp_path / "nagios.log"
    daemon.append(Daemon(nagios4, main))
    wait_for(log, r"INITIAL SERVICE STATE: cmp-c0001-001;steady")
    flip(states, "acked", 2, "CRITICAL - disk full; 99%")
    flip(states, "host", 2, "PING CRITICAL")
    for _ in range(4):  # the flipper: CRITICAL for 2.5 s, OK for 2.5 s
        flip(states, "flipper", 2, "CRITICAL - bad; very")
        time.sleep(2.5)
        flip(states, "flipper", 0, "OK - fine")
        time.sleep(2.5)
    wait_for(log, r"SERVICE ALERT: cmp-c0001-001;acked;CRITICAL;HARD")
    external(tmp_path, "ACKNOWLEDGE_SVC_PROBLEM;cmp-c0001-001;acked;2;1;0;ops;looking")
    wait_for(log, r"ACKNOWLEDGE_SVC_PROBLEM")
    flip(states, "acked", 0, "OK - freed")
    wait_for(log, r"SERVICE ALERT: cmp-c0001-001;acked;OK")
    wait_for(log, r"HOST ALERT: cmp-c0001-001;DOWN")
    daemon[0].stop()

    png = tmp_path / "alerts.png"
    done = run_stackwatch("nagios", "alerts", str(log), "--format", "json", "--plot", str(png))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    text = log.read_text()
    assert report["lines"] == len(text.splitlines()) and report["malformed"] == 0
    rows = {r["service"]: r for r in report["services"]}

    def count(pattern: str) -> int:
        return len(re.findall(pattern, text, re.M))

    flipper = rows["flipper"]
    assert flipper["alerts"] == count(r"SERVICE ALERT: cmp-c0001-001;flipper;") >= 8
    assert flipper["hard"] == count(r"SERVICE ALERT: cmp-c0001-001;flipper;\w+;HARD;")
    assert flipper["soft"] == count(r"SERVICE ALERT: cmp-c0001-001;flipper;\w+;SOFT;")
    assert flipper["notifications"] == count(r"SERVICE NOTIFICATION: ops;cmp-c0001-001;flipper;")
    assert flipper["flapping"] == count(r"SERVICE FLAPPING ALERT: cmp-c0001-001;flipper;STARTED")
    problems = closed = 0
    open_problem = False
    for state in re.findall(r"SERVICE ALERT: cmp-c0001-001;flipper;(\w+);", text):
        if state != "OK" and not open_problem:
            problems, open_problem = problems + 1, True
        elif state == "OK" and open_problem:
            closed, open_problem = closed + 1, False
    assert flipper["problems"] == problems >= 4
    assert flipper["recovered_soon"] == closed  # each over within seconds, nobody acknowledging
    assert rows["acked"]["problems"] == 1 and rows["acked"]["recovered_soon"] == 0
    assert "steady" not in rows
    assert report["hosts"][0]["host"] == "cmp-c0001-001" and report["hosts"][0]["alerts"] >= 1
    assert png.read_bytes()[:4] == b"\x89PNG"
