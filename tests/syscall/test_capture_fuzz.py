"""Corrupt captures: truncated, bit-flipped, empty — always a clear `CaptureError`, never another
exception or a hang (seeded, bounded mutations of the corpus captures)."""

from __future__ import annotations

import gzip
import io
import random
import struct
from pathlib import Path

import pytest

from rae.syscall.scap_reader import CaptureError, ScapReader

TRACES = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "falco-regression" / "trace_files"
CAPTURES = sorted(TRACES.glob("*.scap"))
MUTATIONS = 200


def _consume(data: bytes) -> tuple[int, CaptureError | None]:
    """Read everything (parameters included); the number of events and the error, if any."""
    n = 0
    try:
        with ScapReader(io.BytesIO(data), name="fuzz.scap") as r:
            for evt in r:
                n += 1
                _ = evt.params
    except CaptureError as exc:
        msg = str(exc)
        # reading errors name the file and offset; lazy parameter decoding names the event
        assert msg.startswith(("fuzz.scap: ", "corrupt parameters in event #")) and "\n" not in msg, msg
        return n, exc
    return n, None


def _event_block_ends(raw: bytes) -> list[int]:
    """End offsets of the event blocks, by an independent walk of the block lengths."""
    ends, pos = [], 0
    while pos + 8 <= len(raw):
        btype, blen = struct.unpack_from("<II", raw, pos)
        pos += blen
        if btype in (0x204, 0x216):
            ends.append(pos)
    return ends


@pytest.fixture(scope="module")
def raws() -> dict[str, bytes]:
    return {p.name: gzip.decompress(p.read_bytes()) for p in CAPTURES}


def test_empty_capture() -> None:
    n, err = _consume(b"")
    assert n == 0 and err is not None and "empty" in str(err)


@pytest.mark.parametrize("name", ["cat_write.scap", "empty.scap"])
def test_truncated_capture_yields_complete_events_then_names_the_offset(raws: dict[str, bytes], name: str) -> None:
    raw = raws[name]
    ends = _event_block_ends(raw)
    rnd = random.Random(7)
    for cut in [5, 30, ends[0] - 3, *(rnd.randrange(ends[0], len(raw)) for _ in range(10))]:
        n, err = _consume(raw[:cut])
        if cut in ends:
            assert err is None
            continue
        assert err is not None and "byte offset" in str(err), cut
        assert n == sum(1 for e in ends if e <= cut), cut
        if cut >= ends[0]:
            assert f"offset {max([0] + [e for e in ends if e <= cut])}" in str(err)


def test_truncated_gzip(raws: dict[str, bytes]) -> None:
    comp = (TRACES / "syscall.scap").read_bytes()
    n, err = _consume(comp[: len(comp) * 9 // 10])
    assert err is not None and "gzip data truncated" in str(err) and 0 < n < 368
    n, err = _consume(comp[:-4])  # only the gzip trailer (crc/size) is damaged
    assert err is not None or n == 368


def test_bit_flipped_captures(raws: dict[str, bytes]) -> None:
    rnd = random.Random(20240501)
    names = sorted(raws)
    outcomes = {"ok": 0, "error": 0}
    for i in range(MUTATIONS):
        raw = bytearray(raws[names[i % len(names)]])
        kind = rnd.random()
        if kind < 0.6:  # a few bit flips anywhere
            for _ in range(rnd.randint(1, 4)):
                pos = rnd.randrange(len(raw))
                raw[pos] ^= 1 << rnd.randrange(8)
        elif kind < 0.8:  # a block or parameter length overwritten
            pos = rnd.randrange(len(raw) - 4)
            raw[pos:pos + 4] = struct.pack("<I", rnd.choice([0, 1, 11, 12, 0xFFFF, 0x10000, 0xFFFFFFFF,
                                                             rnd.randrange(1 << 32)]))
        else:  # a chunk deleted or duplicated
            a = rnd.randrange(len(raw))
            b = min(len(raw), a + rnd.randint(1, 64))
            raw[a:b] = raw[a:b] * 2 if rnd.random() < 0.5 else b""
        _n, err = _consume(bytes(raw))
        outcomes["error" if err else "ok"] += 1
    assert outcomes["error"] > MUTATIONS // 4  # the mutations do hit the checks


def test_gzip_level_mutations() -> None:
    rnd = random.Random(99)
    comp = bytearray((TRACES / "connect_localhost.scap").read_bytes())
    for _ in range(30):
        data = bytearray(comp)
        pos = rnd.randrange(10, len(data))
        data[pos] ^= 1 << rnd.randrange(8)
        _consume(bytes(data))  # CaptureError or success; anything else fails the test
