"""A gRPC client that never reads its reply, spoken in raw HTTP/2 on a socket.

It announces a flow-control window of 0 bytes, so the server can send the reply's headers but
not one byte of its messages: the server's send waits for as long as the connection lives.
This is what a client that stops reading (or a hostile one) looks like from the server.
"""

from __future__ import annotations

import socket
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x7
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
MAX_FRAME = 16384


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([kind, flags])
        + struct.pack(">I", stream)
        + payload
    )


def _integer(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """HPACK integer with an N-bit prefix."""
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([first | value])
    out = [first | top]
    value -= top
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def _literal(name: str, value: str) -> bytes:
    """A header as an HPACK literal without indexing, new name, no Huffman coding."""
    n, v = name.encode(), value.encode()
    return b"\x00" + _integer(len(n), 7) + n + _integer(len(v), 7) + v


class NonReadingCall:
    """Start one unary-request call of ``method`` (e.g. "/facesmith.v1.Facesmith/Edit") with
    the serialised ``request`` at ``address`` and never read a byte of the reply."""

    def __init__(self, address: str, method: str, request: bytes, metadata: tuple = ()) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        # a tiny receive buffer, so the kernel does not read for us either
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        settings = struct.pack(">HI", SETTINGS_INITIAL_WINDOW_SIZE, 0)
        headers = b"".join(
            _literal(k, v)
            for k, v in (
                (":method", "POST"),
                (":scheme", "http"),
                (":path", method),
                (":authority", address),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                *metadata,
            )
        )
        message = b"\x00" + struct.pack(">I", len(request)) + request
        out = [PREFACE, _frame(SETTINGS, 0, 0, settings)]
        out.append(_frame(HEADERS, END_HEADERS, 1, headers))
        chunks = [message[i : i + MAX_FRAME] for i in range(0, len(message), MAX_FRAME)]
        for i, chunk in enumerate(chunks):
            out.append(_frame(DATA, END_STREAM if i == len(chunks) - 1 else 0, 1, chunk))
        self.sock.sendall(b"".join(out))
        self._ack_settings()

    def _ack_settings(self) -> None:
        """Read until the server's SETTINGS and acknowledge them (else it may give up on us);
        from then on nothing is read."""
        buffer = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            buffer += self.sock.recv(4096)
            while len(buffer) >= 9:
                length = int.from_bytes(buffer[:3], "big")
                kind, flags = buffer[3], buffer[4]
                if len(buffer) < 9 + length:
                    break
                buffer = buffer[9 + length :]
                if kind == SETTINGS and not flags & ACK:
                    self.sock.sendall(_frame(SETTINGS, ACK, 0, b""))
                    return

    def ended_by_server(self, wait_s: float = 5.0) -> bool:
        """Read what the server sent (only now): did it end the call (a status, or
        RST_STREAM) or the connection (GOAWAY, or closing it)?"""
        self.sock.settimeout(0.2)
        buffer = b""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return True
            if not chunk:
                return True
            buffer += chunk
            while len(buffer) >= 9:
                length = int.from_bytes(buffer[:3], "big")
                if len(buffer) < 9 + length:
                    break
                if buffer[3] in (RST_STREAM, GOAWAY):
                    return True
                if buffer[3] == HEADERS and buffer[4] & END_STREAM:  # answered with a status
                    return True
                buffer = buffer[9 + length :]
        return False

    def close(self) -> None:
        self.sock.close()
