from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lomas.config import Settings
from lomas.ports import (
    DatasetHandles,
    DatasetSources,
    FitRunner,
    JobRunner,
    StateStore,
    TokenVerifier,
)

if TYPE_CHECKING:
    from lomas.services.access import TokenCache


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
    tokens: TokenCache | None = None
    """API tokens' users seen in the last seconds (None: looked up on every request)."""
