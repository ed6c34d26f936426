"""Selenium's event bus, started without its fixed second.

Every Grid server (the hub and each node) builds a ZeroMQ event bus at start, and its constructor
(`UnboundZmqEventBus`) waits for its own poller thread in steps of a whole second: the poller runs
within ~150 ms, yet the server sleeps 1000 ms before "Event bus ready". On `farm up` that second
lies on the way to every slot, once for the hub and once for each node.

The images farm builds carry a copy of that one class whose step is 10 ms, in a small jar ahead of
the server's on the class path. The wait itself stays (the poller must have started, as upstream
intends); only its step changes, and nothing else in the class or the jar. The class is patched, not
rewritten, because it is Selenium's own: a rewrite would have to follow its wire format and threads
release by release. A class that does not hold exactly one such constant (another Selenium release)
is left alone, and the images then start as upstream's do.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

EVENT_BUS_CLASS = "org/openqa/selenium/events/zeromq/UnboundZmqEventBus.class"
UPSTREAM_STEP_MS = 1000
STEP_MS = 10
PATCH_ID = f"event-bus-step-{STEP_MS}ms-1"  # part of the images' content hash
_LONG = 5
_DOUBLE = 6
# Constant pool entry sizes after the tag byte (JVM spec 4.4); Utf8 is sized by its length field.
_SIZES = {3: 4, 4: 4, _LONG: 8, _DOUBLE: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4, 15: 3, 16: 2, 17: 4, 18: 4, 19: 2, 20: 2}


def long_constants(class_bytes: bytes, value: int) -> list[int]:
    """Offsets of the 8-byte values of the class's CONSTANT_Long entries equal to `value`."""
    if class_bytes[:4] != b"\xca\xfe\xba\xbe":
        raise ValueError("not a class file")
    (count,) = struct.unpack_from(">H", class_bytes, 8)
    offset, index, found = 10, 1, []
    while index < count:
        tag = class_bytes[offset]
        if tag == 1:
            (length,) = struct.unpack_from(">H", class_bytes, offset + 1)
            offset += 3 + length
            index += 1
            continue
        if tag not in _SIZES:
            raise ValueError(f"unknown constant pool tag {tag} at byte {offset}")
        if tag == _LONG and struct.unpack_from(">q", class_bytes, offset + 1)[0] == value:
            found.append(offset + 1)
        offset += 1 + _SIZES[tag]
        index += 2 if tag in (_LONG, _DOUBLE) else 1  # 8-byte constants take two slots
    return found


def patched_class(class_bytes: bytes) -> bytes | None:
    """The event bus class with its wait step at STEP_MS, or None if it is not the class expected."""
    offsets = long_constants(class_bytes, UPSTREAM_STEP_MS)
    if len(offsets) != 1:
        return None
    at = offsets[0]
    return class_bytes[:at] + struct.pack(">q", STEP_MS) + class_bytes[at + 8 :]


def write_patch_jar(server_jar: Path, dest: Path) -> bool:
    """Write the jar holding the patched class to `dest`; False (and no file) if the server's class
    is missing or not the one this patch knows (an image build goes on without it)."""
    with zipfile.ZipFile(server_jar) as jar:
        try:
            patched = patched_class(jar.read(EVENT_BUS_CLASS))
        except (KeyError, ValueError):
            return False
    if patched is None:
        return False
    entry = zipfile.ZipInfo(EVENT_BUS_CLASS, date_time=(1980, 1, 1, 0, 0, 0))  # the same bytes every build
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as jar:
        jar.writestr(entry, patched)
    return True
