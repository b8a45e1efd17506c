"""The layout file: the classic OpenStack host parses; bad files are refused with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.ovs.layout import LayoutError, dump_layout, load_layout, parse_layout

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ovs"


def test_classic_openstack_layout() -> None:
    layout = load_layout(str(FIXTURES / "openstack-compute.yaml"))
    assert [b.name for b in layout.bridges] == ["br-int", "br-tun", "br-ex"]
    br_int = layout.bridge("br-int")
    assert br_int is not None and br_int.fail_mode == "secure"
    br_ex = layout.bridge("br-ex")
    assert br_ex is not None
    bond = br_ex.ports[0]
    assert bond.members == ("em1", "em2") and bond.bond_mode == "balance-slb"
    assert bond.lacp == "off"  # YAML's bare off is read as the text, not false
    mgmt = br_ex.ports[1]
    assert (mgmt.type, mgmt.tag, mgmt.address) == ("internal", 15, "10.0.15.11/24")
    vxlan = layout.bridge("br-tun").ports[1]  # type: ignore[union-attr]
    assert vxlan.options == {"remote_ip": "10.0.0.2", "key": "flow"}


def test_dump_reads_back_to_the_same_layout() -> None:
    layout = load_layout(str(FIXTURES / "openstack-compute.yaml"))
    again = parse_layout(dump_layout(layout), "dumped")
    assert again.bridges == tuple(
        type(b)(**{**b.__dict__, "line": a.line, "ports": a.ports})
        for a, b in zip(again.bridges, layout.bridges, strict=True)
    )
    assert [p.name for b in again.bridges for p in b.ports] == [
        p.name for b in layout.bridges for p in b.ports
    ]
    assert dump_layout(again) == dump_layout(layout)


BAD = [
    (
        "bridges:\n  br0:\n    fail_mode: secure\n    colour: red\n",
        4,
        "unknown key 'colour'",
    ),
    (
        "bridges:\n  br0:\n    ports:\n      p1: {type: internal}\n      p1: {type: internal}\n",
        5,
        "duplicate key 'p1'",
    ),
    (
        "bridges:\n  br0:\n    ports:\n      p1: {}\n  br1:\n    ports:\n      p1: {}\n",
        7,
        "duplicate port 'p1'",
    ),
    (
        "bridges:\n  br0:\n    ports:\n      bond0:\n        members: [em1]\n",
        5,
        "at least two members",
    ),
    (
        "bridges:\n  br0:\n    ports:\n      mgmt: {type: internal, tag: 4095}\n",
        4,
        "out of range 1-4094",
    ),
    ("bridges:\n  br0:\n    ports:\n      mgmt: {type: internal, tag: 0}\n", 4, "1-4094"),
    (
        "bridges:\n  br0:\n    ports:\n      b0: {members: [em1, em2]}\n"
        "      b1: {members: [em2, em3]}\n",
        5,
        "duplicate interface 'em2'",
    ),
    ("bridges:\n  br0:\n    ports:\n      t0: {type: vxlan}\n", 4, "needs options.remote_ip"),
    ("bridges:\n  br0:\n    ports:\n      p: {type: patch}\n", 4, "needs a peer"),
    ("bridges:\n  br0:\n    fail_mode: open\n", 3, "'open' is not one of secure, standalone"),
    ("bridges:\n  br0: [1, 2]\n", 2, "expected a mapping"),
    ("bridges:\n  br0:\n    ports: {p: {tag: [1]}}\n", 3, "expected a single value"),
    ("bridges: {br0: {ports: {p: {type: internal, address: nonsense}}}}\n", 1, "address"),
    ("bridges:\n  br0:\n  br0:\n", 3, "duplicate key 'br0'"),
    ("bridges:\n  - br0\n", 2, "expected a mapping"),
    ("bridges:\n  br0: {ports: {a: {\n", 3, "not valid YAML"),
    ("routers: {}\n", 1, "unknown key 'routers'"),
    ("bridges:\n  this-name-is-too-long: {}\n", 2, "longer than 15"),
]


@pytest.mark.parametrize(("text", "line", "reason"), BAD)
def test_bad_layouts_are_refused_with_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(LayoutError) as caught:
        parse_layout(text, "hosts/compute.yaml")
    message = str(caught.value)
    assert message.startswith(f"hosts/compute.yaml:{line}: "), message
    assert reason in message


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="cannot read layout"):
        load_layout(str(tmp_path / "missing.yaml"))
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00bridges")
    with pytest.raises(LayoutError, match="not UTF-8"):
        load_layout(str(binary))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_is_a_layout_or_a_clear_error(text: str) -> None:
    try:
        parse_layout(text, "fuzz.yaml")
    except LayoutError as exc:
        assert str(exc).startswith("fuzz.yaml")


KEYS = st.sampled_from(
    ["bridges", "br0", "ports", "type", "tag", "members", "internal", "patch", "peer", "p1"]
)
YAMLISH = st.recursive(
    st.one_of(KEYS, st.integers(-5, 5000), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(YAMLISH)
def test_structured_garbage_is_a_layout_or_a_clear_error(data: object) -> None:
    import yaml

    text = yaml.safe_dump({"bridges": data})
    try:
        parse_layout(text, "fuzz.yaml")
    except LayoutError as exc:
        assert str(exc).startswith("fuzz.yaml")


def test_a_layout_over_the_limit_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    with pytest.raises(LayoutError, match=r"big.yaml: layout larger than 4 MiB"):
        load_layout(str(big))
    with pytest.raises(LayoutError, match=r"^/dev/zero: layout larger than 4 MiB$"):
        load_layout("/dev/zero")  # endless: read to one byte past the limit, no further


def test_a_relative_path_is_read_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "here.yaml").write_text("bridges:\n  br0: {}\n  br0: {}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LayoutError) as caught:
        load_layout("here.yaml")
    # the error names the file as the user wrote it, with the line
    assert str(caught.value).startswith("here.yaml:3: bridges: duplicate key 'br0'")
