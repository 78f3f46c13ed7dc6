"""Fit times of the synthesizers and models, and the size the `ml` extra adds.

Each fit runs as a query does: priced by the engine's `prepare` (timed apart), then
fitted once in a child process by `IsolatedFits` (the child's start and imports
included), on the demo income table (sex, age, education, income) at each size.

    python bench/fits.py [--sizes 10000,200000] [--synths mwem,mst,aim] [--venv DIR ...]

`--venv` measures a virtualenv's size on disk (du), e.g. one with the query image's
dependencies and one with the `ml` extra added (see docs/benchmark.md).
The results go to build/bench/fits-<time>.json (not tracked; `--record`: bench/results/).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "client"), str(ROOT / "bench")]
from common import outputs  # noqa: E402 - the bench's own, on the path just set

COLUMNS = ["sex", "age", "education", "income"]


def _dataset(rows: int) -> tuple[Any, Any]:
    import polars as pl

    from lomas import demo
    from lomas.domain import Dataset
    from lomas_contract.sources.local import LocalAccess

    frame = pl.from_pandas(demo.income_frame(rows, seed=3))
    return Dataset("income", LocalAccess(path="income.csv"), demo.income_metadata(rows)), frame


def fit_seconds(engine_name: str, fields: dict[str, Any], rows: int) -> dict[str, Any]:
    from lomas.engines import ENGINES
    from lomas.engines.isolation import IsolatedFits

    dataset, frame = _dataset(rows)
    engine = ENGINES[engine_name]
    req = engine.spec.query.model_validate({"dataset_name": "income", **fields})
    started = time.perf_counter()
    prepared = engine.prepare(dataset, req)
    priced = time.perf_counter() - started
    assert prepared.fit is not None
    data = frame.select(prepared.fit.columns)
    started = time.perf_counter()
    IsolatedFits(timeout_seconds=3600).run(prepared.fit.task, prepared.fit.spec, data,
                                           dummy=True)
    return {"rows": rows, "price_s": round(priced, 3),
            "fit_s": round(time.perf_counter() - started, 2),
            "epsilon": prepared.cost.epsilon, "delta": prepared.cost.delta}


def venv_mib(path: Path) -> int:
    out = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


SYNTHS = {
    "mwem": {"synth_name": "mwem", "epsilon": 1.0, "select_cols": COLUMNS},
    "mst": {"synth_name": "mst", "epsilon": 1.0, "delta": 1e-6, "select_cols": COLUMNS},
    "aim": {"synth_name": "aim", "epsilon": 1.0, "delta": 1e-6, "select_cols": COLUMNS},
}
LOGISTIC = {
    "diffprivlib_json": json.dumps({"module": "diffprivlib", "version": "0.6.6", "pipeline": [
        {"type": "_dpl_type:StandardScaler", "name": "scaler",
         "params": {"epsilon": 0.5, "bounds": [[18, 0], [90, 500_000]]}},
        {"type": "_dpl_type:LogisticRegression", "name": "clf",
         "params": {"epsilon": 1.0, "data_norm": 2.0}}]}),
    "feature_columns": ["age", "income"], "target_columns": ["sex"],
}


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,200000")
    parser.add_argument("--synths", default="mwem,mst,aim")
    parser.add_argument("--venv", type=Path, action="append", default=[])
    outputs(parser)
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = arguments().parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    report: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "fits": {}}
    for name in args.synths.split(","):
        for rows in sizes:
            figure = fit_seconds("smartnoise_synth", SYNTHS[name], rows)
            report["fits"][f"{name}_{rows}"] = figure
            print(f"{name:>8} {rows:>8,} rows: fit {figure['fit_s']} s, "
                  f"priced in {figure['price_s']} s", flush=True)
    figure = fit_seconds("diffprivlib", LOGISTIC, max(sizes))
    report["fits"][f"logistic_{max(sizes)}"] = figure
    print(f"logistic {max(sizes):>8,} rows: fit {figure['fit_s']} s", flush=True)
    for venv in args.venv:
        report.setdefault("venv_mib", {})[venv.name] = venv_mib(venv)
        print(f"venv {venv}: {report['venv_mib'][venv.name]} MiB")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"fits-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"written {path}")
    return report


if __name__ == "__main__":
    main()
