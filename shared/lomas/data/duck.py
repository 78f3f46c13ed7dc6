"""A private table as SmartNoise-SQL queries it: DuckDB over the DataFrame, in place.

SmartNoise-SQL 1.0 has no DuckDB reader; its postgres reader runs on a DuckDB
connection through `Connection` below (the reader commits, rolls back and iterates
its cursor). DuckDB scans the pandas columns where they are: nothing is copied, and
a new data version is ready in milliseconds. DuckDB may not load or install
extensions (nothing is downloaded at run time) and, once the table is registered,
may not read or write any file: a query reaches only this table. Dummy tables share
one database, sealed before any of them is registered, each on its own connection.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lomas.data import Planned
from lomas_contract.models import NAME_PATTERN

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that downloads and loads nothing."""
    import duckdb

    return duckdb.connect(":memory:", config=DUCKDB_CONFIG)


def seal(connection: duckdb.DuckDBPyConnection) -> None:
    """From now on the connection reads and writes no file (and it cannot be undone)."""
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")


RANDOM_ORDER = "ORDER BY RANDOM ( )"
ROW_ORDER = "ORDER BY hash(*COLUMNS(*))"


def per_key_order(sql: str) -> str:
    """SmartNoise keeps at most max_ids rows per private_id, chosen `ORDER BY RANDOM()` in a
    window, which DuckDB refuses (a volatile window order). The rows are chosen by a hash
    of their content instead: still at most max_ids per person, chosen from that person's
    rows alone, so the bound on each person's contribution (the guarantee) is the same;
    which of a person's rows count may differ from SmartNoise's random choice."""
    return sql.replace(RANDOM_ORDER, ROW_ORDER)


class _Cursor:
    def __init__(self, connection: duckdb.DuckDBPyConnection, plan_only: bool = False) -> None:
        self._connection = connection
        self._plan_only = plan_only
        self.description: Any = None
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str) -> None:
        if self._plan_only:
            self._connection.execute("EXPLAIN " + per_key_order(sql))
            raise Planned
        result = self._connection.execute(per_key_order(sql))
        self.description = result.description
        self._rows = result.fetchall() if result.description else []

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._rows)


class Connection:
    """What snsql's postgres reader needs of a DB-API connection, over DuckDB."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, plan_only: bool = False) -> None:
        self._connection = connection
        self.plan_only = plan_only

    def cursor(self) -> _Cursor:
        return _Cursor(self._connection, self.plan_only)

    def planner(self) -> Connection:
        """The same database, its statements planned (EXPLAIN), not run."""
        return Connection(self._connection, plan_only=True)

    def commit(self) -> None:
        return None

    def rollback(self) -> None:
        return None


class SqlTable:
    """One dataset version, named `df` and by the dataset's name, for SmartNoise-SQL.

    A DuckDB connection is not thread-safe: a SmartNoise execution on the table holds
    its lock from start to end (a few milliseconds once the noise scales are known).
    """

    def __init__(self, frame: pd.DataFrame, dataset_name: str, *, dummy: bool = False) -> None:
        if not re.fullmatch(NAME_PATTERN, dataset_name):
            raise ValueError("dataset names are SQL identifiers")
        self.lock = threading.Lock()
        # A private table gets a database of its own (~20 ms, once per version); dummy
        # data, made up from the metadata, a connection to one shared sealed database
        # (~2 ms, every dummy query): each connection sees only the tables it registered.
        self._duck = _dummy_connection() if dummy else connect()
        self._duck.register("df", frame)
        self._duck.register(dataset_name, frame)
        if not dummy:
            seal(self._duck)
        self.connection = Connection(self._duck)


@functools.cache
def _dummy_database() -> duckdb.DuckDBPyConnection:
    """The sealed database that holds dummy tables, one per process."""
    database = connect()
    seal(database)
    return database


def _dummy_connection() -> duckdb.DuckDBPyConnection:
    """A new connection to the dummy tables' database."""
    return _dummy_database().cursor()


def no_data() -> Connection:
    """A connection with no table: costing parses the query against metadata only."""
    duck = connect()
    seal(duck)
    return Connection(duck)
