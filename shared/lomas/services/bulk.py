"""The bulk import: users, datasets and grants of one YAML document, all or nothing.

Importing a document twice changes nothing the second time: what the store holds equal
to the document is reported unchanged (a user keeps their token), and only what differs
is refused, as a Conflict naming the object, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from pydantic import ValidationError

from lomas import yaml12
from lomas.domain import Dataset, Grant
from lomas.errors import Conflict, InvalidDocument, NotFound, validation_details
from lomas.services import admin
from lomas.services.context import Context
from lomas_contract import models as m


def parse_import(text: str) -> m.ImportDocument:
    """Parse the bulk YAML document. Raises InvalidDocument (in one line)."""
    try:
        return m.ImportDocument.model_validate(yaml12.load(text) or {})
    except yaml.YAMLError as exc:
        raise InvalidDocument(f"The import document is not valid YAML{yaml12.where(exc)}.") \
            from exc
    except ValidationError as exc:
        raise InvalidDocument("The import document is not valid: "
                              + validation_details(exc, "document")) from exc


@dataclass
class _Plan:
    """What the import writes, and what it leaves as the store holds it."""

    users: list[m.CreateUserRequest] = field(default_factory=list)
    datasets: list[tuple[m.CreateDatasetRequest, Dataset]] = field(default_factory=list)
    grants: list[m.ImportGrant] = field(default_factory=list)
    unchanged: m.ImportUnchanged = field(default_factory=m.ImportUnchanged)


def _repeats(kind: str, keys: list[str]) -> None:
    if repeated := sorted({k for k in keys if keys.count(k) > 1}):
        raise InvalidDocument(f"{kind} {', '.join(repeated)} repeat(s) in the import "
                              "document: give each once.")


def _plan_users(ctx: Context, doc: m.ImportDocument, plan: _Plan) -> None:
    for u in doc.users:
        held = ctx.store.get_user(u.user_name)
        if held is None:
            plan.users.append(u)
        elif (held.is_admin, held.may_query) == (u.is_admin, u.may_query):
            plan.unchanged.users.append(u.user_name)
        else:
            raise Conflict(
                f"User {u.user_name!r} exists with is_admin={held.is_admin}, may_query="
                f"{held.may_query}; the document says is_admin={u.is_admin}, may_query="
                f"{u.may_query}. Make the document say what the store holds (`lomas-admin "
                f"users show {u.user_name}`), or change the user first.")


def _differences(held: Dataset, wanted: Dataset) -> list[str]:
    """What of a registered dataset a document describes otherwise (names, no values)."""
    found = []
    if held.access.model_dump(mode="json") != wanted.access.model_dump(mode="json"):
        found.append(f"access ({held.access.location()} registered, "
                     f"{wanted.access.location()} in the document)")
    was, new = held.metadata.model_dump(mode="json"), wanted.metadata.model_dump(mode="json")
    settings = sorted(k for k in was.keys() | new.keys() if k != "columns"
                      and was.get(k) != new.get(k))
    columns = sorted(c for c in was["columns"].keys() | new["columns"].keys()
                     if was["columns"].get(c) != new["columns"].get(c))
    if settings or columns:
        found.append("metadata (" + ", ".join(settings + [f"column {c}" for c in columns])
                     + ")")
    return found


def _plan_datasets(ctx: Context, doc: m.ImportDocument, plan: _Plan) -> None:
    for d in doc.datasets:
        held = ctx.store.get_dataset(d.dataset_name)
        wanted = admin.requested_dataset(ctx, d)
        if held is None:
            plan.datasets.append((d, admin.checked_dataset(ctx, d, wanted)))
        elif not (differ := _differences(held, wanted)):
            plan.unchanged.datasets.append(d.dataset_name)
        else:
            raise Conflict(
                f"Dataset {d.dataset_name!r} is registered with another "
                f"{' and another '.join(differ)}. Make the document say what is registered "
                f"(`lomas-admin datasets show {d.dataset_name}`), or retire the dataset "
                "first to register it anew (`datasets delete`: its grants are kept).")


def _plan_grant(ctx: Context, g: m.ImportGrant, plan: _Plan) -> None:
    """A grant kept for a user or dataset the import creates again resumes, set to the
    document's budget (never below what it spent); any other grant that differs is a
    Conflict."""
    kept: Grant | None = ctx.store.get_grant(g.user_name, g.dataset_name)
    resumed = (g.user_name in {u.user_name for u in plan.users}
               or g.dataset_name in {d.dataset_name for d, _ in plan.datasets})
    if kept is not None and (kept.initial.epsilon, kept.initial.delta) == (
            g.initial_epsilon, g.initial_delta):
        plan.unchanged.grants.append(admin.grant_info(kept))
        return
    if kept is not None and not resumed:
        raise Conflict(
            f"User {g.user_name!r} has a grant on {g.dataset_name!r} of epsilon "
            f"{kept.initial.epsilon:g}, delta {kept.initial.delta:g}; the document says "
            f"epsilon {g.initial_epsilon:g}, delta {g.initial_delta:g}. Make the document "
            "say what the store holds, or change the grant (`lomas-admin grants set`).")
    if kept is not None and (kept.spent.epsilon > g.initial_epsilon
                             or kept.spent.delta > g.initial_delta):
        raise Conflict(f"User {g.user_name!r} has spent epsilon {kept.spent.epsilon}, "
                       f"delta {kept.spent.delta} on {g.dataset_name!r} already: grant "
                       "at least that.")
    plan.grants.append(g)


def _plan(ctx: Context, doc: m.ImportDocument) -> _Plan:
    """Refuse the whole document before writing anything if a part of it cannot apply.
    Raises InvalidDocument, Conflict, NotFound."""
    users = [u.user_name for u in doc.users]
    datasets = [d.dataset_name for d in doc.datasets]
    _repeats("User(s)", users)
    _repeats("Dataset(s)", datasets)
    _repeats("Grant(s)", [f"{g.user_name} on {g.dataset_name}" for g in doc.grants])
    plan = _Plan()
    _plan_users(ctx, doc, plan)
    _plan_datasets(ctx, doc, plan)
    for g in doc.grants:
        if g.user_name not in users and ctx.store.get_user(g.user_name) is None:
            raise NotFound(f"User {g.user_name!r} does not exist: add them to the "
                           "document's users, or create them first.")
        if g.dataset_name not in datasets and ctx.store.get_dataset(g.dataset_name) is None:
            raise admin.no_dataset(ctx.store, g.dataset_name)
        _plan_grant(ctx, g, plan)
    return plan


def import_document(ctx: Context, doc: m.ImportDocument) -> m.ImportResponse:
    """Create what the document holds and the store lacks, after checking that all of it
    can apply; what the store holds equal is left unchanged (a user keeps their token).
    Raises Conflict (something differs), NotFound or InvalidDocument with nothing
    written."""
    plan = _plan(ctx, doc)
    users = [admin.create_user(ctx, u) for u in plan.users]
    datasets = [admin.create_dataset(ctx, d, dataset).dataset_name for d, dataset in plan.datasets]
    grants = [
        admin.put_grant(ctx, g.user_name, g.dataset_name,
                        m.GrantRequest(initial_epsilon=g.initial_epsilon,
                                       initial_delta=g.initial_delta))
        for g in plan.grants
    ]
    return m.ImportResponse(users=users, datasets=datasets, grants=grants,
                            unchanged=plan.unchanged)
