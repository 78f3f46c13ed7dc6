"""The fit, in the child process (`lomas.engines.isolation`): synthesize, sample, filter.

`run(spec, frame)` gets what `prepare` decided from the request and the metadata (the
columns' domains, the parameters, MWEM's epsilon or MST/AIM's rho) and the private rows
of the selected columns; it fits once and returns the samples as a tight dict.
"""

from __future__ import annotations

from typing import Any

from lomas.data.frames import to_tight
from lomas.engines.smartnoise_synth import tables
from lomas.engines.smartnoise_synth.columns import SynthColumn, from_dicts
from lomas.engines.smartnoise_synth.params import mwem_spent

MAX_DRAWS = 20
"""Draws of nb_samples rows at most to find rows that meet the condition."""


def run(spec: dict[str, Any], frame: Any) -> dict[str, Any]:
    import polars as pl

    columns = from_dicts(spec["columns"])
    strict = [c.name for c in columns if not c.nullable]
    if strict:  # a null where none may be: the row is dropped (a 1-stable transformation)
        frame = frame.filter(pl.all_horizontal(pl.col(n).is_not_null() for n in strict))
    if spec["synth"] == "mwem":
        _, draw = fit_mwem(spec, columns, frame)
    else:
        table = tables.fit(spec["synth"], spec["params"], columns, spec["rho"],
                           spec["max_ids"], spec["rows"], frame)
        def draw(n: int) -> Any:
            return tables.sample(table, columns, n)
    samples = _samples(draw, spec["nb_samples"], spec.get("condition") or "")
    return {"df": to_tight(samples.reset_index(drop=True))}


def _samples(draw: Any, n: int, condition: str) -> Any:
    import pandas as pd

    if not condition:
        return draw(n)
    kept, found = [], 0
    for _ in range(MAX_DRAWS):
        batch = _where(draw(n), condition)
        kept.append(batch)
        found += len(batch)
        if found >= n:
            break
    return pd.concat(kept, ignore_index=True).head(n)


def _where(frame: Any, condition: str) -> Any:
    """The synthetic rows that meet the condition (SmartNoise's parser checked and wrote
    it; DuckDB runs it sealed, on the synthetic rows only)."""
    from lomas.data.duck import connect, seal

    connection = connect()
    try:
        connection.register("samples", frame)
        seal(connection)
        return connection.execute(f"SELECT * FROM samples WHERE {condition}").df()  # noqa: S608
    finally:
        connection.close()


def fit_mwem(spec: dict[str, Any], columns: list[SynthColumn], frame: Any) -> tuple[Any, Any]:
    """(the fitted MWEMSynthesizer, a function drawing n rows from it)."""
    import pandas as pd
    from snsynth.mwem import MWEMSynthesizer

    data = frame.to_pandas()
    for c in columns:  # clamped to the metadata's bounds, as the bins assume
        if c.categories is None:
            data[c.name] = data[c.name].clip(c.lower, c.upper)
    transformer = metadata_transformer(columns)
    synth = MWEMSynthesizer(epsilon=spec["epsilon"], **spec["params"])
    synth.fit(data, transformer=transformer)
    assert transformer.odometer.spent == (0.0, 0.0), "the transformer spent epsilon"
    assert synth.spent == mwem_spent(spec["epsilon"], spec["params"], len(columns)), \
        "MWEM spent other than it was priced at"

    def draw(n: int) -> pd.DataFrame:
        out = synth.sample(n)
        for c in columns:
            if c.type == "int" and c.categories is None:
                out[c.name] = pd.array(out[c.name].round(), dtype="Int64")
            elif c.type == "boolean":
                out[c.name] = out[c.name].astype("boolean")
        return out

    return synth, draw


def metadata_transformer(columns: list[SynthColumn]) -> Any:
    """SmartNoise-Synth's TableTransformer fitted on a frame made from the metadata only:
    each category once, each bound once. MWEM does not refit a fitted transformer, so no
    category set or bound is learned from the private rows, and no epsilon is spent."""
    import pandas as pd
    from snsynth.transform.bin import BinTransformer
    from snsynth.transform.label import LabelTransformer
    from snsynth.transform.table import TableTransformer

    length = max([len(c.categories) for c in columns if c.categories is not None] + [2]) \
        + any(c.nullable for c in columns)
    frame, transformers = {}, []
    for c in columns:
        if c.categories is not None:
            values = list(c.categories)
            transformers.append(LabelTransformer(nullable=c.nullable))
        else:
            values = [c.lower, c.upper]
            transformers.append(BinTransformer(bins=c.bins, lower=c.lower, upper=c.upper,
                                               nullable=c.nullable))
        if c.nullable:
            values.append(None)
        frame[c.name] = [values[i % len(values)] for i in range(length)]
    transformer = TableTransformer(transformers)
    transformer.fit(pd.DataFrame(frame), epsilon=0.0)
    assert transformer.fit_complete and transformer.odometer.spent == (0.0, 0.0)
    return transformer
