"""What each synthesized column's domain is, from the metadata alone.

Every category and bound comes from the metadata, so no preprocessing spends epsilon and
no category set is learned from the private data (SmartNoise-Synth's LabelTransformer
would learn it, without spending epsilon, from whatever frame it is fitted on). Numeric
columns are cut into `BINS` equal bins between their bounds; an integer column with at
most `BINS` values keeps each value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lomas.errors import InvalidQuery
from lomas_contract.base import DatasetMetadata

BINS = 10


@dataclass(frozen=True)
class SynthColumn:
    """A column as the synthesizers see it: categories, or bins between bounds."""

    name: str
    type: str                       # string, int, float, boolean
    nullable: bool
    categories: list[Any] | None = None
    lower: float | None = None
    upper: float | None = None
    bins: int = 0

    @property
    def size(self) -> int:
        """How many values the synthesizer's domain has for this column (null included)."""
        return (len(self.categories) if self.categories is not None else self.bins) \
            + int(self.nullable)

    def edges(self) -> list[float]:
        """The bins' edges, lower to upper (bins + 1 of them; whole numbers for an int
        column, whose bins are then left-open: (a, b] holds a + 1 to b)."""
        assert self.lower is not None and self.upper is not None
        width = (self.upper - self.lower) / self.bins
        inner = [self.lower + i * width for i in range(1, self.bins)]
        if self.type == "int":  # width >= 1: the whole parts stay distinct
            inner = [float(int(e)) for e in inner]
        return [self.lower, *inner, self.upper]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def synth_columns(metadata: DatasetMetadata, select: list[str],
                  nullable: bool) -> list[SynthColumn]:
    """The selected columns (default: all but the private id). Raises InvalidQuery for a
    column the metadata lacks, or one whose values it does not bound."""
    names = select or [n for n, c in metadata.columns.items() if not c.private_id]
    if len(set(names)) != len(names):
        raise InvalidQuery("select_cols names a column twice.")
    return [_column(metadata, name, nullable) for name in names]


def _column(metadata: DatasetMetadata, name: str, nullable: bool) -> SynthColumn:
    col = metadata.columns.get(name)
    if col is None:
        raise InvalidQuery(f"Column {name!r} is not in the dataset's metadata "
                           f"(its columns: {', '.join(metadata.columns)}).")
    if col.private_id:
        raise InvalidQuery(f"Column {name!r} is the private id: it is never synthesized.")
    keep_nulls = nullable and col.nullable
    match col.type:
        case "boolean":
            return SynthColumn(name, col.type, keep_nulls, categories=[False, True])
        case "string" | "int" | "float" if col.categories:
            return SynthColumn(name, col.type, keep_nulls, categories=list(col.categories))
        case "string":
            raise InvalidQuery(
                f"Column {name!r} has no categories in the metadata, so its values cannot be "
                "synthesized without reading them; leave it out of select_cols or ask the "
                "administrator to declare its categories.")
        case "int" | "float":
            assert isinstance(col.lower, int | float) and isinstance(col.upper, int | float)
            if col.type == "int" and col.upper - col.lower < BINS:
                values = list(range(int(col.lower), int(col.upper) + 1))
                return SynthColumn(name, col.type, keep_nulls, categories=values)
            return SynthColumn(name, col.type, keep_nulls, lower=float(col.lower),
                               upper=float(col.upper), bins=BINS)
        case _:
            raise InvalidQuery(f"Column {name!r} is a {col.type} column, which the "
                               "synthesizers do not support; leave it out of select_cols.")


def from_dicts(columns: list[dict[str, Any]]) -> list[SynthColumn]:
    return [SynthColumn(**c) for c in columns]
