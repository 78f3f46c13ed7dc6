"""A CSV file made, once per version, into a Parquet file of the declared types.

DuckDB reads the CSV as text, counts the values that do not fit their declared type
(counts, never values), and, if none, writes the typed columns to Parquet in the
instance's cache, where they are then scanned like any Parquet dataset. Memory stays
bounded whatever the file's size. Only our own SQL runs in this database.
"""

from __future__ import annotations

from pathlib import Path

from lomas.data.checks import ident, literal
from lomas.data.duck import connect
from lomas.data.scan import DUCK_TYPES
from lomas.sources.files.formats import FormatError
from lomas_contract.models import DatasetMetadata

NA_VALUES = ("", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None",
             "<NA>", "#N/A")
"""What reads as a missing value (pandas's defaults)."""


def csv_to_parquet(csv: Path, target: Path, metadata: DatasetMetadata) -> None:
    """Write the declared columns of `csv` to `target` with their declared types.

    Raises FormatError naming the columns (and how many values) that do not fit.
    """
    import duckdb

    with connect() as duck:
        nulls = ", ".join(literal(v) for v in NA_VALUES)
        try:
            duck.execute(f"CREATE VIEW raw AS SELECT * FROM read_csv({literal(str(csv))}, "
                         f"header = true, all_varchar = true, nullstr = [{nulls}])")
            present = {str(r[0]) for r in duck.execute("DESCRIBE raw").fetchall()}
        except duckdb.Error as exc:
            raise FormatError("the file is not a readable CSV") from exc
        if missing := [c for c in metadata.columns if c not in present]:
            raise FormatError(f"columns missing from the file: {', '.join(missing)}")
        typed = {n: c for n, c in metadata.columns.items() if c.type != "string"}
        if typed:
            counts = ", ".join(
                f"COUNT(*) FILTER (WHERE {ident(n)} IS NOT NULL AND "
                f"TRY_CAST({ident(n)} AS {DUCK_TYPES[c.type]}) IS NULL)" for n, c in typed.items())
            row = duck.execute(f"SELECT {counts} FROM raw").fetchone()
            assert row is not None
            if bad := [f"column {n!r}: {k} {'value is' if k == 1 else 'values are'} not "
                       f"{c.type}"
                       for (n, c), k in zip(typed.items(), row, strict=True) if k]:
                raise FormatError("; ".join(bad))
        columns = ", ".join(f"CAST({ident(n)} AS {DUCK_TYPES[c.type]}) AS {ident(n)}"
                            for n, c in metadata.columns.items())
        duck.execute(f"COPY (SELECT {columns} FROM raw) TO {literal(str(target))} "
                     "(FORMAT parquet)")
