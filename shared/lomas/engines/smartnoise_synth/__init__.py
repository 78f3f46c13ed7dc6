"""SmartNoise-Synth: synthetic rows from MWEM (SmartNoise-Synth's), MST or AIM (OpenDP's).

The request is priced from its parameters and the metadata alone: MWEM spends (epsilon,
0) as its accountant adds it up; MST and AIM spend the rho that OpenDP's map turns into
at most the (epsilon, delta) asked. The fit runs in a child process under the fit time
limit (`lomas.engines.isolation`), and only the samples come back, never a model.
"""

from __future__ import annotations

from typing import Any

from lomas.domain import Capability, Dataset, PrivacyCost
from lomas.engines.base import Fit, PluggedEngine, Prepared
from lomas.engines.smartnoise_synth.columns import SynthColumn, synth_columns
from lomas.errors import InvalidQuery
from lomas_contract.base import DatasetRequest
from lomas_contract.engines.smartnoise_synth import (
    MAX_CELLS,
    REFUSED,
    SPEC,
    SYNTHESIZERS,
    SmartnoiseSynthCostRequest,
    SmartnoiseSynthRequest,
    SmartnoiseSynthResult,
)


def prepare(dataset: Dataset, req: DatasetRequest) -> Prepared:
    """The synthesizer checked against the metadata, and its cost. Raises InvalidQuery."""
    from lomas.engines.smartnoise_synth import params as p
    from lomas.engines.smartnoise_synth import tables

    assert isinstance(req, SmartnoiseSynthCostRequest)
    synth = _synthesizer(req.synth_name)
    if req.constraints not in ("", None, {}):
        raise InvalidQuery("constraints are refused: the published Lomas sends them as code "
                           "text, which Lomas never runs. Every column's categories and "
                           "bounds come from the dataset's metadata.")
    columns = synth_columns(dataset.metadata, req.select_cols, req.nullable)
    values = p.checked(synth, req.synth_params, columns)
    metadata = dataset.metadata
    spec: dict[str, Any] = {"synth": synth, "params": values, "max_ids": metadata.max_ids,
                            "rows": metadata.rows, "columns": [c.as_dict() for c in columns]}
    if synth == "mwem":
        # MWEM spends (epsilon, 0): a delta sent with it is not charged. It counts each row
        # as one person: with up to max_ids rows per person it runs at epsilon / max_ids,
        # and group privacy makes the person's loss max_ids times that.
        spec["epsilon"] = req.epsilon / metadata.max_ids
        cost = PrivacyCost(metadata.max_ids * p.mwem_spent(spec["epsilon"], values,
                                                              len(columns)), 0.0)
    else:
        if not req.delta:
            raise InvalidQuery(f"{synth} needs delta > 0: its zCDP spend is converted to "
                               "(epsilon, delta), and at delta = 0 it could spend nothing.")
        spec["rho"], *spent = tables.priced(synth, values, columns, req.epsilon, req.delta,
                                            metadata.max_ids, metadata.rows)
        cost = PrivacyCost(*spent)
    if isinstance(req, SmartnoiseSynthRequest):
        _answer(req, columns, spec)
    return Prepared(cost, Capability.POLARS, Fit.unbound, fit=Fit(
        "smartnoise_synth", spec, [c.name for c in columns],
        lambda answer: SmartnoiseSynthResult(df=answer["df"]),
        ("snsynth", "faker") if synth == "mwem" else ("mbi", "jax")))


def _synthesizer(name: str) -> str:
    if name in SYNTHESIZERS:
        return name
    if name in REFUSED:
        raise InvalidQuery(f"{name} is refused: {REFUSED[name]}. Use one of "
                           f"{', '.join(SYNTHESIZERS)}.")
    raise InvalidQuery(f"Unknown synthesizer {name!r}; use one of {', '.join(SYNTHESIZERS)}.")


def _answer(req: SmartnoiseSynthRequest, columns: list[SynthColumn],
            spec: dict[str, Any]) -> None:
    """What the answer will hold: its size bounded, its condition checked."""
    if req.return_model:
        raise InvalidQuery("return_model=true is refused: a fitted synthesizer is a Python "
                           "object that only pickle can carry, and Lomas sends no pickle. "
                           "Ask for nb_samples rows instead (as many as you need).")
    if req.nb_samples * len(columns) > MAX_CELLS:
        raise InvalidQuery(f"nb_samples x columns ({req.nb_samples * len(columns):,}) is over "
                           f"the limit of {MAX_CELLS:,} values per answer.")
    spec["nb_samples"] = req.nb_samples
    spec["condition"] = condition(req.condition, [c.name for c in columns]) \
        if req.condition.strip() else ""


def condition(text: str, names: list[str]) -> str:
    """The condition as SmartNoise's parser reads it and writes it back. Raises InvalidQuery
    for one it cannot parse, or that names a column not synthesized."""
    from snsql._ast.tokens import Column
    from snsql.sql.parse import QueryParser

    if "\\" in text or ";" in text:
        raise InvalidQuery("The condition may not hold a backslash or a semicolon.")
    try:
        parsed = QueryParser().query(f"SELECT * FROM samples WHERE {text}")  # noqa: S608 - parsed only
    except Exception as exc:
        raise InvalidQuery(f"The condition is not a SQL condition SmartNoise can parse: "
                           f"{type(exc).__name__}.") from exc
    where = parsed.where.condition if parsed.where is not None else None
    if where is None or parsed.source is None or parsed.order is not None \
            or parsed.limit is not None or parsed.agg is not None:
        raise InvalidQuery("The condition must be what follows WHERE, and nothing else.")
    unknown = sorted({n.name for n in where.find_nodes(Column)} - set(names))
    if unknown:
        raise InvalidQuery(f"The condition names {', '.join(map(repr, unknown))}, not among "
                           "the synthesized columns.")
    return str(where)


ENGINE = PluggedEngine(SPEC, prepare)
