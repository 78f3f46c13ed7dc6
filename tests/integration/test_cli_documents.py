"""lomas-admin's documents: the example metadata, `datasets draft-metadata`, an import
applied twice, and admin errors named as such, each in one line."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
from typer.testing import CliRunner

from functions.admin.cli import app as cli
from lomas import yaml12
from lomas.errors import InvalidDocument
from lomas.services import admin
from lomas.services.tokens import hash_token
from lomas_contract.models import ColumnMetadata, DatasetMetadata
from tests.conftest import LiveServer, World, serve
from tests.integration.test_runner_and_cli import run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PUBLIC_BOUNDS = {"patient_id": (1000, 9999), "age": (18, 110), "weight_kg": (20.0, 250.0)}


@pytest.fixture
def server(world: World) -> Iterator[LiveServer]:
    shutil.copy(EXAMPLES / "visits.csv", world.ctx.settings.resolved_data_root / "visits.csv")
    yield from serve(world)


def one_line(result) -> str:
    """A user error: exit 1, one line on stderr, no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no error escaped
    [line] = result.output.strip().splitlines()
    assert line.startswith("error ")
    return line


def test_the_example_metadata_has_every_column_type_and_registers_clean(
        server: LiveServer) -> None:
    metadata = DatasetMetadata.model_validate(
        yaml12.load((EXAMPLES / "metadata.yaml").read_text()))
    assert {c.type for c in metadata.columns.values()} == set(
        get_args(ColumnMetadata.model_fields["type"].annotation))
    assert metadata.columns["consent"].categories == ["yes", "no"]

    added = run(server, "datasets", "add", "visits", "--source", "visits.csv",
                "--metadata", str(EXAMPLES / "metadata.yaml"))
    assert added.exit_code == 0, added.output
    assert added.output.strip().replace("\n", " ") == (  # one line, not the whole document
        "registered visits: local visits.csv, 8 columns (`datasets show visits` or --json: "
        "everything)")
    checked = run(server, "datasets", "check", "visits")

    assert checked.exit_code == 0, checked.output
    assert "visits: 40 rows, 8 columns" in checked.output and "no problems" in checked.output
    assert "max_ids=3" in checked.output and "row_privacy=False" in checked.output


def fill(draft: str, bounds: dict[str, tuple[float, float]]) -> str:
    """What the data owner does: a public bound for each TODO placeholder."""
    lines, column = [], ""
    for line in draft.splitlines():
        if found := re.fullmatch(r"  (\w+):", line):
            column = found[1]
        for i, side in enumerate(("lower", "upper")):
            if line.endswith(f"{side}: TODO"):
                line = line.replace("TODO", str(bounds[column][i]))
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_a_drafted_metadata_file_registers_once_its_bounds_are_set(
        server: LiveServer, tmp_path: Path) -> None:
    out = tmp_path / "draft.yaml"
    drafted = CliRunner().invoke(cli, ["datasets", "draft-metadata",
                                       str(EXAMPLES / "visits.csv"), "-o", str(out)])
    assert drafted.exit_code == 0, drafted.output
    assert "Bounds read from the data leak it" in drafted.output
    text = out.read_text()
    assert "# TODO confirm: bounds from the data are not private; set public bounds" in text
    bounds = [line.strip() for line in text.splitlines()
              if re.match(r"\s+(lower|upper):", line)]
    assert bounds == ["lower: TODO", "upper: TODO"] * 3  # never the data's min or max
    example = yaml12.load((EXAMPLES / "metadata.yaml").read_text())["columns"]
    draft = yaml12.load(text)
    assert {n: c["type"] for n, c in draft["columns"].items()} == {
        n: c["type"] for n, c in example.items()}
    assert draft["columns"]["consent"]["categories"] == ["no", "yes"]  # strings
    assert draft["columns"]["weight_kg"]["nullable"] is True
    assert "categories" not in draft["columns"]["clinic"]  # 24 codes in 40 rows

    unfilled = run(server, "datasets", "add", "drafted", "--source", "visits.csv",
                   "--metadata", str(out))
    assert "InvalidDocument" in one_line(unfilled) and "numeric bounds" in unfilled.output
    out.write_text(fill(text, PUBLIC_BOUNDS))
    added = run(server, "datasets", "add", "drafted", "--source", "visits.csv",
                "--metadata", str(out))
    assert added.exit_code == 0, added.output
    checked = run(server, "datasets", "check", "drafted")
    assert checked.exit_code == 0 and "no problems" in checked.output, checked.output


