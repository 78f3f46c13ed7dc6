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


def codes_dataset(world: object, name: str, values: list[str]) -> None:
    """A CSV dataset of one string column, `code`, granted to alice (no categories: its
    dummy values are random strings)."""
    from lomas.domain import PrivacyCost
    from lomas_contract import models as m

    ctx = world.ctx  # type: ignore[attr-defined]
    data = ctx.settings.resolved_data_root
    (data / f"{name}.csv").write_text("code\n" + "\n".join(values))
    metadata = m.DatasetMetadata.model_validate({"columns": {"code": {"type": "string"}}})
    ctx.store.create_dataset(Dataset(name, LocalAccess(path=f"{name}.csv"), metadata))
    ctx.store.put_grant("alice", name, PrivacyCost(10.0, 1e-3))
