"""Administration: users, datasets, grants, archives and bulk import."""

from __future__ import annotations

from lomas.domain import Dataset, Grant, PrivacyCost, User
from lomas.errors import Conflict, InvalidDocument, NotFound
from lomas.ports import StateStore
from lomas.services.context import Context
from lomas.services.researcher import previous_query
from lomas.services.tokens import hash_token, new_token
from lomas_contract import models as m
from lomas_contract.sources.local import LocalAccess


def _info(user: User) -> m.UserInfo:
    return m.UserInfo(user_name=user.name, is_admin=user.is_admin, may_query=user.may_query)


def create_user(ctx: Context, req: m.CreateUserRequest) -> m.UserToken:
    """Create a user and issue their token (shown once). Raises Conflict."""
    token = new_token()
    ctx.store.create_user(User(req.user_name, req.is_admin, req.may_query), hash_token(token))
    return m.UserToken(user_name=req.user_name, token=token)


def _user(store: StateStore, name: str) -> User:
    user = store.get_user(name)
    if user is None:
        raise NotFound(f"User {name!r} does not exist.")
    return user


def list_users(ctx: Context) -> m.UsersResponse:
    return m.UsersResponse(users=[_info(u) for u in ctx.store.list_users()])


def get_user(ctx: Context, name: str) -> m.UserInfo:
    return _info(_user(ctx.store, name))


def delete_user(ctx: Context, name: str) -> None:
    if not ctx.store.delete_user(name):
        raise NotFound(f"User {name!r} does not exist.")


def patch_user(ctx: Context, name: str, req: m.PatchUserRequest) -> m.UserInfo:
    if not ctx.store.set_may_query(name, req.may_query):
        raise NotFound(f"User {name!r} does not exist.")
    return get_user(ctx, name)


def rotate_token(ctx: Context, name: str) -> m.UserToken:
    """Issue a new token; the old one stops working at once. Raises NotFound."""
    token = new_token()
    if not ctx.store.set_token_hash(name, hash_token(token)):
        raise NotFound(f"User {name!r} does not exist.")
    return m.UserToken(user_name=name, token=token)


def _metadata(ctx: Context, req: m.CreateDatasetRequest) -> m.DatasetMetadata:
    """Inline, or read from a local path, S3 or HTTP. Raises InvalidDocument."""
    if req.metadata is not None:
        return req.metadata
    access = req.metadata_access or LocalAccess(path=req.metadata_path or "")
    return ctx.sources.load_metadata(access)


UNUSABLE = ("missing from the table", "type", "cannot load", "no table")
"""Problems that refuse a table's registration: queries could not run on it."""


def requested_dataset(ctx: Context, req: m.CreateDatasetRequest) -> Dataset:
    """The dataset a request describes, its access checked and its metadata read once.
    Raises InvalidDocument."""
    ctx.sources.validate_access(req.dataset_access)
    return Dataset(req.dataset_name, req.dataset_access, _metadata(ctx, req))


def checked_dataset(ctx: Context, req: m.CreateDatasetRequest,
                    dataset: Dataset | None = None) -> Dataset:
    """The dataset to register (`requested_dataset`). A table in a database (nothing to
    download) is checked against the metadata now: a missing column or another type
    refuses it. Raises InvalidDocument."""
    dataset = dataset or requested_dataset(ctx, req)
    if ctx.sources.pushes_down(dataset.access):
        report = ctx.sources.check(dataset)
        if unusable := [p for p in report.problems if p.problem.startswith(UNUSABLE)]:
            raise InvalidDocument(
                "The table does not match the metadata (fix one or the other, then register "
                "it again): " + "; ".join(f"{p.column or 'table'}: {p.problem}"
                                          for p in unusable))
    return dataset


def create_dataset(ctx: Context, req: m.CreateDatasetRequest,
                   dataset: Dataset | None = None) -> m.DatasetInfo:
    """Register a dataset, or bring a retired one of that name back with this access and
    metadata (its grants resume). Raises Conflict, InvalidDocument (access or metadata)."""
    dataset = dataset or checked_dataset(ctx, req)
    metadata = dataset.metadata
    ctx.store.create_dataset(dataset)
    return m.DatasetInfo(dataset_name=dataset.name, dataset_access=dataset.access,
                         metadata=metadata)


def list_datasets(ctx: Context) -> m.DatasetsResponse:
    return m.DatasetsResponse(datasets=ctx.store.list_datasets())


def no_dataset(store: StateStore, name: str) -> NotFound:
    """The refusal of a dataset that is not active: unknown, or retired (then said so)."""
    if any(d.name == name and retired for d, retired in store.list_dataset_records()):
        return NotFound(f"Dataset {name!r} is retired: register it again under that name "
                        "to use it (its grants resume).")
    return NotFound(f"Dataset {name!r} does not exist.")


def _active(store: StateStore, name: str) -> Dataset:
    dataset = store.get_dataset(name)
    if dataset is None:
        raise no_dataset(store, name)
    return dataset


def get_dataset(ctx: Context, name: str) -> m.DatasetInfo:
    """An active dataset. Raises NotFound (unknown or retired)."""
    dataset = _active(ctx.store, name)
    return m.DatasetInfo(dataset_name=dataset.name, dataset_access=dataset.access,
                         metadata=dataset.metadata)


