"""`lomas-serve` in a process group of its own, on a test world's store."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import requests

from tests.conftest import World
from tests.support.slow_data import free_port, start_server

BODY = {"dataset_name": "income", "query_str": "SELECT COUNT(*) AS n FROM income",
        "epsilon": 1.0, "delta": 1e-5}


class Served:
    """`lomas-serve` in its own process group on a world's store (its SQLite file, or the
    MongoDB stand-in the world was built on)."""

    def __init__(self, world: World, root: Path, mongodb_url: str | None = None,
                 **settings: str) -> None:
        """`mongodb_url`: the MongoDB the world's store is on (else its SQLite file)."""
        self.world, self.url = world, f"http://127.0.0.1:{free_port()}"
        port = self.url.rsplit(":", 1)[1]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LOMAS_")}
        if mongodb_url is not None:
            store: Any = world.store
            self.env.update(LOMAS_MONGODB_URL=mongodb_url,
                            LOMAS_MONGODB_DB=store.users.database.name)
        else:
            self.env.update(LOMAS_STORE="sqlite")
        self.env.update(LOMAS_STATE_DIR=str(root),
                        LOMAS_DATA_ROOT=str(root / "data"), LOMAS_PORT=port,
                        LOMAS_QUERY_RATE="0", LOMAS_LOG_LEVEL="WARNING",
                        **{f"LOMAS_{k.upper()}": v for k, v in settings.items()})
        self.process: Any = None

    def start(self) -> None:
        self.process = start_server(self.env, self.url, session=True)

    def __enter__(self) -> Served:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # the supervisor and its workers
            self.process.wait(30)

    def query(self, key: str, timeout: float = 60) -> requests.Response:
        return requests.post(f"{self.url}/smartnoise_sql_query", json=BODY, timeout=timeout,
                             headers={"Authorization": f"Bearer {self.world.token}",
                                      "Idempotency-Key": key})
