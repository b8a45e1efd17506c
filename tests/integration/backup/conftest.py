"""Real services for the backup tests: a MariaDB server in a temporary data directory on a loopback
port, an sshd on 127.0.0.1 with test keys (the off-site destination), an SMTP server (aiosmtpd)
that keeps the messages. Each is started once per session and stopped at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port

PASSWORD = "S3cret-pw'x"  # a quote in it: the option file must carry it, not a command line


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {limit} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class MariaDB:
    datadir: Path
    socket: str
    port: int
    option_file: Path
    root_option_file: Path
    proc: subprocess.Popen[bytes] | None = None

    def sql(self, text: str, database: str | None = None) -> str:
        argv = ["mariadb", f"--defaults-extra-file={self.root_option_file}", "-N", "--batch"]
        argv += [f"--socket={self.socket}"]
        if database:
            argv.append(database)
        done = subprocess.run(
            argv, input=text, capture_output=True, text=True, errors="surrogateescape", timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        return done.stdout

    def start(self) -> None:
        log = (self.datadir.parent / "mariadbd.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--socket={self.socket}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--user=root",
                f"--pid-file={self.datadir.parent}/mariadbd.pid",
                f"--log-bin={self.datadir.parent}/binlog",
                "--server-id=1",
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=16M",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        _wait_port(self.port, self.proc, "mariadbd")

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None


SEED = """
CREATE DATABASE shop;
CREATE TABLE shop.customers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(80) NOT NULL,
  email VARCHAR(120), balance DECIMAL(10,2), created DATETIME) ENGINE=InnoDB;
CREATE TABLE shop.orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT NOT NULL,
  total DECIMAL(10,2), note TEXT, FOREIGN KEY (customer_id) REFERENCES shop.customers(id))
  ENGINE=InnoDB;
CREATE TABLE shop.audit (id INT PRIMARY KEY AUTO_INCREMENT, what VARCHAR(40)) ENGINE=InnoDB;
INSERT INTO shop.customers (name, email, balance, created) VALUES
  ('Zoë Ångström', 'zoe@example.net', 12.50, '2024-01-02 03:04:05'),
  ('O''Brien', NULL, -3.10, '2024-02-03 04:05:06'),
  ('tab\\there', 'x@y', 0, NULL);
INSERT INTO shop.orders (customer_id, total, note) VALUES (1, 10.00, 'first'), (2, 5.5, NULL),
  (1, 99.99, 'line1\\nline2');
CREATE TRIGGER shop.orders_audit AFTER INSERT ON shop.orders FOR EACH ROW
  INSERT INTO shop.audit (what) VALUES (CONCAT('order ', NEW.id));
CREATE PROCEDURE shop.order_count(OUT n INT) SELECT COUNT(*) INTO n FROM shop.orders;
CREATE EVENT shop.nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM shop.audit;
CREATE DATABASE legacy;
CREATE TABLE legacy.pages (id INT PRIMARY KEY, body MEDIUMTEXT, hits BIGINT) ENGINE=MyISAM;
CREATE DATABASE media;
CREATE TABLE media.files (id INT PRIMARY KEY, data LONGBLOB, ratio DOUBLE) ENGINE=InnoDB;
INSERT INTO media.files VALUES (1, UNHEX('00FF10275C27220A'), 0.1), (2, NULL, -1e-300),
  (3, '', 3.141592653589793);
CREATE DATABASE test;
CREATE TABLE test.scratch (id INT) ENGINE=InnoDB;
CREATE DATABASE `we-ird db`;
CREATE TABLE `we-ird db`.`t t` (`c``1` INT PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO `we-ird db`.`t t` VALUES (1), (2);
"""


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    if shutil.which("mariadbd") is None and not Path("/usr/sbin/mariadbd").exists():
        pytest.skip("mariadb-server is not installed (scripts/install-test-deps.sh)")
    base = tmp_path_factory.mktemp("mariadb")
    datadir = base / "data"
    done = subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={datadir}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    root_opt = base / "root.cnf"
    root_opt.write_text("[client]\nuser=root\n")
    opt = base / "backup.cnf"
    escaped = PASSWORD.replace("\\", "\\\\").replace('"', '\\"')
    opt.write_text(f'[client]\nuser=backup\npassword="{escaped}"\n')
    opt.chmod(0o600)
    server = MariaDB(datadir, str(base / "sock"), free_port(), opt, root_opt)
    server.start()
    try:
        server.sql(
            "CREATE USER 'backup'@'%' IDENTIFIED BY "
            + "'"
            + PASSWORD.replace("'", "''")
            + "';\nGRANT ALL PRIVILEGES ON *.* TO 'backup'@'%';\n"
        )
        server.sql(SEED)
        rows = ",".join(f"({i}, REPEAT('page {i} ', {i % 50 + 1}), {i * 7})" for i in range(500))
        server.sql(f"INSERT INTO legacy.pages VALUES {rows};")
        yield server
    finally:
        server.stop()


@dataclass
class Sshd:
    port: int
    identity: Path
    known_hosts: Path
    proc: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not Path("/usr/sbin/sshd").exists():
        pytest.skip("openssh-server is not installed")
    if os.geteuid() != 0:
        pytest.skip("the sshd test runs as root (it logs in as the current user)")
    base = tmp_path_factory.mktemp("sshd")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    for name in ("host_key", "id_ed25519"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)],
            check=True,
            timeout=30,
        )
    (base / "authorized_keys").write_text((base / "id_ed25519.pub").read_text())
    port = free_port()
    config = base / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host_key'}\n"
        f"AuthorizedKeysFile {base / 'authorized_keys'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nStrictModes no\nUsePAM no\n"
        "PermitRootLogin prohibit-password\n"
        f"PidFile {base / 'sshd.pid'}\nSubsystem sftp internal-sftp\n"
    )
    host_pub = (base / "host_key.pub").read_text().split()
    known = base / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    log = (base / "sshd.log").open("ab")
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stderr=log)
    log.close()
    try:
        _wait_port(port, proc, "sshd")
        yield Sshd(port, base / "id_ed25519", known, proc)
    finally:
        _stop(proc)


@dataclass
class Mailbox:
    port: int
    messages: list[tuple[list[str], str]] = field(default_factory=list)

    def subjects(self) -> list[str]:
        import email

        return [str(email.message_from_string(m)["Subject"]) for _, m in self.messages]


@pytest.fixture(scope="session")
def smtp() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox(free_port())

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            content = envelope.content  # type: ignore[attr-defined]
            text = content.decode() if isinstance(content, bytes) else content
            box.messages.append((list(envelope.rcpt_tos), text))  # type: ignore[attr-defined]
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
