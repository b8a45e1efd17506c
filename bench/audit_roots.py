"""``audit get`` over thousands of container roots, beside the operators' shell loop.

The loop operators run today (it follows symbolic links out of the containers and hangs on a
FIFO, which is why it is replaced; here every root holds a plain file so that it finishes):

    for d in /vz/private/*; do echo "$d $(grep '^LF_INTEGRITY' $d/etc/csf/csf.conf)"; done

Both run on the same 2000 roots in a temporary directory; the figures are wall-clock seconds of
the best of three runs, in process for stackwatch (read_all) and as the command (`stackwatch audit
get`, Python start included). Run: python3 bench/audit_roots.py [ROOTS]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stackwatch.audit.read import read_all
from stackwatch.core.host import Host

CSF = 'TESTING = "0"\nLF_INTEGRITY = "{}"\nLF_DAEMON = "1"\n' + "# filler line\n" * 200


def make_roots(base: Path, count: int) -> None:
    for number in range(count):
        conf = base / str(1000 + number) / "etc" / "csf"
        conf.mkdir(parents=True)
        (conf / "csf.conf").write_text(CSF.format(3600 if number % 7 else 0))


def best(run: object, rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        make_roots(base, count)
        glob = f"{base}/*"
        loop = (
            f"for d in {base}/*; do echo \"$d $(grep '^LF_INTEGRITY' $d/etc/csf/csf.conf)\"; done"
        )
        rows = read_all(Host("/"), glob, "etc/csf/csf.conf", ["LF_INTEGRITY"])
        assert len(rows) == count and all(r.problem is None for r in rows)
        inproc = best(lambda: read_all(Host("/"), glob, "etc/csf/csf.conf", ["LF_INTEGRITY"]))
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
        argv = [
            sys.executable,
            "-m",
            "stackwatch.cli",
            "audit",
            "get",
            "LF_INTEGRITY",
            "--roots",
            glob,
            "--file",
            "etc/csf/csf.conf",
        ]
        command = best(lambda: subprocess.run(argv, env=env, capture_output=True, check=True))
        shell = best(lambda: subprocess.run(["bash", "-c", loop], capture_output=True, check=True))
    print(f"{count} container roots")
    print(f"  shell loop (grep per root)      {shell:7.3f} s")
    print(f"  stackwatch audit get (command)  {command:7.3f} s   {shell / command:5.1f}x faster")
    print(f"  read_all in process             {inproc:7.3f} s   {shell / inproc:5.1f}x faster")


if __name__ == "__main__":
    main()
