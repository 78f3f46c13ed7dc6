"""Pooled read-only sessions, and the connection SmartNoise-SQL's postgres reader runs on.

The researcher's query names the table `df` or by the dataset's name; the database
has it as the admin's `schema.table`. Each statement is sent behind a `WITH` that
names those two after the table's declared columns (NOT MATERIALIZED: the planner
inlines it, so filters and aggregates run on the table itself). The table name is
the admin's validated identifier, never researcher text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from lomas.data import Planned
from lomas.data.handles import Session
from lomas.errors import DatasetUnavailable, InvalidQuery
from lomas.sources.base import RemoteHandle

log = logging.getLogger(__name__)


def open_pool(conninfo: str, size: int, connect_timeout: float,
              statement_timeout: float) -> ConnectionPool:
    """A pool of read-only sessions that cancel any statement past `statement_timeout`."""

    def configure(conn: psycopg.Connection) -> None:
        conn.execute(sql.SQL("SET statement_timeout = {}").format(
            sql.Literal(f"{int(statement_timeout * 1000)}ms")))
        conn.execute("SET default_transaction_read_only = on")
        conn.commit()
        conn.read_only = True

    pool = ConnectionPool(conninfo, min_size=0, max_size=size, open=False,
                          timeout=connect_timeout, configure=configure, reconnect_timeout=0,
                          check=ConnectionPool.check_connection, name="lomas-postgres")
    pool.open(wait=False)
    return pool


def aliases(table: str, columns: list[str], names: list[str]) -> str:
    """`WITH df AS NOT MATERIALIZED (SELECT <columns> FROM "schema"."table"), ...`."""
    schema, name = table.split(".")
    # Each declared column quoted as the table has it, named unquoted as SmartNoise writes
    # it (`user` or `current_date` would otherwise be PostgreSQL's own values).
    source = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.SQL("{} AS {}").format(sql.Identifier(c), sql.SQL(c))
                           for c in columns), sql.Identifier(schema, name))
    parts = [sql.SQL("{} AS NOT MATERIALIZED ({})").format(sql.SQL(n), source) for n in names]
    return sql.SQL("WITH {} ").format(sql.SQL(", ").join(parts)).as_string(None)


class ViewCursor:
    def __init__(self, cursor: psycopg.Cursor, prefix: str, plan_only: bool = False) -> None:
        self._cursor = cursor
        self._prefix = prefix
        self._plan_only = plan_only

    @property
    def description(self) -> Any:
        return self._cursor.description

    def execute(self, statement: str) -> None:
        if statement.lstrip()[:4].upper() == "WITH":
            raise InvalidQuery("Queries with WITH clauses are not supported.")
        if self._plan_only:  # the planner checks it against the catalog; no row is read
            self._cursor.execute("EXPLAIN " + self._prefix + statement)
            raise Planned
        self._cursor.execute(self._prefix + statement)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)


class ViewConnection:
    """What snsql's postgres reader needs of a connection: cursor, commit, rollback."""

    def __init__(self, conn: psycopg.Connection, prefix: str, plan_only: bool = False) -> None:
        self._conn = conn
        self._prefix = prefix
        self._plan_only = plan_only

    def cursor(self) -> ViewCursor:
        return ViewCursor(self._conn.cursor(), self._prefix, self._plan_only)

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()


class PostgresHandle(RemoteHandle):
    """A PostgreSQL table as SmartNoise-SQL queries it; nothing is held in memory."""

    kind = "PostgreSQL"

    def __init__(self, pool: ConnectionPool, table: str, dataset_name: str,
                 columns: list[str]) -> None:
        self._pool = pool
        self.table = table
        self._prefix = aliases(table, columns, ["df", dataset_name])

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled session. Raises DatasetUnavailable, before any statement is sent, if
        the database cannot be reached."""
        try:
            conn_cm = self._pool.connection()
            conn = conn_cm.__enter__()
        except (PoolTimeout, psycopg.OperationalError) as exc:
            log.error("postgres table %s unreachable: %s", self.table, type(exc).__name__)
            raise DatasetUnavailable("The dataset's database cannot be reached.") from exc
        try:
            yield conn
        except BaseException as exc:
            conn_cm.__exit__(type(exc), exc, exc.__traceback__)
            raise
        conn_cm.__exit__(None, None, None)

    @contextmanager
    def sql(self) -> Iterator[Session]:
        with self.connection() as conn:
            yield Session(ViewConnection(conn, self._prefix))

    @contextmanager
    def plan(self) -> Iterator[Session]:
        """A session whose statements PostgreSQL plans (EXPLAIN) but does not run."""
        with self.connection() as conn:
            yield Session(ViewConnection(conn, self._prefix, plan_only=True))

