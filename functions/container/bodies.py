"""Oversized request bodies get Lomas's 413, and the client can read it.

waitress refuses a body over its max_request_body_size by answering and closing
the connection while the client is still sending: the client sees a reset, not
the answer, and retries. Here waitress reads every body up to a generous cap
(LOMAS_MAX_DRAIN_BYTES) but keeps only its first max_body_bytes + 1 bytes; the
rest is read and dropped, never held. The app then sees a body over the limit and
answers 413 {type, message}, which the client, having sent everything, reads.
"""

from __future__ import annotations

from typing import Any

from waitress.buffers import OverflowableBuffer
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import create_server


class CappedBuffer:
    """Keeps the first `keep` bytes appended (spilling to a temp file like waitress
    does past `overflow`) and counts the rest without storing it."""

    def __init__(self, keep: int, overflow: int) -> None:
        self._kept = OverflowableBuffer(overflow)
        self._keep = keep
        self._stored = 0
        self.received = 0

    def __len__(self) -> int:
        return self.received

    def append(self, data: bytes) -> None:
        self.received += len(data)
        room = self._keep - self._stored
        if room > 0:
            part = data[:room]
            self._kept.append(part)
            self._stored += len(part)

    def getfile(self) -> Any:
        return self._kept.getfile()

    def close(self) -> None:
        self._kept.close()


def _channel_class(keep: int) -> type[HTTPChannel]:
    class CappedParser(HTTPRequestParser):
        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            if self.body_rcv is not None:
                self.body_rcv.buf = CappedBuffer(keep, self.adj.inbuf_overflow)

    class CappedChannel(HTTPChannel):
        parser_class = CappedParser

    return CappedChannel


def create_capped_server(app: Any, max_body_bytes: int, max_drain_bytes: int,
                         **kwargs: Any) -> Any:
    """A waitress server that reads bodies up to max_drain_bytes, keeping max_body_bytes + 1."""
    server = create_server(app, max_request_body_size=max(max_drain_bytes, max_body_bytes + 2),
                           **kwargs)
    server.channel_class = _channel_class(max_body_bytes + 1)
    return server