def test_a_parquet_file_is_drafted_from_its_own_types(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"n": [1, 2, 3], "x": [0.5, None, 2.0], "ok": [True, False, True],
                          "at": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
                          "code": ["007", "008", "007"]})
    frame.to_parquet(tmp_path / "t.parquet")
    drafted = CliRunner().invoke(cli, ["datasets", "draft-metadata",
                                       str(tmp_path / "t.parquet")])
    assert drafted.exit_code == 0, drafted.output
    columns = yaml12.load(drafted.stdout)["columns"]
    assert {n: c["type"] for n, c in columns.items()} == {
        "n": "int", "x": "float", "ok": "boolean", "at": "datetime", "code": "string"}
    assert columns["x"]["nullable"] is True and "nullable" not in columns["n"]


@pytest.mark.parametrize(("name", "text", "says"), [
    ("gone.csv", None, "no file"),
    ("data.txt", "a\n1\n", "unknown file format 'txt'"),
    ("spaces.csv", "first name,age\nada,36\n", "'first name' are not identifiers"),
])
def test_a_file_that_cannot_be_drafted_is_one_line(
        tmp_path: Path, name: str, text: str | None, says: str) -> None:
    if text is not None:
        (tmp_path / name).write_text(text)
    done = CliRunner().invoke(cli, ["datasets", "draft-metadata", str(tmp_path / name)])
    assert says in one_line(done)


def import_doc(epsilon: float = 1.5, admin_flag: str = "false", upper: int = 110) -> str:
    metadata = (EXAMPLES / "metadata.yaml").read_text().replace(
        "upper: 110", f"upper: {upper}")
    indented = "\n".join("      " + line for line in metadata.splitlines())
    return (f"users:\n  - {{user_name: dora, is_admin: {admin_flag}}}\n"
            "datasets:\n  - dataset_name: visits\n"
            "    dataset_access: {type: local, path: visits.csv}\n"
            f"    metadata:\n{indented}\n"
            "grants:\n"
            f"  - {{user_name: dora, dataset_name: visits, initial_epsilon: {epsilon}, "
            "initial_delta: 0.0001}\n"
            "  - {user_name: alice, dataset_name: visits, initial_epsilon: 1, "
            "initial_delta: 0}\n")


def test_importing_the_same_document_twice_changes_nothing(
        server: LiveServer, tmp_path: Path) -> None:
    store, doc = server.world.store, tmp_path / "setup.yaml"
    doc.write_text(import_doc())
    first = run(server, "import", str(doc))
    assert first.exit_code == 0, first.output
    [token] = re.findall(r"created user dora, token (\S+) \(shown once\)", first.output)
    assert "registered dataset visits" in first.output
    assert "granted dora on visits: epsilon 1.5, delta 0.0001" in first.output
    before = (store.list_users(), store.list_datasets(), store.list_grants())

    again = run(server, "import", str(doc))

    assert again.exit_code == 0, again.output
    assert "unchanged user dora (exists: keeps their token, not rotated)" in again.output
    assert "unchanged dataset visits" in again.output
    assert "unchanged grant alice on visits" in again.output
    assert "nothing written" in again.output and "token" not in again.output.replace(
        "keeps their token", "")
    assert (store.list_users(), store.list_datasets(), store.list_grants()) == before
    found = store.find_user_by_token_hash(hash_token(token))
    assert found is not None and found[0].name == "dora"  # the first token still works


