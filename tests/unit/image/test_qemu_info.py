"""qemu-img's JSON read as facts: images that read other files are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.image.qemu import ImageError, parse_info

STREAM_OPTIMIZED = {
    "virtual-size": 67108864,
    "filename": "/x/t.vmdk",
    "cluster-size": 65536,
    "format": "vmdk",
    "actual-size": 12288,
    "format-specific": {
        "type": "vmdk",
        "data": {
            "cid": 3695837262,
            "parent-cid": 4294967295,
            "create-type": "streamOptimized",
            "extents": [{"compressed": True, "virtual-size": 67108864, "filename": "/x/t.vmdk"}],
        },
    },
    "dirty-flag": False,
}


def test_stream_optimized_vmdk_as_qemu_img_prints_it() -> None:
    info = parse_info(json.dumps(STREAM_OPTIMIZED), "/x/t.vmdk")
    assert (info.format, info.virtual_size, info.subformat) == ("vmdk", 64 << 20, "streamOptimized")


def _with(**changes: Any) -> str:
    data = json.loads(json.dumps(STREAM_OPTIMIZED))
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_with(**{"backing-filename": "/etc/shadow"}), "backing file"),
        (
            _with(
                format="qcow2",
                **{"format-specific": {"type": "qcow2", "data": {"data-file": "/d"}}},
            ),
            "external data file",
        ),
        (
            _with(
                **{
                    "format-specific": {
                        "type": "vmdk",
                        "data": {
                            "create-type": "monolithicFlat",
                            "extents": [{"filename": "/etc/passwd"}],
                        },
                    }
                }
            ),
            "another file",
        ),
        (
            _with(**{"format-specific": {"type": "vmdk", "data": {"create-type": "vmfs"}}}),
            "VMDK type",
        ),
        (_with(format="luks"), "unsupported image format"),
        (_with(**{"virtual-size": -1}), "no virtual size"),
        ("[]", "not an object"),
        ("qemu-img: Could not open", "no JSON"),
    ],
)
def test_refused(text: str, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        parse_info(text, "/x/t.vmdk")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "format",
                    "virtual-size",
                    "backing-filename",
                    "format-specific",
                    "data",
                    "extents",
                    "filename",
                    "create-type",
                    "data-file",
                    "type",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_any_json_gives_facts_or_one_image_error(value: object) -> None:
    try:
        parse_info(json.dumps(value), "/x/t.vmdk")
    except ImageError as exc:
        assert "\n" not in str(exc)
