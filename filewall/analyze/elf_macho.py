"""Linux (ELF) and macOS (Mach-O) programs: architecture and type, read from the headers.

Nothing here changes the verdict — any program from a customer is ``type.executable``
already — but the tree shows *what* it is (``x86-64 executable``, ``arm64 shared
library``, a universal binary for two architectures, signed or not), which helps whoever
follows up. Only the fixed headers and the load-command / program-header tables are read,
each bounded in count and checked against the file size, so hostile headers cannot make
it loop or read past the end.
"""

from __future__ import annotations

import struct

from ..registry import analyzer

#: Bounds on the tables walked (real binaries have tens of entries).
MAX_PROGRAM_HEADERS = 256
MAX_LOAD_COMMANDS = 512
MAX_FAT_ARCHES = 16

ELF_TYPES = {0: "none", 1: "relocatable object", 2: "executable", 3: "shared library", 4: "core dump"}
ELF_MACHINES = {
    2: "sparc",
    3: "x86",
    8: "mips",
    20: "powerpc",
    21: "powerpc64",
    22: "s390",
    40: "arm",
    42: "superh",
    50: "itanium",
    62: "x86-64",
    183: "arm64",
    243: "riscv",
    247: "bpf",
    258: "loongarch",
}
ELF_OSABI = {
    0: "System V",
    3: "Linux",
    6: "Solaris",
    9: "FreeBSD",
    12: "OpenBSD",
    97: "ARM",
    255: "standalone",
}
_PT_INTERP, _PT_DYNAMIC = 3, 2

MACHO_CPUS = {
    7: "x86",
    0x01000007: "x86-64",
    12: "arm",
    0x0100000C: "arm64",
    0x0200000C: "arm64_32",
    18: "powerpc",
    0x01000012: "powerpc64",
}
MACHO_TYPES = {
    1: "relocatable object",
    2: "executable",
    3: "fixed VM library",
    4: "core dump",
    5: "preloaded executable",
    6: "shared library",
    7: "dynamic linker",
    8: "bundle",
    9: "library stub",
    10: "debug symbols",
    11: "kernel extension",
}
_LC_CODE_SIGNATURE, _LC_MAIN, _LC_LOAD_DYLIB, _LC_ENCRYPTION_INFO, _LC_ENCRYPTION_INFO_64 = (
    0x1D,
    0x80000028,
    0xC,
    0x21,
    0x2C,
)


class HeaderError(ValueError):
    """The header is cut short or inconsistent."""


@analyzer("elf", name="elf_macho.analyze_elf", order=20)
def analyze_elf(node, content, ctx) -> None:
    """Fill ``node.info["elf"]`` with class, byte order, OS ABI, machine and type."""
    try:
        node.info["elf"] = parse_elf(content.head(64 * 1024), content.size)
    except (HeaderError, struct.error) as error:
        node.info["elf"] = {"error": str(error) or "header cut short"}


@analyzer("macho", name="elf_macho.analyze_macho", order=20)
def analyze_macho(node, content, ctx) -> None:
    """Fill ``node.info["macho"]`` with CPU, type, flags and signature (per slice if fat)."""
    try:
        node.info["macho"] = parse_macho(content.view(), content.size)
    except (HeaderError, struct.error) as error:
        node.info["macho"] = {"error": str(error) or "header cut short"}


# -- ELF ---------------------------------------------------------------------------------------------


def parse_elf(head: bytes, size: int) -> dict:
    """Describe an ELF file from its first bytes (the program headers must be in ``head``)."""
    if len(head) < 52 or head[:4] != b"\x7fELF":
        raise HeaderError("not an ELF header")
    bits = {1: 32, 2: 64}.get(head[4])
    order = {1: "<", 2: ">"}.get(head[5])
    if bits is None or order is None:
        raise HeaderError("unknown ELF class or byte order")
    if bits == 64:
        e_type, machine, _, entry, phoff = struct.unpack_from(order + "HHIQQ", head, 16)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
    else:
        e_type, machine, _, entry, phoff = struct.unpack_from(order + "HHIII", head, 16)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 42)
    info = {
        "bits": bits,
        "byte_order": "little" if order == "<" else "big",
        "os_abi": ELF_OSABI.get(head[7], str(head[7])),
        "machine": ELF_MACHINES.get(machine, str(machine)),
        "type": ELF_TYPES.get(e_type, hex(e_type)),
        "entry_point": entry,
    }
    interpreter, dynamic = _elf_segments(head, size, order, bits, phoff, phentsize, phnum)
    if interpreter:
        info["interpreter"] = interpreter
    info["dynamically_linked"] = dynamic
    # A position-independent executable is type "shared library" with an interpreter.
    if e_type == 3 and interpreter:
        info["type"] = "executable (position-independent)"
    return info


