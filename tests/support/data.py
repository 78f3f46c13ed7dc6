"""Small datasets for tests, written under a data root."""

from __future__ import annotations

from pathlib import Path

from lomas import demo
from lomas.domain import Dataset
from lomas_contract.sources.local import LocalAccess

INCOME_ROWS = 2_000


def write_income(root: Path, name: str = "income", rows: int = INCOME_ROWS) -> Dataset:
    root.mkdir(parents=True, exist_ok=True)
    demo.income_frame(rows, seed=7).to_csv(root / f"{name}.csv", index=False)
    return Dataset(name, LocalAccess(path=f"{name}.csv"), demo.income_metadata(rows))
