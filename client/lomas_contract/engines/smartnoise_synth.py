"""SmartNoise-Synth's wire contract: a synthesizer, its budget and parameters; samples back.

The fields are the published Lomas's (`synth_name`, `select_cols`, `synth_params`, ...), so
a notebook written for it ports. What differs is refused with a message saying why:
`return_model=true` (a fitted model is code to unpickle, never sent), `constraints` (sent
as code text), and the synthesizers whose spend is not known before they run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from lomas_contract.base import (
    AccuracyFields,
    DatasetRequest,
    Delta,
    DummyFields,
    EngineSpec,
    Epsilon,
    FrameResult,
)

SYNTHESIZERS = ("mwem", "mst", "aim")
"""What the engine fits: MWEM is SmartNoise-Synth's; MST and AIM are OpenDP's, on Private-PGM."""

REFUSED = {
    **dict.fromkeys(
        ("dpctgan", "patectgan", "dpgan", "pategan"),
        "a GAN synthesizer checks its budget only after each epoch, so what it spends can "
        "exceed the epsilon asked for, and it needs torch"),
    "pacsynth": "it stops the process with a Rust panic on data it does not expect",
    "quail": "it wraps another synthesizer with a budget split that is known only at fit time",
}
"""SmartNoise-Synth's other synthesizers, and why each is refused."""

DEFAULT_SAMPLES = 200
MAX_CELLS = 2_000_000
"""At most nb_samples x columns values in one answer (it is stored with the archive)."""


class SmartnoiseSynthCostRequest(DatasetRequest):
    synth_name: str = Field(min_length=1, max_length=64,
                            description=f"One of {', '.join(SYNTHESIZERS)}.")
    epsilon: Epsilon
    delta: Delta | None = Field(
        default=None, description="mst and aim: > 0 (their zCDP spend is converted to "
        "(epsilon, delta)); mwem spends (epsilon, 0) and needs none.")
    select_cols: list[str] = Field(
        default_factory=list, max_length=500,
        description="The columns to synthesize; default: every column but the private id.")
    synth_params: dict[str, Any] = Field(
        default_factory=dict, description="The synthesizer's own parameters, from an "
        "allowlist per synthesizer with bounded values (docs/engines.md).")
    nullable: bool = Field(
        default=True, description="Let columns the metadata declares nullable carry nulls "
        "into the synthetic data; false drops the rows with a null in a selected column.")
    constraints: Any = Field(
        default="", description="Refused when set: the published Lomas sends transformer "
        "constraints as code text. Every bound and category comes from the metadata.")


class SmartnoiseSynthEstimateRequest(SmartnoiseSynthCostRequest, AccuracyFields):
    """/estimate_smartnoise_synth_cost: the fit's priced fields, and alpha."""


class SmartnoiseSynthRequest(SmartnoiseSynthCostRequest):
    return_model: bool = Field(
        default=False, description="Refused when true: a fitted synthesizer is a Python "
        "object that only pickle can carry, and Lomas never sends one.")
    condition: str = Field(
        default="", max_length=2_000, description="A SQL condition the samples must meet "
        "(as in a WHERE clause), applied to the synthetic rows.")
    nb_samples: int = Field(default=DEFAULT_SAMPLES, ge=1, le=MAX_CELLS)


class SmartnoiseSynthDummyRequest(SmartnoiseSynthRequest, DummyFields):
    pass


class SmartnoiseSynthResult(FrameResult):
    """The synthetic rows."""

    type: Literal["smartnoise_synth"] = "smartnoise_synth"


SPEC = EngineSpec("smartnoise_synth", "SmartNoise-Synth", SmartnoiseSynthEstimateRequest,
                  SmartnoiseSynthRequest, SmartnoiseSynthDummyRequest, SmartnoiseSynthResult)
