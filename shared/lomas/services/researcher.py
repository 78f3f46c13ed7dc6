"""What a researcher may read: metadata, dummy data, budgets, past queries."""

from __future__ import annotations

from lomas.domain import ArchiveRecord, User
from lomas.errors import InvalidQuery
from lomas.services.access import dataset_for, may_query
from lomas.services.context import Context
from lomas_contract import models as m


def metadata(ctx: Context, user: User, req: m.DatasetRequest) -> m.DatasetMetadata:
    """The dataset's public metadata (never its access). Raises UnauthorizedAccess."""
    dataset, _ = dataset_for(ctx.store, user, req.dataset_name)
    return dataset.metadata


def check_dummy_rows(ctx: Context, rows: int) -> None:
    if rows > ctx.settings.max_dummy_rows:
        raise InvalidQuery(
            f"At most {ctx.settings.max_dummy_rows} dummy rows (asked: {rows}): pass a "
            "smaller nb_rows= to the client (dummy_nb_rows in a request body); the "
            "server's limit is LOMAS_MAX_DUMMY_ROWS.")


def dummy_dataset(ctx: Context, user: User, req: m.DummyDatasetRequest) -> m.DummyDatasetResponse:
    """Seeded random rows shaped by the metadata. Raises UnauthorizedAccess, InvalidQuery."""
    dataset, _ = dataset_for(ctx.store, user, req.dataset_name)
    check_dummy_rows(ctx, req.dummy_nb_rows)
    # pandas and numpy load here, not with the admin function that shares this module.
    from lomas.data.dummy import dummy_frame
    from lomas.data.frames import to_tight

    frame = dummy_frame(dataset.metadata, req.dummy_nb_rows, req.dummy_seed)
    return m.DummyDatasetResponse(
        dataset_name=dataset.name,
        dtypes={c: str(t) for c, t in frame.dtypes.items()},
        dummy_df=to_tight(frame),
    )


def initial_budget(ctx: Context, user: User, req: m.DatasetRequest) -> m.InitialBudgetResponse:
    _, grant = dataset_for(ctx.store, user, req.dataset_name)
    return m.InitialBudgetResponse(
        initial_epsilon=grant.initial.epsilon, initial_delta=grant.initial.delta
    )


def spent_budget(ctx: Context, user: User, req: m.DatasetRequest) -> m.SpentBudgetResponse:
    _, grant = dataset_for(ctx.store, user, req.dataset_name)
    return m.SpentBudgetResponse(
        total_spent_epsilon=grant.spent.epsilon, total_spent_delta=grant.spent.delta
    )


def remaining_budget(ctx: Context, user: User, req: m.DatasetRequest) -> m.RemainingBudgetResponse:
    _, grant = dataset_for(ctx.store, user, req.dataset_name)
    return m.RemainingBudgetResponse(
        remaining_epsilon=grant.remaining.epsilon, remaining_delta=grant.remaining.delta
    )


def datasets(ctx: Context, user: User) -> m.GrantedDatasetsResponse:
    """The active datasets the caller has a grant on, by name. Raises UnauthorizedAccess
    for an account that may not query."""
    may_query(user)
    active = set(ctx.store.list_datasets())
    grants = sorted((g for g in ctx.store.list_grants(user=user.name) if g.dataset in active),
                    key=lambda g: g.dataset)
    return m.GrantedDatasetsResponse(datasets=[m.DatasetGrant(
        dataset_name=g.dataset, initial_epsilon=g.initial.epsilon,
        initial_delta=g.initial.delta, spent_epsilon=g.spent.epsilon,
        spent_delta=g.spent.delta, remaining_epsilon=g.remaining.epsilon,
        remaining_delta=g.remaining.delta) for g in grants])


def previous_query(record: ArchiveRecord) -> m.PreviousQuery:
    return m.PreviousQuery(
        user_name=record.user,
        dataset_name=record.dataset,
        engine=record.engine,
        request=record.request,
        epsilon=record.cost.epsilon,
        delta=record.cost.delta,
        status=record.status,
        response=record.response,
        error=record.error,
        idempotency_key=record.idempotency_key,
        timestamp=record.timestamp,
    )


def previous_queries(
    ctx: Context, user: User, req: m.DatasetRequest
) -> m.PreviousQueriesResponse:
    """The caller's own finished queries on the dataset, oldest first."""
    dataset, _ = dataset_for(ctx.store, user, req.dataset_name)
    records = ctx.store.list_archives(user=user.name, dataset=dataset.name)
    return m.PreviousQueriesResponse(previous_queries=[previous_query(r) for r in records])
