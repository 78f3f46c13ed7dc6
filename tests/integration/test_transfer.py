"""`lomas-admin store export` / `import`: a deployment moved from one store to another
keeps its budgets, token hashes and archives, and an import applies once."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lomas.adapters.sqlite import SqliteStore
from lomas.domain import ArchiveRecord, Dataset, Job, PrivacyCost, User
from lomas.errors import InvalidDocument
from lomas.ports import StateStore
from lomas.services import transfer
from lomas.services.access import authenticate
from lomas.services.tokens import hash_token, new_token
from lomas.testing.fakes import InMemoryStore
from lomas_contract import models as m
from lomas_contract.sources.local import LocalAccess
from lomas_contract.sources.s3 import S3Access

META = m.DatasetMetadata.model_validate(
    {"columns": {"x": {"type": "float", "lower": 0.0, "upper": 1.0}}, "max_ids": 2})
T0 = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)  # milliseconds: what MongoDB keeps
TOKENS = {"alice": new_token(), "root": new_token(), "carol": new_token()}


def fill(store: StateStore) -> None:
    """Users (an admin, one who may not query, one deleted), datasets (one retired), grants
    with spent budgets, finished archives; a pending claim and a job, which stay behind."""
    store.create_user(User("alice"), hash_token(TOKENS["alice"]))
    store.create_user(User("root", is_admin=True), hash_token(TOKENS["root"]))
    store.create_user(User("carol", may_query=False), hash_token(TOKENS["carol"]))
    store.create_user(User("gone"), "hash-of-a-deleted-user")
    store.create_dataset(Dataset("income", LocalAccess(path="income.csv"), META))
    store.create_dataset(Dataset("sales", S3Access(bucket="bkt", key="s.parquet",
                                                   credentials_name="sales_ro"), META))
    store.create_dataset(Dataset("old", LocalAccess(path="old.csv"), META))
    for user, dataset, spent in (("alice", "income", PrivacyCost(3.25, 1e-5)),
                                 ("alice", "old", PrivacyCost(1.5, 0.0)),
                                 ("carol", "sales", PrivacyCost(0.0, 0.0)),
                                 ("gone", "income", PrivacyCost(4.0, 2e-5))):
        store.put_grant(user, dataset, PrivacyCost(5.0, 1e-4))
        if spent != PrivacyCost(0.0, 0.0):
            assert store.spend(user, dataset, spent) is not None
    assert store.delete_dataset("old") and store.delete_user("gone")
    for i, (status, response, error) in enumerate((
            ("done", {"result": {"type": "smartnoise_sql", "df": {"data": [[1.5]]}}}, None),
            ("failed", None, {"type": "ExternalLibraryError", "message": "boom"}))):
        record = ArchiveRecord("alice", f"key-{i}", f"fp-{i}", "income", "smartnoise_sql",
                               {"query_str": "SELECT 1"}, timestamp=T0 + timedelta(seconds=i))
        assert store.claim(record) is None
        store.finish("alice", f"key-{i}", status=status, cost=PrivacyCost(1.0 + i, 1e-6),
                     response=response, error=error)
    assert store.claim(ArchiveRecord("alice", "in-flight", "fp", "income", "e", {})) is None
    now = datetime.now(UTC)
    store.create_job(Job(uid="j1", user="alice", idempotency_key="job-key", fingerprint="f",
                         kind="query", engine="e", dataset="income", request={},
                         cost=PrivacyCost(1.0, 0.0), lease_until=now + timedelta(minutes=1),
                         expires_at=now + timedelta(days=1)))


def exported(store: StateStore) -> str:
    out = io.StringIO()
    counts = transfer.export_store(store, out, now=T0)
    assert counts == {"user": 3, "dataset": 3, "grant": 4, "archive": 2}
    return out.getvalue()


@pytest.fixture(params=["memory", "sqlite"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "memory":
        yield InMemoryStore()
    else:
        store = SqliteStore.open(tmp_path / "lomas.sqlite3")
        yield store
        store.close()


def test_the_file_holds_hashes_never_tokens_and_no_pending_work(mongo_store) -> None:
    fill(mongo_store)
    text = exported(mongo_store)
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0] == {"kind": "lomas-export", "version": 1,
                        "exported_at": "2026-03-01T12:00:00.123000Z"}
    assert [line["kind"] for line in lines[1:]] == (
        ["user"] * 3 + ["dataset"] * 3 + ["grant"] * 4 + ["archive"] * 2)
    assert not any(token in text for token in TOKENS.values())
    assert hash_token(TOKENS["root"]) in text
    assert "in-flight" not in text and "job-key" not in text
    sales = next(line for line in lines if line.get("dataset_name") == "sales"
                 and line["kind"] == "dataset")
    assert sales["dataset_access"]["credentials_name"] == "sales_ro"  # a name, not a secret


def test_a_moved_store_keeps_budgets_tokens_and_archives(mongo_store, target) -> None:
    fill(mongo_store)
    text = exported(mongo_store)

    report = transfer.import_store(target, io.StringIO(text))

    assert (report.written, report.skipped, report.conflicts) == (
        {"user": 3, "dataset": 3, "grant": 4, "archive": 2}, {}, [])
    assert transfer.records(target) == transfer.records(mongo_store)
    for name, token in TOKENS.items():
        assert authenticate(target, token) == mongo_store.get_user(name)
    for before in mongo_store.list_grants():
        after = target.get_grant(before.user, before.dataset)
        assert after is not None and (after.initial, after.spent) == (before.initial,
                                                                       before.spent)
        assert after.remaining.epsilon == pytest.approx(before.remaining.epsilon)
        assert after.remaining.delta == pytest.approx(before.remaining.delta, abs=1e-15)
    assert target.get_dataset("old") is None and target.list_datasets() == ["income", "sales"]
    assert target.get_user("gone") is None and target.get_grant("gone", "income") is not None
    retry = ArchiveRecord("alice", "key-0", "fp-0", "income", "smartnoise_sql",
                          {"query_str": "SELECT 1"})
    replayed = target.claim(retry)  # the same key: the stored answer, nothing run again
    assert replayed is not None and replayed.status == "done"
    assert replayed.response == {"result": {"type": "smartnoise_sql", "df": {"data": [[1.5]]}}}
    assert target.claim(ArchiveRecord("alice", "in-flight", "fp", "income", "e", {})) is None
    target.create_dataset(Dataset("old", LocalAccess(path="old.csv"), META))  # resumes
    assert target.get_grant("alice", "old").spent == PrivacyCost(1.5, 0.0)  # type: ignore[union-attr]


def test_importing_the_same_file_twice_changes_nothing(mongo_store, target) -> None:
    fill(mongo_store)
    text = exported(mongo_store)
    transfer.import_store(target, io.StringIO(text))
    before = transfer.records(target)

    again = transfer.import_store(target, io.StringIO(text))

    assert (again.written, again.conflicts) == ({}, [])
    assert again.skipped == {"user": 3, "dataset": 3, "grant": 4, "archive": 2}
    assert transfer.records(target) == before


def test_a_record_that_differs_refuses_the_whole_import(target) -> None:
    source = InMemoryStore()
    fill(source)
    text = exported(source)
    target.create_user(User("alice"), "another-hash")
    target.create_dataset(Dataset("income", LocalAccess(path="income.csv"), META))
    target.put_grant("alice", "income", PrivacyCost(5.0, 1e-4))  # spent nothing yet
    before = transfer.records(target)

    report = transfer.import_store(target, io.StringIO(text))

    assert report.conflicts == [
        "user 'alice': the target store holds another one; delete it there or import into "
        "an empty store.",
        "grant of 'alice' on 'income': the target store holds another one; delete it there "
        "or import into an empty store."]
    assert report.written == {} and report.skipped == {"dataset": 1}
    assert transfer.records(target) == before  # nothing written
    dry = transfer.import_store(InMemoryStore(), io.StringIO(text), dry_run=True)
    assert dry.written == {"user": 3, "dataset": 3, "grant": 4, "archive": 2}


@pytest.mark.parametrize(("text", "message"), [
    ("", "The file is empty"),
    ('{"kind": "user"}\n', "line 1: not a Lomas export"),
    ('{"kind": "lomas-export", "version": 2, "exported_at": "2026-01-01T00:00:00Z"}\n',
     "line 1: export version 2, but this Lomas reads version 1 only"),
    ('{"kind": "lomas-export", "version": 1, "exported_at": "2026-01-01T00:00:00Z"}\n'
     '{"kind": "user", "user_name": "a", "is_admin": false, "may_query": true}\n',
     "line 2: not a record of a Lomas export (user.token_hash: Field required)"),
    ('{"kind": "lomas-export", "version": 1, "exported_at": "2026-01-01T00:00:00Z"}\n'
     + '{"kind": "user", "user_name": "a", "is_admin": false, "may_query": true, '
       '"token_hash": "h"}\n' * 2, "line 3: a second user 'a'"),
    ('{"kind": "lomas-export", "version": 1, "exported_at": "2026-01-01T00:00:00Z"}\n'
     "not json\n", "line 2: not a record of a Lomas export (: Invalid JSON"),
])
def test_a_file_that_is_not_an_export_is_refused_with_its_line(text: str, message: str) -> None:
    store = InMemoryStore()
    with pytest.raises(InvalidDocument) as refused:
        transfer.import_store(store, io.StringIO(text))
    assert refused.value.message.startswith(message)
    assert "\n" not in refused.value.message
    assert transfer.records(store) == []


def test_a_grant_whose_spent_exceeds_its_initial_is_refused() -> None:
    header = '{"kind": "lomas-export", "version": 1, "exported_at": "2026-01-01T00:00:00Z"}'
    grant = {"kind": "grant", "user_name": "a", "dataset_name": "d", "initial_epsilon": 1.0,
             "initial_delta": 0.0, "spent_epsilon": 2.0, "spent_delta": 0.0}
    store = InMemoryStore()
    report = transfer.import_store(store, io.StringIO(f"{header}\n{json.dumps(grant)}\n"))
    assert report.conflicts == ["grant of 'a' on 'd': spent exceeds its initial budget; the "
                                "file was edited: export the store again."]
    assert store.list_grants() == []


def test_the_cli_moves_a_store_from_mongoeco_to_sqlite_and_an_import_applies_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from functions.admin.cli import app as cli
    from functions.common.wiring import open_store
    from lomas.config import Settings

    monkeypatch.delenv("LOMAS_MONGODB_URL", raising=False)
    source, close = open_store(Settings(store="mongoeco", state_dir=tmp_path / "old"))
    fill(source)
    close()
    dump = tmp_path / "lomas.jsonl"

    def lomas_admin(kind: str, state_dir: str, *args: str):
        monkeypatch.setenv("LOMAS_STORE", kind)
        monkeypatch.setenv("LOMAS_STATE_DIR", str(tmp_path / state_dir))
        return CliRunner().invoke(cli, ["store", *args])

    done = lomas_admin("mongoeco", "old", "export", str(dump))
    assert done.exit_code == 0, done.output
    assert "exported 3 users, 3 datasets, 4 grants, 2 archives" in done.output
    assert dump.stat().st_mode & 0o077 == 0
    refused = lomas_admin("mongoeco", "old", "export", str(dump))
    assert refused.exit_code == 1 and "--force" in refused.output

    first = lomas_admin("sqlite", "new", "import", str(dump))
    assert first.exit_code == 0, first.output
    assert "wrote 3 users, 3 datasets, 4 grants, 2 archives" in first.output
    second = lomas_admin("sqlite", "new", "import", str(dump))
    assert second.exit_code == 0 and "wrote 0 users" in second.output
    assert "skipped 3 users, 3 datasets, 4 grants, 2 archives" in second.output
    moved = SqliteStore.open(tmp_path / "new" / "lomas.sqlite3")
    assert authenticate(moved, TOKENS["alice"]) == User("alice")
    moved.set_token_hash("alice", "rotated meanwhile")
    moved.close()
    conflict = lomas_admin("sqlite", "new", "import", str(dump))
    assert conflict.exit_code == 1 and "user 'alice': the target store holds another" in \
        conflict.output and "nothing written" in conflict.output
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text(dump.read_text().replace('"kind": "lomas-export"', '"kind": "x"'))
    unreadable = lomas_admin("sqlite", "new", "import", str(damaged))
    assert unreadable.exit_code == 1 and "line 1: not a Lomas export" in unreadable.output