@pytest.mark.parametrize(("changed", "says"), [
    (import_doc(epsilon=2.0), "User 'dora' has a grant on 'visits' of epsilon 1.5, delta "
                              "0.0001; the document says epsilon 2, delta 0.0001"),
    (import_doc(admin_flag="true"), "User 'dora' exists with is_admin=False"),
    (import_doc(upper=120), "Dataset 'visits' is registered with another metadata "
                            "(column age)"),
])
def test_an_import_that_differs_from_the_store_is_a_conflict_naming_it(
        server: LiveServer, tmp_path: Path, changed: str, says: str) -> None:
    doc = tmp_path / "setup.yaml"
    doc.write_text(import_doc())
    assert run(server, "import", str(doc)).exit_code == 0
    before = server.world.store.list_grants()
    doc.write_text(changed.replace("users:\n", "users:\n  - {user_name: erin}\n"))

    line = one_line(run(server, "import", str(doc)))

    assert line.startswith("error ConflictError: ") and says in line, line
    assert server.world.store.get_user("erin") is None  # all or nothing
    assert server.world.store.list_grants() == before


def test_a_dataset_registered_again_by_an_import_resumes_its_grants_once(world: World) -> None:
    from lomas.domain import PrivacyCost
    from lomas.services import bulk

    held = world.store.get_dataset("income")
    assert held is not None
    world.store.spend("alice", "income", PrivacyCost(4.0, 0.0))
    world.store.delete_dataset("income")
    doc = bulk.parse_import(
        "datasets:\n  - dataset_name: income\n"
        f"    dataset_access: {held.access.model_dump_json()}\n"
        f"    metadata: {held.metadata.model_dump_json()}\n"
        "grants:\n  - {user_name: alice, dataset_name: income, initial_epsilon: 6, "
        "initial_delta: 0.001}\n")

    first = bulk.import_document(world.ctx, doc)
    again = bulk.import_document(world.ctx, doc)

    assert first.datasets == ["income"] and first.grants[0].remaining_epsilon == 2.0
    assert (again.datasets, again.grants, again.unchanged.datasets) == ([], [], ["income"])
    assert [g.remaining_epsilon for g in again.unchanged.grants] == [2.0]


@pytest.mark.parametrize(("text", "says"), [
    ("users: [unclosed\n", "InvalidDocumentError: The import document is not valid YAML at "
                           "line 2."),
    ("users:\n  - {user_name: dora, colour: red}\n", "InvalidDocumentError: The import "
     "document is not valid: users.0.colour: Extra inputs are not permitted"),
    ("users:\n  - {user_name: dora}\n  - {user_name: dora}\n", "User(s) dora repeat(s)"),
    (None, "cannot read the import document"),
])
def test_a_bad_import_document_is_one_line_naming_it(
        server: LiveServer, tmp_path: Path, text: str | None, says: str) -> None:
    doc = tmp_path / "setup.yaml"
    if text is not None:
        doc.write_text(text)
    assert says in one_line(run(server, "import", str(doc)))
    assert server.world.store.get_user("dora") is None


def test_bad_metadata_is_an_invalid_document(world: World) -> None:
    from lomas_contract.models import CreateDatasetRequest
    from lomas_contract.sources.local import LocalAccess

    (world.ctx.settings.resolved_data_root / "bad.yaml").write_text(
        "columns:\n  age: {type: int}\n")
    request = CreateDatasetRequest(dataset_name="bad", metadata_path="bad.yaml",
                                   dataset_access=LocalAccess(path="income.csv"))
    with pytest.raises(InvalidDocument) as refused:
        admin.create_dataset(world.ctx, request)
    assert refused.value.message == ("The metadata is not valid: columns.age: Value error, "
                                     "a int column needs lower and upper bounds")
