"""Moving a deployment between stores: an export of everything a store keeps that must
outlive the move, and an import of it into another store.

The dump is JSON Lines: a header line, then one record per line, by kind: every user
with their token hash (never a token), every dataset with its access (secrets are only
named there) and whether it is retired, every grant with what it spent, every finished
archive with its Idempotency-Key and response. Pending claims, jobs and rate windows
are not carried: the servers are stopped first, so none should be in flight.

An import compares each record with what the target holds under the same name or key:
new ones are written, equal ones skipped, and if any differs nothing at all is written.
Importing the same file twice changes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TextIO

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from lomas.domain import ArchiveRecord, Dataset, Grant, PrivacyCost, User
from lomas.errors import Conflict, InvalidDocument
from lomas.ports import StateStore
from lomas_contract.models import DatasetAccess, DatasetMetadata

FORMAT: Literal["lomas-export"] = "lomas-export"
VERSION = 1
KINDS = ("user", "dataset", "grant", "archive")
"""The order records are exported and written in: a grant after its user and dataset."""

Amount = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Line(BaseModel):
    # NaN in a response stays NaN (JSON's usual extension), not null.
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")


class Header(_Line):
    kind: Literal["lomas-export"]
    version: int
    exported_at: datetime


class UserLine(_Line):
    kind: Literal["user"] = "user"
    user_name: str
    is_admin: bool
    may_query: bool
    token_hash: str

    @property
    def key(self) -> str:
        return f"user {self.user_name!r}"

    def write(self, store: StateStore) -> None:
        store.create_user(User(self.user_name, self.is_admin, self.may_query), self.token_hash)


class DatasetLine(_Line):
    kind: Literal["dataset"] = "dataset"
    dataset_name: str
    dataset_access: DatasetAccess
    metadata: DatasetMetadata
    retired: bool

    @property
    def key(self) -> str:
        return f"dataset {self.dataset_name!r}"

    def write(self, store: StateStore) -> None:
        store.create_dataset(Dataset(self.dataset_name, self.dataset_access, self.metadata))
        if self.retired:
            store.delete_dataset(self.dataset_name)


class GrantLine(_Line):
    kind: Literal["grant"] = "grant"
    user_name: str
    dataset_name: str
    initial_epsilon: Amount
    initial_delta: Amount
    spent_epsilon: Amount
    spent_delta: Amount

    @property
    def key(self) -> str:
        return f"grant of {self.user_name!r} on {self.dataset_name!r}"

    def write(self, store: StateStore) -> None:
        """The grant, then what it spent in one charge: never left at zero spent."""
        spent = PrivacyCost(self.spent_epsilon, self.spent_delta)
        store.put_grant(self.user_name, self.dataset_name,
                        PrivacyCost(self.initial_epsilon, self.initial_delta))
        if spent != PrivacyCost(0.0, 0.0) and store.spend(self.user_name, self.dataset_name,
                                                          spent) is None:
            store.delete_grant(self.user_name, self.dataset_name)
            raise Conflict(f"{self.key}: its spent budget could not be charged; stop the "
                           "servers and import again.")


class ArchiveLine(_Line):
    kind: Literal["archive"] = "archive"
    user_name: str
    idempotency_key: str
    fingerprint: str
    dataset_name: str
    engine: str
    request: dict[str, Any]
    status: Literal["done", "failed"]
    epsilon: Amount
    delta: Amount
    response: dict[str, Any] | None
    error: dict[str, str] | None
    timestamp: datetime

    @property
    def key(self) -> str:
        return f"archive of {self.user_name!r} under key {self.idempotency_key!r}"

    def write(self, store: StateStore) -> None:
        record = ArchiveRecord(
            self.user_name, self.idempotency_key, self.fingerprint, self.dataset_name,
            self.engine, self.request, status=self.status,
            cost=PrivacyCost(self.epsilon, self.delta), response=self.response,
            error=self.error, timestamp=self.timestamp)
        taken = store.claim(record)  # inserted as it is: done or failed, with its response
        if taken is not None and (taken.status == "pending" or not _same(_archive(taken), self)):
            raise Conflict(f"{self.key}: the target store holds another one (a query in "
                           "flight?); stop the servers and import again.")


Record = UserLine | DatasetLine | GrantLine | ArchiveLine
_RECORD: TypeAdapter[Record] = TypeAdapter(
    Annotated[Record, Field(discriminator="kind")])


def _user(user: User, token_hash: str) -> UserLine:
    return UserLine(user_name=user.name, is_admin=user.is_admin, may_query=user.may_query,
                    token_hash=token_hash)


def _dataset(dataset: Dataset, retired: bool) -> DatasetLine:
    return DatasetLine(dataset_name=dataset.name, dataset_access=dataset.access,
                       metadata=dataset.metadata, retired=retired)


def _grant(grant: Grant) -> GrantLine:
    return GrantLine(user_name=grant.user, dataset_name=grant.dataset,
                     initial_epsilon=grant.initial.epsilon, initial_delta=grant.initial.delta,
                     spent_epsilon=grant.spent.epsilon, spent_delta=grant.spent.delta)


def _archive(record: ArchiveRecord) -> ArchiveLine:
    return ArchiveLine(
        user_name=record.user, idempotency_key=record.idempotency_key,
        fingerprint=record.fingerprint, dataset_name=record.dataset, engine=record.engine,
        request=record.request, status=record.status,  # type: ignore[arg-type]
        epsilon=record.cost.epsilon, delta=record.cost.delta, response=record.response,
        error=record.error, timestamp=record.timestamp)


def records(store: StateStore) -> list[Record]:
    """Everything of the store that an export carries, in the order of KINDS."""
    found: list[Record] = [_user(u, h) for u, h in store.list_user_records()]
    found += [_dataset(d, retired) for d, retired in store.list_dataset_records()]
    found += [_grant(g) for g in store.list_grants()]
    found += [_archive(a) for a in store.list_archives()]
    return found


def _dumps(line: _Line, exclude: set[str] | None = None) -> str:
    return json.dumps(line.model_dump(mode="json", exclude=exclude), sort_keys=True,
                      ensure_ascii=False)


def export_store(store: StateStore, out: TextIO, now: datetime | None = None) -> Counter[str]:
    """Write the store's export to `out`; how many records of each kind it holds."""
    header = Header(kind=FORMAT, version=VERSION, exported_at=now or datetime.now(UTC))
    out.write(_dumps(header) + "\n")
    counts: Counter[str] = Counter()
    for record in records(store):
        out.write(_dumps(record) + "\n")
        counts[record.kind] += 1
    return counts


