"""What the client says when things go wrong: no server, a 503 that a retry would not
mend, a budget that does not cover the query, a delta of 0."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lomas_client import (
    BudgetExhaustedError,
    Client,
    InvalidQueryError,
    ServerUnreachableError,
    ServiceUnavailableError,
)
from lomas_client.http import default_session
from tests.conftest import World
from tests.support.slow_data import free_port


def test_no_server_is_a_lomas_error_that_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = Client(url, "token", "income", session=default_session(retries=0))
    with pytest.raises(ServerUnreachableError, match=f"Cannot reach the Lomas server at {url}"):
        client.get_remaining_budget()


class Unavailable(BaseHTTPRequestHandler):
    """503 on every request, with the error body and headers the server is given."""

    answer: tuple[str, dict[str, str]] = ("DatasetUnavailable", {})
    seen: list[str]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append(self.path)
        kind, headers = self.answer
        body = json.dumps({"type": kind, "message": "away"}).encode()
        self.send_response(503)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def unavailable() -> Iterator[tuple[str, type[Unavailable]]]:
    handler = type("Handler", (Unavailable,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


def test_a_503_without_retry_after_is_not_retried(
        unavailable: tuple[str, type[Unavailable]]) -> None:
    url, handler = unavailable  # a broken dataset: a retry would not mend it
    with pytest.raises(ServiceUnavailableError, match="away"):
        Client(url, "token", "income").get_remaining_budget()
    assert len(handler.seen) == 1


def test_a_503_with_retry_after_is_retried(unavailable: tuple[str, type[Unavailable]]) -> None:
    url, handler = unavailable
    handler.answer = ("StoreUnavailable", {"Retry-After": "0"})  # the store, for a moment
    with pytest.raises(ServiceUnavailableError):
        Client(url, "token", "income", session=default_session(retries=2)
               ).get_remaining_budget()
    assert len(handler.seen) == 3


def test_a_refused_budget_says_what_is_left_and_what_the_query_costs(client: Client) -> None:
    with pytest.raises(BudgetExhaustedError) as refused:
        client.smartnoise_sql.query("SELECT COUNT(*) AS n FROM df", 11.0, 1e-5)
    assert refused.value.message.startswith(
        "The remaining budget on 'income' (epsilon=10, delta=0.001) does not cover this "
        "query's cost (epsilon=11, delta=1.5e-05); nothing was spent.")


@pytest.mark.parametrize(("sql", "says"), [
    ("SELECT COUNT(*) AS n FROM df", "a query without GROUP BY as one group"),
    ("SELECT sex, COUNT(*) AS n FROM df GROUP BY sex", "censors rare GROUP BY keys"),
])
def test_a_delta_of_0_is_refused_in_words_that_fit_the_query(
        client: Client, sql: str, says: str) -> None:
    with pytest.raises(InvalidQueryError, match=says):
        client.smartnoise_sql.cost(sql, epsilon=1.0, delta=0.0)


def test_too_many_dummy_rows_names_the_clients_argument(client: Client, world: World) -> None:
    limit = world.ctx.settings.max_dummy_rows
    with pytest.raises(InvalidQueryError, match=rf"At most {limit} dummy rows .* nb_rows="):
        client.get_dummy_dataset(nb_rows=limit + 1)
    with pytest.raises(InvalidQueryError, match="nb_rows="):
        client.smartnoise_sql.query("SELECT COUNT(*) AS n FROM df", 1.0, 1e-5, dummy=True,
                                    nb_rows=limit + 1)
