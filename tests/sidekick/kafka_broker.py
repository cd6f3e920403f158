"""A one-node Kafka broker that speaks just enough of the wire protocol for a producer.

No Kafka broker is packaged for Debian or PyPI, so this fake stands in for one. It is written
from the protocol specification (not from the client library's structs): size-prefixed
frames, request header v1, ApiVersions v0, Metadata v0 and Produce v3 with record batches
(magic 2, CRC-32C checked, uncompressed). Every record received is kept per topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import struct
import threading
from dataclasses import dataclass, field

_API_PRODUCE, _API_METADATA, _API_VERSIONS = 0, 3, 18


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.buf = io.BytesIO(data)

    def unpack(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        return struct.unpack(">" + fmt, self.buf.read(size))[0]

    def string(self) -> str | None:
        n = self.unpack("h")
        return None if n < 0 else self.buf.read(n).decode()

    def bytes_(self) -> bytes | None:
        n = self.unpack("i")
        return None if n < 0 else self.buf.read(n)

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.buf.read(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return (result >> 1) ^ -(result & 1)  # zig-zag
            shift += 7


def _string(s: str) -> bytes:
    data = s.encode()
    return struct.pack(">h", len(data)) + data


def parse_record_batches(data: bytes) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of every record in a RecordBatch v2 sequence; raises on a bad CRC or magic."""
    out = []
    r = _Reader(data)
    while r.buf.tell() < len(data):
        r.unpack("q")  # base offset
        length = r.unpack("i")
        body = r.buf.read(length)
        b = _Reader(body)
        b.unpack("i")  # partition leader epoch
        magic = b.unpack("b")
        if magic != 2:
            raise ValueError(f"record batch magic {magic}, expected 2")
        crc = b.unpack("I")
        if crc != crc32c(body[9:]):
            raise ValueError("record batch CRC-32C mismatch")
        attributes = b.unpack("h")
        if attributes & 0x07:
            raise ValueError("compressed batches are not supported by this fake")
        b.unpack("i")  # last offset delta
        b.unpack("q")  # base timestamp
        b.unpack("q")  # max timestamp
        b.unpack("q")  # producer id
        b.unpack("h")  # producer epoch
        b.unpack("i")  # base sequence
        for _ in range(b.unpack("i")):
            b.varint()  # record length
            b.unpack("b")  # attributes
            b.varint()  # timestamp delta
            b.varint()  # offset delta
            klen = b.varint()
            key = None if klen < 0 else b.buf.read(klen)
            vlen = b.varint()
            value = None if vlen < 0 else b.buf.read(vlen)
            for _ in range(b.varint()):  # headers
                b.buf.read(b.varint())
                hv = b.varint()
                if hv > 0:
                    b.buf.read(hv)
            out.append((key, value))
    return out


@dataclass
class FakeKafka:
    host: str = "127.0.0.1"
    port: int = 0
    topics: dict[str, list[bytes | None]] = field(default_factory=dict)
    requests: list[tuple[int, int]] = field(default_factory=list)  # (api key, version)

    def start(self) -> FakeKafka:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def main() -> None:
            self._server = await asyncio.start_server(self._client, self.host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            async with self._server:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._server.serve_forever()

        self._thread = threading.Thread(target=lambda: self._loop.run_until_complete(main()), daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def stop(self) -> None:
        def close() -> None:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()

        self._loop.call_soon_threadsafe(close)
        self._thread.join(10)
        self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack(">i", await reader.readexactly(4))[0]
                r = _Reader(await reader.readexactly(size))
                api_key, version, correlation = r.unpack("h"), r.unpack("h"), r.unpack("i")
                r.string()  # client id
                self.requests.append((api_key, version))
                body = self._handle(api_key, version, r)
                if body is None:
                    continue  # acks=0: no response
                frame = struct.pack(">i", correlation) + body
                writer.write(struct.pack(">i", len(frame)) + frame)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _handle(self, api_key: int, version: int, r: _Reader) -> bytes | None:
        if api_key == _API_VERSIONS:
            apis = [(_API_PRODUCE, 3, 3), (_API_METADATA, 0, 0), (_API_VERSIONS, 0, 0)]
            return struct.pack(">hi", 0, len(apis)) + b"".join(struct.pack(">hhh", *a) for a in apis)
        if api_key == _API_METADATA and version == 0:
            wanted = [r.string() or "" for _ in range(r.unpack("i"))]
            names = wanted or sorted(self.topics)
            out = struct.pack(">i", 1) + struct.pack(">i", 0) + _string(self.host) + struct.pack(">i", self.port)
            out += struct.pack(">i", len(names))
            for name in names:
                self.topics.setdefault(name, [])  # auto-create, as a broker with auto.create.topics.enable
                out += struct.pack(">h", 0) + _string(name)
                out += struct.pack(">i", 1) + struct.pack(">hiii", 0, 0, 0, 1) + struct.pack(">i", 0)
                out += struct.pack(">ii", 1, 0)
            return out
        if api_key == _API_PRODUCE and version == 3:
            r.string()  # transactional id
            acks = r.unpack("h")
            r.unpack("i")  # timeout
            results = []
            for _ in range(r.unpack("i")):
                topic = r.string() or ""
                parts = []
                for _ in range(r.unpack("i")):
                    partition = r.unpack("i")
                    records = parse_record_batches(r.bytes_() or b"")
                    log = self.topics.setdefault(topic, [])
                    base = len(log)
                    log.extend(value for _, value in records)
                    parts.append((partition, base))
                results.append((topic, parts))
            if acks == 0:
                return None
            out = struct.pack(">i", len(results))
            for topic, parts in results:
                out += _string(topic) + struct.pack(">i", len(parts))
                for partition, base in parts:
                    out += struct.pack(">ihqq", partition, 0, base, -1)
            return out + struct.pack(">i", 0)  # throttle time
        raise ValueError(f"unsupported request: api key {api_key} version {version}")