def privacy_warnings(metadata: m.DatasetMetadata) -> list[str]:
    """Where a dataset's settings are weaker than SmartNoise's defaults."""
    warnings = []
    if not metadata.censor_dims:
        warnings.append("censor_dims is false: every GROUP BY key present in the private "
                        "data is released, however few rows have it")
    return warnings


def check_dataset(ctx: Context, name: str) -> m.DatasetCheckResponse:
    """Load the dataset once and report problems as counts. Raises NotFound."""
    dataset = _active(ctx.store, name)
    md = dataset.metadata
    settings = m.PrivacySettings.model_validate(
        md.model_dump(include=set(m.PrivacySettings.model_fields)))
    return ctx.sources.check(dataset).model_copy(
        update={"privacy": settings, "warnings": privacy_warnings(md)})


def delete_dataset(ctx: Context, name: str) -> m.DatasetRetired:
    """Retire a dataset: it can no longer be queried; its grants, their spent budgets and
    its archives stay, and registering its name again resumes them. Raises NotFound."""
    if not ctx.store.delete_dataset(name):
        raise no_dataset(ctx.store, name)
    ctx.handles.forget(name)
    kept = sum(g.dataset == name for g in ctx.store.list_grants())
    grants = f"{kept} grant" + ("" if kept == 1 else "s")
    return m.DatasetRetired(dataset_name=name, grants_kept=kept, message=(
        f"Dataset {name!r} retired: its {grants}, their spent budgets and its archives are "
        f"kept; registering {name!r} again resumes them."))


def grant_info(grant: Grant, retired: bool = False) -> m.GrantInfo:
    return m.GrantInfo(
        user_name=grant.user, dataset_name=grant.dataset,
        initial_epsilon=grant.initial.epsilon, initial_delta=grant.initial.delta,
        total_spent_epsilon=grant.spent.epsilon, total_spent_delta=grant.spent.delta,
        remaining_epsilon=grant.remaining.epsilon, remaining_delta=grant.remaining.delta,
        dataset_retired=retired,
    )


def put_grant(ctx: Context, user: str, dataset: str, req: m.GrantRequest) -> m.GrantInfo:
    """Create or change a grant on an active dataset. Raises NotFound (a retired dataset
    too), Conflict (below what is spent)."""
    _user(ctx.store, user)
    _active(ctx.store, dataset)
    initial = PrivacyCost(req.initial_epsilon, req.initial_delta)
    return grant_info(ctx.store.put_grant(user, dataset, initial))


def top_up_grant(ctx: Context, user: str, dataset: str, req: m.TopUpRequest) -> m.GrantInfo:
    """Add to a grant's initial and remaining budget, in one atomic update. Raises
    NotFound (no grant, or its dataset retired), Conflict (delta past 1)."""
    _active(ctx.store, dataset)
    grant = ctx.store.top_up_grant(user, dataset, PrivacyCost(req.add_epsilon, req.add_delta))
    if grant is None:
        raise NotFound(f"User {user!r} has no grant on {dataset!r}: set one first.")
    return grant_info(grant)


def list_jobs(ctx: Context) -> m.JobsResponse:
    """The background queries in progress, oldest lease first; never their requests."""
    return m.JobsResponse(jobs=[
        m.JobInfo(uid=j.uid, user_name=j.user, dataset_name=j.dataset, engine=j.engine,
                  kind=j.kind, epsilon=j.cost.epsilon, delta=j.cost.delta, started=j.started,
                  lease_until=j.lease_until)
        for j in ctx.store.list_jobs_in_progress()])


def list_grants(ctx: Context, user: str | None) -> m.GrantsResponse:
    """Every grant, or one user's, with initial, spent and remaining budgets; those on a
    retired dataset marked."""
    active = set(ctx.store.list_datasets())
    return m.GrantsResponse(grants=[grant_info(g, g.dataset not in active)
                                    for g in ctx.store.list_grants(user or None)])


def get_grant(ctx: Context, user: str, dataset: str) -> m.GrantInfo:
    grant = ctx.store.get_grant(user, dataset)
    if grant is None:
        raise NotFound(f"User {user!r} has no grant on {dataset!r}.")
    return grant_info(grant, ctx.store.get_dataset(dataset) is None)


def delete_grant(ctx: Context, user: str, dataset: str) -> m.GrantRevoked:
    """Revoke a grant: its initial budget becomes what it spent, so nothing more can be
    spent, and what it spent is kept (a grant set again later resumes from it, never from
    zero). Raises NotFound."""
    for _ in range(5):  # a spend between the read and the write: read again
        grant = ctx.store.get_grant(user, dataset)
        if grant is None:
            raise NotFound(f"User {user!r} has no grant on {dataset!r}.")
        try:
            ctx.store.put_grant(user, dataset, grant.spent)
            break
        except Conflict:
            continue
    else:
        raise Conflict(f"The grant of {user!r} on {dataset!r} kept spending; try again.")
    spent = grant.spent
    return m.GrantRevoked(
        user_name=user, dataset_name=dataset, total_spent_epsilon=spent.epsilon,
        total_spent_delta=spent.delta, message=(
            f"Revoked {user!r} on {dataset!r}: nothing more can be spent. What it spent "
            f"(epsilon {spent.epsilon:g}, delta {spent.delta:g}) is kept; setting the grant "
            "again resumes from it."))


def archives(ctx: Context, user: str | None, dataset: str | None) -> m.ArchivesResponse:
    records = ctx.store.list_archives(user=user or None, dataset=dataset or None)
    return m.ArchivesResponse(archives=[previous_query(r) for r in records])

