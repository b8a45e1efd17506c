"""Builds minimal kernel-module ELF files (a .modinfo section and little else) for fixture trees,
so that the real modinfo and depmod from kmod read them as they read a distribution's modules."""

from __future__ import annotations

import struct
from pathlib import Path


def build_ko(modinfo: dict[str, str]) -> bytes:
    """An ELF64 little-endian relocatable object whose .modinfo holds ``key=value`` strings."""
    info = b"".join(f"{k}={v}".encode() + b"\0" for k, v in modinfo.items())
    this_module = b"\0" * 64
    shstrtab = b"\0.modinfo\0.gnu.linkonce.this_module\0.shstrtab\0.symtab\0.strtab\0"
    strtab = b"\0"
    symtab = b"\0" * 24  # the null symbol
    names = {".modinfo": 1, ".gnu.linkonce.this_module": 10, ".shstrtab": 36, ".symtab": 46}
    names[".strtab"] = 54
    body = b""
    offsets = []
    for blob in (info, this_module, shstrtab, symtab, strtab):
        while (64 + len(body)) % 8:
            body += b"\0"
        offsets.append(64 + len(body))
        body += blob
    while (64 + len(body)) % 8:
        body += b"\0"
    shoff = 64 + len(body)
    sections = [struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]
    specs = [
        (".modinfo", 1, 2, info, 0, 0, 1, 0),
        (".gnu.linkonce.this_module", 1, 3, this_module, 0, 0, 8, 0),
        (".shstrtab", 3, 0, shstrtab, 0, 0, 1, 0),
        (".symtab", 2, 0, symtab, 5, 1, 8, 24),
        (".strtab", 3, 0, strtab, 0, 0, 1, 0),
    ]
    for (name, kind, flags, blob, link, info_field, align, entsize), offset in zip(
        specs, offsets, strict=True
    ):
        sections.append(
            struct.pack(
                "<IIQQQQIIQQ",
                names[name],
                kind,
                flags,
                0,
                offset,
                len(blob),
                link,
                info_field,
                align,
                entsize,
            )
        )
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    header += struct.pack(
        "<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(sections), 3
    )
    return header + body + b"".join(sections)


def install_module(root: Path, kernel: str, srcversion: str, name: str = "openvswitch") -> Path:
    """Put an openvswitch.ko for ``kernel`` under root/lib/modules (run depmod afterwards)."""
    target = root / "lib" / "modules" / kernel / "kernel" / "net" / name / f"{name}.ko"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(
        build_ko(
            {
                "license": "GPL",
                "description": "Open vSwitch switching datapath",
                "srcversion": srcversion,
                "depends": "",
                "name": name,
                "vermagic": f"{kernel} SMP mod_unload modversions ",
            }
        )
    )
    return target
