"""The real Nagios (Debian nagios4) for the nagios tests: base objects every tree needs, a main
configuration in a temporary directory, and a daemon run there whose checks read states the
test writes. Nagios drops root for its nagios_user, so what it must write belongs to that user."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

BASE_OBJECTS = """\
define timeperiod {
    timeperiod_name 24x7
    alias           always
    sunday          00:00-24:00
    monday          00:00-24:00
    tuesday         00:00-24:00
    wednesday       00:00-24:00
    thursday        00:00-24:00
    friday          00:00-24:00
    saturday        00:00-24:00
}
define command {
    command_name check_nrpe
    command_line /usr/lib/nagios/plugins/check_nrpe -H $HOSTADDRESS$ -c $ARG1$
}
define command {
    command_name notify-none
    command_line /bin/true
}
define contact {
    contact_name                  ops
    host_notifications_enabled    1
    service_notifications_enabled 1
    host_notification_period      24x7
    service_notification_period   24x7
    host_notification_options     d,u,r,f
    service_notification_options  w,u,c,r,f
    host_notification_commands    notify-none
    service_notification_commands notify-none
}
define host {
    name                 generic-host
    register             0
    max_check_attempts   2
    check_interval       1
    retry_interval       1
    check_period         24x7
    notification_period  24x7
    notification_interval 0
    contacts             ops
}
define service {
    name                 generic-service
    register             0
    max_check_attempts   2
    check_interval       1
    retry_interval       1
    check_period         24x7
    notification_period  24x7
    notification_interval 0
    contacts             ops
}
"""


def nagios_user() -> str:
    try:
        pwd.getpwnam("nagios")
        return "nagios"
    except KeyError:
        return pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def nagios4() -> str:
    path = shutil.which("nagios4") or shutil.which("nagios4", path="/usr/sbin:/usr/local/sbin")
    if path is None:
        pytest.skip("nagios4 is not installed (Debian package nagios4-core)")
    return path


def main_config(directory: Path, extra: str = "") -> Path:
    """A main configuration whose every path is under ``directory``."""
    user = nagios_user()
    (directory / "checkresults").mkdir(exist_ok=True)
    (directory / "objects.cfg").write_text(BASE_OBJECTS)
    text = "\n".join(
        f"{key}={value}"
        for key, value in {
            "log_file": directory / "nagios.log",
            "cfg_file": directory / "objects.cfg",
            "check_result_path": directory / "checkresults",
            "lock_file": directory / "nagios.pid",
            "temp_file": directory / "nagios.tmp",
            "temp_path": directory,
            "status_file": directory / "status.dat",
            "object_cache_file": directory / "objects.cache",
            "precached_object_file": directory / "objects.precache",
            "state_retention_file": directory / "retention.dat",
            "command_file": directory / "nagios.cmd",
            "query_socket": directory / "nagios.qh",
            "nagios_user": user,
            "nagios_group": user,
            "use_syslog": 0,
            "check_for_updates": 0,
        }.items()
    )
    path = directory / "nagios.cfg"
    path.write_text(text + "\n" + extra)
    return path


def give_to_nagios(directory: Path) -> None:
    entry = pwd.getpwnam(nagios_user())
    for top, dirs, files in os.walk(directory):
        for name in [top, *(os.path.join(top, n) for n in dirs + files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)


class Daemon:
    """A Nagios process in the foreground of a child process; stopped by the fixture."""

    def __init__(self, nagios: str, config: Path) -> None:
        self.process = subprocess.Popen(
            [nagios, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
def site_dir() -> Iterator[Path]:
    """A directory the nagios user can reach (pytest's tmp_path is private to root)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="stackwatch-nagios-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for one in started:
        one.stop()
