from __future__ import annotations

from dataclasses import dataclass

from lomas.config import Settings
from lomas.ports import (
    DatasetHandles,
    DatasetSources,
    FitRunner,
    JobRunner,
    StateStore,
    TokenVerifier,
)


@dataclass(frozen=True)
class OidcRules:
    """Who a verified token names, and whether it makes an admin (from the settings)."""

    verifier: TokenVerifier
    user_claim: str = "preferred_username"
    admin_claim: str = "groups"
    admin_value: str | None = None
    auto_provision: bool = False


@dataclass(frozen=True)
class Context:
    """What the services need, built once per cold start by a composition root."""

    settings: Settings
    store: StateStore
    sources: DatasetSources
    handles: DatasetHandles
    jobs: JobRunner
    oidc: OidcRules | None = None
    fits: FitRunner | None = None
    """Runs the fits of the synthesizers and models (None: this process serves none)."""