def _elf_segments(head: bytes, size: int, order: str, bits: int, phoff: int, phentsize: int, phnum: int):
    if not phnum:
        return None, False
    if (
        phnum > MAX_PROGRAM_HEADERS
        or phentsize < (56 if bits == 64 else 32)
        or phoff + phnum * phentsize > size
    ):
        raise HeaderError("program header table out of bounds")
    interpreter, dynamic = None, False
    for index in range(phnum):
        start = phoff + index * phentsize
        if start + phentsize > len(head):
            break  # beyond the head we were given; what we saw is still right
        p_type = struct.unpack_from(order + "I", head, start)[0]
        if bits == 64:
            offset, filesz = (
                struct.unpack_from(order + "Q", head, start + 8)[0],
                struct.unpack_from(order + "Q", head, start + 32)[0],
            )
        else:
            offset, filesz = (
                struct.unpack_from(order + "I", head, start + 4)[0],
                struct.unpack_from(order + "I", head, start + 16)[0],
            )
        if p_type == _PT_DYNAMIC:
            dynamic = True
        elif p_type == _PT_INTERP and filesz < 4096 and offset + filesz <= len(head):
            interpreter = head[offset : offset + filesz].split(b"\x00", 1)[0].decode("utf-8", "replace")
    return interpreter, dynamic


# -- Mach-O --------------------------------------------------------------------------------------------


def parse_macho(data, size: int) -> dict:
    """Describe a thin or universal (fat) Mach-O file."""
    magic = bytes(data[:4])
    if magic == b"\xca\xfe\xba\xbe":
        return _parse_fat(data, size)
    return _parse_thin(data, 0, size)


def _parse_fat(data, size: int) -> dict:
    count = struct.unpack_from(">I", data, 4)[0]
    if not 0 < count <= MAX_FAT_ARCHES:
        raise HeaderError(f"implausible number of architectures ({count})")
    slices = []
    for index in range(count):
        cpu, _, offset, length, _ = struct.unpack_from(">iiIII", data, 8 + index * 20)
        if offset + length > size or offset < 8 + count * 20:
            slices.append(
                {
                    "cpu": MACHO_CPUS.get(cpu & 0xFFFFFFFF, hex(cpu & 0xFFFFFFFF)),
                    "error": "slice out of bounds",
                }
            )
            continue
        slices.append(_parse_thin(data, offset, offset + length))
    return {
        "universal": True,
        "architectures": [item.get("cpu") for item in slices],
        "slices": slices,
        "signed": bool(slices) and all(item.get("signed") for item in slices),
    }


def _parse_thin(data, start: int, end: int) -> dict:
    magic = bytes(data[start : start + 4])
    if magic in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe"):
        order = "<"
    elif magic in (b"\xfe\xed\xfa\xcf", b"\xfe\xed\xfa\xce"):
        order = ">"
    else:
        raise HeaderError("not a Mach-O header")
    bits = 64 if magic in (b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xcf") else 32
    cpu, _, filetype, ncmds, sizeofcmds, flags = struct.unpack_from(order + "iiIIII", data, start + 4)
    info = {
        "bits": bits,
        "cpu": MACHO_CPUS.get(cpu & 0xFFFFFFFF, hex(cpu & 0xFFFFFFFF)),
        "type": MACHO_TYPES.get(filetype, hex(filetype)),
        "pie": bool(flags & 0x200000),
        "load_commands": ncmds,
    }
    info.update(_load_commands(data, start + (32 if bits == 64 else 28), end, order, ncmds, sizeofcmds))
    return info


def _load_commands(data, offset: int, end: int, order: str, ncmds: int, sizeofcmds: int) -> dict:
    if ncmds > MAX_LOAD_COMMANDS or offset + sizeofcmds > end:
        raise HeaderError("load commands out of bounds")
    found = {"signed": False, "encrypted": False, "libraries": []}
    position, limit = offset, offset + sizeofcmds
    for _ in range(ncmds):
        if position + 8 > limit:
            break
        command, length = struct.unpack_from(order + "II", data, position)
        if length < 8 or position + length > limit:
            raise HeaderError("load command out of bounds")
        if command == _LC_CODE_SIGNATURE:
            found["signed"] = True
        elif command in (_LC_ENCRYPTION_INFO, _LC_ENCRYPTION_INFO_64):
            found["encrypted"] = struct.unpack_from(order + "I", data, position + 16)[0] != 0
        elif command == _LC_LOAD_DYLIB and len(found["libraries"]) < 32:
            name_offset = struct.unpack_from(order + "I", data, position + 8)[0]
            raw = bytes(data[position + name_offset : position + length]) if name_offset < length else b""
            found["libraries"].append(raw.split(b"\x00", 1)[0].decode("utf-8", "replace"))
        position += length
    return found
