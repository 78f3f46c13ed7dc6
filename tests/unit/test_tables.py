"""The table cache's size estimate: exact for small or Arrow-backed frames, close for large
frames of Python strings (it samples them instead of measuring every string)."""

from __future__ import annotations

import pandas as pd
import pytest

from lomas import demo
from lomas.data.handles import SAMPLE_ROWS, frame_bytes


def test_small_and_arrow_frames_are_measured_exactly() -> None:
    small = demo.income_frame(500)
    assert frame_bytes(small) == small.memory_usage(index=False, deep=True).sum()
    arrow = demo.income_frame(SAMPLE_ROWS * 3).astype({"region": "string[pyarrow]",
                                                       "sex": "string[pyarrow]",
                                                       "education": "string[pyarrow]"})
    assert frame_bytes(arrow) == arrow.memory_usage(index=False, deep=True).sum()


def test_large_object_frames_are_estimated_closely() -> None:
    frame = demo.income_frame(SAMPLE_ROWS * 5)
    assert frame["region"].dtype == object
    exact = frame.memory_usage(index=False, deep=True).sum()
    assert frame_bytes(frame) == pytest.approx(exact, rel=0.05)
    assert frame_bytes(pd.DataFrame({"x": range(SAMPLE_ROWS * 2)})) == 8 * SAMPLE_ROWS * 2
