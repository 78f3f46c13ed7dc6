from __future__ import annotations

from dataclasses import dataclass

from lomas.config import Settings
from lomas.dp.tables import TableCache
from lomas.ports import DatasetSources, JobRunner, StateStore


@dataclass(frozen=True)
class Context:
    """What the services need, built once per cold start by a composition root."""

    settings: Settings
    store: StateStore
    loader: DatasetSources
    tables: TableCache
    jobs: JobRunner
