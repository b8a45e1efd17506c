from pathlib import Path

import pytest

from stackwatch.core.config import ConfigError, build, load_config
from stackwatch.core.ranges import Range, parse_range
from stackwatch.core.record import dataclass, field


@dataclass(frozen=True)
class Options:
    warning: Range | None = field(default_factory=lambda: parse_range("75"))
    limit: int = 5
    ratio: float = 0.5
    names: list[str] = field(default_factory=list)
    enabled: bool = True


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stackwatch.toml"
    path.write_text(text)
    return path


def test_check_options_from_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[checks.demo]\nwarning = "10:20"\nlimit = 7\nratio = 1\nnames = ["a"]\n'
    )
    options = load_config(path, required=True).check_options("demo", Options)
    assert options == Options(parse_range("10:20"), 7, 1.0, ["a"], True)


def test_defaults_when_section_absent(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), required=True)
    assert config.check_options("demo", Options) == Options()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[checks.demo]\nlimt = 3\n", r"checks\.demo\.limt: unknown key"),
        ('[checks.demo]\nlimit = "3"\n', r"checks\.demo\.limit: expected an integer"),
        ("[checks.demo]\nenabled = 1\n", r"checks\.demo\.enabled: expected true or false"),
        ('[checks.demo]\nwarning = "10:5"\n', r"checks\.demo\.warning: invalid range"),
        ("[checks.demo]\nnames = [1]\n", r"checks\.demo\.names\[0\]: expected a string"),
        ("[checks]\ndemo = 3\n", r"checks\.demo: expected a table"),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path, required=True).check_options("demo", Options)
    assert str(path) in str(info.value)


def test_unknown_section_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="chekcs: unknown section"):
        load_config(write(tmp_path, "[chekcs]\n"), required=True)
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[checks\n"), required=True)
    with pytest.raises(ConfigError, match="not UTF-8"):
        path = tmp_path / "bin.toml"
        path.write_bytes(b"\xff\xfe[")
        load_config(path, required=True)


def test_missing_file(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.toml", required=False).data == {}
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml", required=True)


def test_dashed_keys_accepted() -> None:
    @dataclass(frozen=True)
    class Dashed:
        keep_last: int = 1

    assert build(Dashed, {"keep-last": 3}, "x") == Dashed(3)


def test_parsed_configuration_is_reused_until_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tomllib

    cache = tmp_path / "state"
    cache.mkdir()
    path = write(tmp_path, '[checks.conntrack]\nwarning = "80"\n')
    first = load_config(path, required=True, cache_dir=str(cache))
    assert (cache / "config-cache.json").exists()

    def parsed_again(text: str) -> None:
        raise AssertionError("the unchanged file was parsed again")

    monkeypatch.setattr(tomllib, "loads", parsed_again)
    assert load_config(path, required=True, cache_dir=str(cache)).data == first.data
    monkeypatch.undo()
    path.write_text('[checks.conntrack]\nwarning = "90"\n')
    changed = load_config(path, required=True, cache_dir=str(cache))
    assert changed.data["checks"]["conntrack"]["warning"] == "90"


@pytest.mark.parametrize(
    "cached",
    [
        b"\x00\xffgarbage",
        b'{"text": "[checks.conntrack]\\nwarning = \\"80\\"\\n", "data": [1]}',
        b'{"text": "something else", "data": {"checks": {}}}',
        b"[]",
    ],
)
def test_a_cache_that_does_not_fit_is_ignored(tmp_path: Path, cached: bytes) -> None:
    cache = tmp_path / "state"
    cache.mkdir()
    (cache / "config-cache.json").write_bytes(cached)
    path = write(tmp_path, '[checks.conntrack]\nwarning = "80"\n')
    loaded = load_config(path, required=True, cache_dir=str(cache))
    assert loaded.data == {"checks": {"conntrack": {"warning": "80"}}}


def test_invalid_toml_is_refused_whatever_the_cache_holds(tmp_path: Path) -> None:
    cache = tmp_path / "state"
    cache.mkdir()
    path = write(tmp_path, "[checks.conntrack\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="invalid TOML"):
            load_config(path, required=True, cache_dir=str(cache))
