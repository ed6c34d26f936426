"""The event bus patch changes the one wait step of Selenium's event bus class and nothing else."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from farm.infra import event_bus_patch
from farm.infra.event_bus_patch import EVENT_BUS_CLASS, long_constants, patched_class, write_patch_jar


def utf8(text: str) -> bytes:
    data = text.encode()
    return b"\x01" + struct.pack(">H", len(data)) + data


def long(value: int) -> bytes:
    return b"\x05" + struct.pack(">q", value)


def class_file(*entries: bytes, slots: int) -> bytes:
    """A class file's head and constant pool (`slots` counts the 8-byte constants twice), then a body."""
    return b"\xca\xfe\xba\xbe\x00\x00\x00\x3d" + struct.pack(">H", slots + 1) + b"".join(entries) + b"\x00\x21BODY"


def a_bus_class(*longs: int) -> bytes:
    """Like Selenium's: strings, an int, a double whose bytes hold 1000L's, a method ref, the longs."""
    entries = [
        utf8("Event bus ready"),
        b"\x03" + struct.pack(">i", 1000),  # an int 1000 is not the wait
        b"\x06" + struct.pack(">q", 1000),  # nor a double with the same bits
        b"\x0a\x00\x01\x00\x02",
        *(long(v) for v in longs),
        utf8("sleep"),
    ]
    return class_file(*entries, slots=6 + 2 * len(longs))


def test_the_one_long_1000_becomes_the_step_and_nothing_else_changes():
    original = a_bus_class(5, 1000, 10)
    patched = patched_class(original)
    assert patched is not None and len(patched) == len(original)
    assert long_constants(patched, 1000) == [] and len(long_constants(patched, event_bus_patch.STEP_MS)) == 2
    changed = [i for i, (a, b) in enumerate(zip(original, patched, strict=True)) if a != b]
    (at,) = long_constants(original, 1000)
    assert changed and all(at <= i < at + 8 for i in changed)
    assert patched.endswith(b"BODY")


@pytest.mark.parametrize("longs", [(), (5, 10), (1000, 1000)])
def test_a_class_without_exactly_one_such_constant_is_left_alone(longs):
    assert patched_class(a_bus_class(*longs)) is None


def test_a_file_that_is_not_a_class_is_refused():
    with pytest.raises(ValueError, match="not a class file"):
        patched_class(b"PK\x03\x04 not a class")


def test_an_unknown_constant_tag_is_refused_rather_than_misread():
    with pytest.raises(ValueError, match="unknown constant pool tag 2"):
        long_constants(class_file(b"\x02\x00\x00", long(1000), slots=3), 1000)


def server_jar(path: Path, bus_class: bytes | None) -> Path:
    with zipfile.ZipFile(path, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Main-Class: org.openqa.selenium.grid.Bootstrap\n")
        if bus_class is not None:
            jar.writestr(EVENT_BUS_CLASS, bus_class)
    return path


def test_the_patch_jar_holds_only_the_patched_class_and_is_the_same_every_time(tmp_path):
    jar = server_jar(tmp_path / "selenium-server.jar", a_bus_class(1000))
    first, second = tmp_path / "a.jar", tmp_path / "b.jar"
    assert write_patch_jar(jar, first) and write_patch_jar(jar, second)
    with zipfile.ZipFile(first) as patch:
        assert patch.namelist() == [EVENT_BUS_CLASS]
        assert patch.read(EVENT_BUS_CLASS) == patched_class(a_bus_class(1000))
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("bus_class", [None, a_bus_class(1000, 1000), b"not a class", class_file(b"\x02\x00\x00", slots=1)])
def test_no_patch_jar_for_a_server_whose_class_is_missing_or_different(tmp_path, bus_class):
    jar = server_jar(tmp_path / "selenium-server.jar", bus_class)
    assert not write_patch_jar(jar, tmp_path / "event-bus.jar")
    assert not (tmp_path / "event-bus.jar").exists()