_REWRITE = "give the file `lomas-admin store export` wrote, unedited"


def read_export(lines: Iterable[str]) -> list[Record]:
    """The records of an export. Raises InvalidDocument (the line and what is wrong)."""
    found: list[Record] = []
    keys: set[str] = set()
    header = False
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        if not header:
            _header(number, text)
            header = True
            continue
        record = _record(number, text)
        if record.key in keys:
            raise InvalidDocument(f"line {number}: a second {record.key}; {_REWRITE}.")
        keys.add(record.key)
        found.append(record)
    if not header:
        raise InvalidDocument(f"The file is empty; {_REWRITE}.")
    return found


def _record(number: int, text: str) -> Record:
    try:
        return _RECORD.validate_json(text)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise InvalidDocument(f"line {number}: not a record of a Lomas export ({where}: "
                           f"{problem['msg']}); {_REWRITE}.") from None


def _header(number: int, text: str) -> None:
    try:
        header = Header.model_validate_json(text)
    except ValidationError:
        raise InvalidDocument(f'line {number}: not a Lomas export (it must begin with the '
                           f'{{"kind": "{FORMAT}", ...}} header); {_REWRITE}.') from None
    if header.version != VERSION:
        raise InvalidDocument(f"line {number}: export version {header.version}, but this Lomas "
                           f"reads version {VERSION} only; import it with the Lomas that "
                           "wrote it.")


@dataclass
class ImportReport:
    """What an import wrote and skipped, by kind; or why it wrote nothing."""

    written: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    conflicts: list[str] = field(default_factory=list)


def _same(a: Record, b: Record) -> bool:
    """Equal content, as written in the file (NaN equals NaN there); an archive's timestamp
    aside (MongoDB keeps milliseconds only)."""
    drop = {"timestamp"} if isinstance(a, ArchiveLine) else None
    return _dumps(a, drop) == _dumps(b, drop)


def plan_import(store: StateStore, incoming: list[Record]) -> tuple[list[Record], ImportReport]:
    """The records to write (those the store lacks), with what is skipped and every
    record that differs from the store's own (then nothing is to be written)."""
    held = {record.key: record for record in records(store)}
    report = ImportReport()
    new: list[Record] = []
    for record in incoming:
        if isinstance(record, GrantLine) and not _spendable(record):
            report.conflicts.append(f"{record.key}: spent exceeds its initial budget; the "
                                    "file was edited: export the store again.")
        elif (existing := held.get(record.key)) is None:
            new.append(record)
        elif _same(record, existing):
            report.skipped[record.kind] += 1
        else:
            report.conflicts.append(f"{record.key}: the target store holds another one; "
                                    "delete it there or import into an empty store.")
    return ([] if report.conflicts else new), report


def import_store(store: StateStore, lines: Iterable[str],
                 dry_run: bool = False) -> ImportReport:
    """Write the export's records the store lacks, or nothing if any record conflicts
    with the store's own. Raises InvalidDocument (an unreadable file), Conflict (a record
    that appeared meanwhile: the servers were not stopped), StoreUnavailable."""
    new, report = plan_import(store, read_export(lines))
    for record in sorted(new, key=lambda r: KINDS.index(r.kind)):
        if not dry_run:
            record.write(store)
        report.written[record.kind] += 1
    return report


def _spendable(grant: GrantLine) -> bool:
    """Whether the store's spend, with its float tolerance, takes what it spent."""
    floor = PrivacyCost(grant.spent_epsilon, grant.spent_delta).allowance()
    return grant.initial_epsilon >= floor.epsilon and grant.initial_delta >= floor.delta
