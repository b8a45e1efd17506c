from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stackwatch.core.config import ConfigError, build, load_config
from stackwatch.core.ranges import Range, parse_range


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
