"""A real PostgreSQL server for tests: tables of income data, and a read-only role.

The server is LOMAS_TEST_POSTGRES_URL, or the one these machines run on
127.0.0.1:5432 (trust auth, database `test`). In CI (CI=true) a test that needs it
fails when it is down; elsewhere it is skipped with one line saying why.
"""

from __future__ import annotations

import glob
import io
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tests.support.services import unavailable

DEFAULT_URL = "postgresql://127.0.0.1:5432/test"
START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
PASSWORD = "pw-" + uuid.uuid4().hex  # appears in the DSN only: tests grep for it


def admin_url() -> str:
    return os.environ.get("LOMAS_TEST_POSTGRES_URL", DEFAULT_URL)


def require_server() -> str:
    """The admin URL of a reachable server; fail (CI) or skip (elsewhere) if there is none."""
    import psycopg

    url = admin_url()
    try:
        with psycopg.connect(url, connect_timeout=3):
            return url
    except psycopg.OperationalError as exc:
        why = (f"PostgreSQL is not reachable at {url} ({type(exc).__name__}); start it "
               f"with `{START}` or set LOMAS_TEST_POSTGRES_URL")
    unavailable(why)


@dataclass
class PgDatabase:
    """A schema of test tables and a role that may only SELECT them."""

    url: str
    schema: str
    role: str

    def reader_dsn(self) -> str:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        parts = conninfo_to_dict(self.url)
        parts.update(user=self.role, password=PASSWORD)
        return make_conninfo(**parts)

    def execute(self, statement: str, params: tuple[object, ...] = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(statement, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def load(self, name: str, frame: pd.DataFrame) -> str:
        """A table schema.name holding the frame, readable by the role; its qualified name."""
        import psycopg
        from psycopg import sql

        types = {"int64": "bigint", "Int64": "bigint", "float64": "double precision",
                 "bool": "boolean", "boolean": "boolean", "datetime64[ns]": "timestamp",
                 "datetime64[us]": "timestamp"}
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types.get(str(t), "text")))
            for c, t in frame.dtypes.items())
        table = sql.Identifier(self.schema, name)
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False)
            with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(table)) \
                    as copy:
                copy.write(buffer.getvalue())
            conn.execute(sql.SQL("ANALYZE {}").format(table))
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(
                table, sql.Identifier(self.role)))
        return f"{self.schema}.{name}"


@contextmanager
def database(url: str) -> Iterator[PgDatabase]:
    from psycopg import sql

    tag = uuid.uuid4().hex[:10]
    db = PgDatabase(url, f"lomas_test_{tag}", f"lomas_reader_{tag}")
    db.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
        sql.Identifier(db.role), sql.Literal(PASSWORD)).as_string(None))
    db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(db.schema)).as_string(None))
    db.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
        sql.Identifier(db.schema), sql.Identifier(db.role)).as_string(None))
    try:
        yield db
    finally:
        db.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(
            sql.Identifier(db.schema)).as_string(None))
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(db.role)).as_string(None))


def server_log() -> Path | None:
    """The server's log file (Debian's clusters log to /var/log/postgresql)."""
    found = sorted(glob.glob("/var/log/postgresql/postgresql-*-main.log"))
    return Path(found[-1]) if found else None
