"""Demo content for local runs: two datasets, an admin and a researcher.

Only for dev mode. The datasets are written under the data root: the Palmer
penguins table (from the palmerpenguins package) and a deterministic synthetic
income table. Seeding is idempotent: a restart keeps users, budgets, archives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lomas.domain import PrivacyCost
from lomas.errors import Unauthenticated
from lomas.services import admin
from lomas.services.access import authenticate
from lomas.services.context import Context
from lomas_contract import models as m
from lomas_contract.sources.local import LocalAccess

log = logging.getLogger(__name__)

ADMIN, RESEARCHER = "admin", "dr_antartica"
INCOME_ROWS, INCOME_SEED = 200_000, 2026
RESEARCHER_BUDGET = PrivacyCost(10.0, 0.005)

REGIONS = ["Zurich", "Bern", "Geneva", "Ticino", "Vaud", "Grisons"]
EDUCATION = ["primary", "secondary", "tertiary", "doctorate"]

PENGUIN_METADATA = m.DatasetMetadata.model_validate({
    "max_ids": 1, "row_privacy": True, "rows": 344,
    "columns": {
        "species": {"type": "string", "cardinality": 3,
                    "categories": ["Adelie", "Chinstrap", "Gentoo"]},
        "island": {"type": "string", "cardinality": 3,
                   "categories": ["Torgersen", "Biscoe", "Dream"]},
        "bill_length_mm": {"type": "float", "lower": 30.0, "upper": 65.0, "nullable": True},
        "bill_depth_mm": {"type": "float", "lower": 13.0, "upper": 23.0, "nullable": True},
        "flipper_length_mm": {"type": "float", "lower": 150.0, "upper": 250.0,
                              "nullable": True},
        "body_mass_g": {"type": "float", "lower": 2000.0, "upper": 7000.0, "nullable": True},
        "sex": {"type": "string", "cardinality": 2, "categories": ["male", "female"],
                "nullable": True},
        "year": {"type": "int", "lower": 2007, "upper": 2009},
    },
})


def income_metadata(rows: int) -> m.DatasetMetadata:
    return m.DatasetMetadata.model_validate({
        "max_ids": 1, "row_privacy": True, "rows": rows,
        "columns": {
            "region": {"type": "string", "cardinality": len(REGIONS), "categories": REGIONS},
            "sex": {"type": "string", "cardinality": 2, "categories": ["F", "M"]},
            "age": {"type": "int", "lower": 18, "upper": 90},
            "education": {"type": "string", "cardinality": len(EDUCATION),
                          "categories": EDUCATION},
            "income": {"type": "float", "lower": 0.0, "upper": 500_000.0},
        },
    })


def income_frame(rows: int = INCOME_ROWS, seed: int = INCOME_SEED) -> pd.DataFrame:
    """A deterministic synthetic income table: region, sex, age, education, income."""
    rng = np.random.default_rng(seed)
    education = rng.choice(EDUCATION, rows, p=[0.15, 0.45, 0.33, 0.07])
    bonus = pd.Series(education).map(dict(zip(EDUCATION, [0.0, 0.2, 0.5, 0.8], strict=True)))
    age = rng.integers(18, 90, rows, endpoint=True)
    base = rng.lognormal(mean=11.0, sigma=0.5, size=rows) * (1 + bonus.to_numpy())
    income = np.clip(base * np.where(age < 25, 0.5, 1.0), 0, 500_000).round(2)
    return pd.DataFrame({
        "region": rng.choice(REGIONS, rows),
        "sex": rng.choice(["F", "M"], rows),
        "age": age,
        "education": education,
        "income": income,
    })


def penguins_frame() -> pd.DataFrame:
    """The Palmer penguins (344 rows), as the palmerpenguins package ships them."""
    import palmerpenguins

    return palmerpenguins.load_penguins()


def write_datasets(root: Path) -> None:
    """Write the two demo CSV files under root (once)."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "penguins.csv").exists():
        penguins_frame().to_csv(root / "penguins.csv", index=False)
    if not (root / "income_synth.csv").exists():
        income_frame().to_csv(root / "income_synth.csv", index=False)


@dataclass(frozen=True)
class DemoTokens:
    admin: str
    researcher: str


def _token(ctx: Context, name: str, is_admin: bool, known: str | None) -> str:
    if known:
        try:
            if authenticate(ctx.store, known).name == name:
                return known
        except Unauthenticated:
            pass
    if ctx.store.get_user(name) is None:
        req = m.CreateUserRequest(user_name=name, is_admin=is_admin)
        return admin.create_user(ctx, req).token
    return admin.rotate_token(ctx, name).token


def seed(ctx: Context, known: dict[str, str]) -> DemoTokens:
    """Create what is missing; keep what exists (budgets, archives, valid tokens)."""
    write_datasets(ctx.settings.resolved_data_root)
    datasets = {
        "penguins": ("penguins.csv", PENGUIN_METADATA),
        "income_synth": ("income_synth.csv", income_metadata(INCOME_ROWS)),
    }
    for name, (path, metadata) in datasets.items():
        if ctx.store.get_dataset(name) is None:
            admin.create_dataset(ctx, m.CreateDatasetRequest(
                dataset_name=name, dataset_access=LocalAccess(path=path), metadata=metadata))
    tokens = DemoTokens(
        admin=_token(ctx, ADMIN, True, known.get("LOMAS_ADMIN_TOKEN")),
        researcher=_token(ctx, RESEARCHER, False, known.get("LOMAS_TOKEN")),
    )
    for name in datasets:
        if ctx.store.get_grant(RESEARCHER, name) is None:
            ctx.store.put_grant(RESEARCHER, name, RESEARCHER_BUDGET)
    log.info("demo content ready")
    return tokens
