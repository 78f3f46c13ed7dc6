"""`lomas-admin datasets add --source`: each source kind reads its own form of it."""

from __future__ import annotations

import pytest

from functions.admin.cli import access
from lomas_contract.models import CreateDatasetRequest, DatasetMetadata
from lomas_contract.sources import ACCESS

FORMS = {
    "income.csv": {"type": "local", "path": "income.csv"},
    "dir/x.parquet": {"type": "local", "path": "dir/x.parquet"},
    "s3://bucket/key.parquet": {"type": "s3", "bucket": "bucket", "key": "key.parquet",
                                "credentials_name": "ro"},
    "https://files.example/x.csv": {"type": "http", "url": "https://files.example/x.csv"},
    "postgres:census.persons": {"type": "postgres", "table": "census.persons",
                                "credentials_name": "ro"},
    "spark:lake.persons": {"type": "spark", "table": "lake.persons"},
    "s3a://lake/persons/": {"type": "spark", "path": "s3a://lake/persons/"},
    "file:///data/persons": {"type": "spark", "path": "file:///data/persons"},
}
META = DatasetMetadata.model_validate({"columns": {"a": {"type": "int", "lower": 0,
                                                         "upper": 1}}})


@pytest.mark.parametrize("source", list(FORMS))
def test_each_form_is_its_kinds_access_and_valid_on_the_wire(source: str) -> None:
    body = access(source, None, None, None, "ro", None)
    assert body == FORMS[source]
    request = CreateDatasetRequest.model_validate(
        {"dataset_name": "d", "dataset_access": body, "metadata": META.model_dump()})
    assert request.dataset_access.type == FORMS[source]["type"]


def test_every_kind_of_the_registry_has_a_form() -> None:
    assert {form["type"] for form in FORMS.values()} == set(ACCESS)
