"""State between runs is never trusted blindly, and is kept whoever runs the checks.

A state file of the right syntax but the wrong shape, nesting or values (negative, huge, NaN,
infinity) starts the rates over with a note; it never becomes a traceback or a false alarm. Where
the state directory is not writable (the ``nagios`` user under NRPE), the state moves to the
user's own directory and the output says where; state that cannot be kept at all is said in the
plugin's own output as a WARNING.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackwatch.core.config import Config
from stackwatch.core.engine import run_checks
from stackwatch.core.host import Host
from stackwatch.core.registry import get_check
from stackwatch.core.result import Status
from stackwatch.core.state import StateStore, user_state_dir

STAT = (
    "entries  found new invalid ignore delete delete_list insert insert_failed drop early_drop\n"
    "00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 "
    "00000001 00000000\n"
)


def _root(tmp: Path) -> Path:
    root = tmp / "root"
    netfilter = root / "proc/sys/net/netfilter"
    netfilter.mkdir(parents=True, exist_ok=True)
    (netfilter / "nf_conntrack_count").write_text("100\n")
    (netfilter / "nf_conntrack_max").write_text("65536\n")
    (root / "proc/net/stat").mkdir(parents=True, exist_ok=True)
    (root / "proc/net/stat/nf_conntrack").write_text(STAT)
    return root


def _conntrack(root: Path, store: StateStore) -> object:
    (result,) = run_checks([get_check("conntrack")], Host(root), Config(None, {}), store)
    return result


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
shaped = st.fixed_dictionaries(
    {"drops": st.fixed_dictionaries({"time": json_values, "counters": json_values})}
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(json_values, shaped))
def test_any_state_content_never_breaks_or_alarms(tmp_path: Path, content: object) -> None:
    root = _root(tmp_path)
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    (state / "conntrack.json").write_text(json.dumps(content))
    result = _conntrack(root, StateStore(state))
    assert result.status is Status.OK, result  # 100 of 65536 entries: nothing to alarm about
    assert "internal error" not in result.summary


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_state_discard_it_with_a_note(tmp_path: Path, constant: str) -> None:
    root = _root(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    text = '{"drops": {"time": TIME, "counters": {"drop": 1}}}'.replace("TIME", constant)
    (state / "conntrack.json").write_text(text)
    result = _conntrack(root, StateStore(state))
    assert result.status is Status.OK
    assert any("corrupt; discarded" in d for d in result.details)


def test_deeply_nested_state_is_discarded(tmp_path: Path) -> None:
    root = _root(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    (state / "conntrack.json").write_text("[" * 100_000 + "]" * 100_000)
    result = _conntrack(root, StateStore(state))
    assert result.status is Status.OK
    assert any("discarded" in d for d in result.details)


def test_unwritable_state_dir_falls_back_to_the_users_own_and_rates_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    unwritable = Path("/proc/stackwatch-cannot-be-here")  # no one can create a directory there
    first = _conntrack(root, StateStore(unwritable, fallback=True))
    assert first.status is Status.OK
    assert any(f"state kept in {tmp_path / 'xdg' / 'stackwatch'}" in d for d in first.details)
    assert any("first run" in d for d in first.details)
    second = _conntrack(root, StateStore(unwritable, fallback=True))
    assert not any("first run" in d for d in second.details), second.details
    assert "drop_rate" in [m.name for m in second.metrics]


def test_state_that_cannot_be_kept_is_a_warning_in_the_plugin_output(tmp_path: Path) -> None:
    root = _root(tmp_path)
    result = _conntrack(root, StateStore(Path("/proc/stackwatch-cannot-be-here")))
    assert result.status is Status.WARNING
    assert "cannot save state" in result.summary
    assert any("cannot save state" in d for d in result.details)


def test_user_state_dir_never_takes_someone_elses_tmp_directory(tmp_path: Path) -> None:
    env = {"HOME": "/nonexistent"}
    chosen = user_state_dir(env)
    assert chosen is None or chosen.startswith("/tmp/stackwatch-")
    assert user_state_dir({"XDG_STATE_HOME": str(tmp_path)}) == str(tmp_path / "stackwatch")


def test_a_fifo_or_device_in_place_of_the_state_never_hangs_the_check(tmp_path: Path) -> None:
    import os

    root = _root(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    os.mkfifo(state / "conntrack.json")  # nobody ever writes to it: a plain read would block
    result = _conntrack(root, StateStore(state))
    assert result.status is Status.OK
    assert any("not a regular file" in d for d in result.details)


def test_a_fifo_in_place_of_the_configuration_is_a_clear_error(tmp_path: Path) -> None:
    import os

    from tests.conftest import run_stackwatch

    os.mkfifo(tmp_path / "c.toml")
    done = run_stackwatch("check", "conntrack", "--config", str(tmp_path / "c.toml"), timeout=20)
    assert done.returncode == 3
    assert "not a regular file" in done.stderr and "Traceback" not in done.stderr


def test_dev_null_is_an_empty_configuration_and_dev_zero_is_refused(tmp_path: Path) -> None:
    from tests.conftest import run_stackwatch

    empty = run_stackwatch("check", "conntrack", "--config", "/dev/null", timeout=30)
    assert empty.returncode in (0, 1, 2, 3) and "cannot read configuration" not in empty.stderr
    endless = run_stackwatch("check", "conntrack", "--config", "/dev/zero", timeout=30)
    assert endless.returncode == 3 and "larger than" in endless.stderr
