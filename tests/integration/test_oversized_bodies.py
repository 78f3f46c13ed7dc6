"""Bodies over LOMAS_MAX_BODY_BYTES get a 413 {type, message} that the real client reads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from functions.container.bodies import CappedBuffer
from lomas_client import PayloadTooLargeError
from lomas_client.http import Transport
from tests.conftest import LiveServer, World, serve

MB = 1_000_000


@pytest.fixture
def counted_server(mongo_world: World) -> Iterator[tuple[LiveServer, list[int]]]:
    """The served apps, counting the requests that reach them."""
    calls: list[int] = []
    lock = threading.Lock()

    def wrap(app: Any) -> Any:
        def counted(environ: dict, start_response: Any) -> Any:
            with lock:
                calls.append(int(environ.get("CONTENT_LENGTH") or 0))
            return app(environ, start_response)

        return counted

    for server in serve(mongo_world, wrap):
        yield server, calls


@pytest.mark.parametrize("size", [12 * MB, 100 * MB])
@pytest.mark.parametrize("chunked", [False, True])
def test_the_client_reads_a_413_and_does_not_retry(
        counted_server: tuple[LiveServer, list[int]], size: int, chunked: bool) -> None:
    server, calls = counted_server
    http = Transport(server.url, server.world.token)  # the client's own transport, with retries
    body = b'{"dataset_name": "income", "query_str": "' + b"x" * size + b'"}'

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), MB):
            yield body[start:start + MB]

    with pytest.raises(PayloadTooLargeError) as caught:
        http.request("POST", "/smartnoise_sql_query", data=pieces() if chunked else body,  # type: ignore[arg-type]
                     headers={"Content-Type": "application/json"})
    assert caught.value.status == 413
    assert str(server.world.ctx.settings.max_body_bytes) in caught.value.message
    assert len(calls) == 1  # answered once, not retried
    grant = server.world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent.epsilon == 0


def test_the_capped_buffer_keeps_only_what_the_app_reads() -> None:
    buffer = CappedBuffer(keep=10, overflow=4)
    for _ in range(1000):
        buffer.append(b"0123456789abcdef")
    assert len(buffer) == 16_000  # what was received, so the app sees the real length
    assert buffer.getfile().read() == b"0123456789"
    buffer.close()
