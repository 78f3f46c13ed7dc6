"""YAML read as 1.2: yes/no/on/off stay strings, in every YAML Lomas reads."""

from __future__ import annotations

from lomas import yaml12
from lomas.services.bulk import parse_import
from lomas.sources.files.formats import read_metadata

SURVEY = """max_ids: 1
columns:
  answer: {type: string, categories: [yes, no, on, off, y, n]}
  adult: {type: boolean}
"""


def test_only_true_and_false_are_booleans() -> None:
    assert yaml12.load("[yes, no, on, off, y, n, true, false, True, FALSE, 1]") == [
        "yes", "no", "on", "off", "y", "n", True, False, True, False, 1]


def test_a_metadata_file_on_the_servers_side_keeps_its_categories() -> None:
    metadata = read_metadata(SURVEY.encode(), "yaml")
    assert metadata.columns["answer"].categories == ["yes", "no", "on", "off", "y", "n"]


def test_the_import_document_keeps_them_too() -> None:
    document = parse_import(
        "datasets:\n  - dataset_name: survey\n    dataset_access: {type: local, "
        "path: survey.csv}\n    metadata:\n" + "".join(f"      {line}\n"
                                                     for line in SURVEY.splitlines()))
    [dataset] = document.datasets
    assert dataset.metadata is not None
    assert dataset.metadata.columns["answer"].categories[:2] == ["yes", "no"]
