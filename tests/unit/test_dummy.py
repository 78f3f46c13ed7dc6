from __future__ import annotations

import pandas as pd

from lomas import demo
from lomas.data.dummy import dummy_frame


def test_dummy_follows_the_metadata_and_the_seed() -> None:
    meta = demo.PENGUIN_METADATA
    frame = dummy_frame(meta, 500, seed=3)
    assert list(frame.columns) == list(meta.columns)
    assert len(frame) == 500
    assert set(frame["species"].dropna()) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert frame["bill_length_mm"].between(30.0, 65.0).all() or frame["bill_length_mm"].isna().any()
    assert frame["year"].between(2007, 2009).all()
    assert frame["sex"].isna().any()  # nullable columns get missing values
    assert not frame["year"].isna().any()  # non-nullable ones do not
    pd.testing.assert_frame_equal(frame, dummy_frame(meta, 500, seed=3))
    assert not frame.equals(dummy_frame(meta, 500, seed=4))


def test_dummy_types() -> None:
    frame = dummy_frame(demo.income_metadata(10), 50, seed=1)
    assert str(frame["age"].dtype) == "int64"
    assert str(frame["income"].dtype) == "float64"
    assert str(frame["region"].dtype) == "string"
