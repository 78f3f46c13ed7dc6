"""Who the caller is and what they may touch."""

from __future__ import annotations

import hmac

from lomas.domain import Dataset, Grant, User
from lomas.errors import Unauthenticated, UnauthorizedAccess
from lomas.ports import StateStore
from lomas.services.tokens import hash_token


def authenticate(store: StateStore, token: str | None) -> User:
    """The user holding this bearer token. Raises Unauthenticated."""
    if not token:
        raise Unauthenticated("A bearer token is required.")
    digest = hash_token(token)
    found = store.find_user_by_token_hash(digest)
    if found is None or not hmac.compare_digest(found[1], digest):
        raise Unauthenticated("The token is not valid.")
    return found[0]


def require_admin(user: User) -> None:
    """Raises UnauthorizedAccess unless the user is an administrator."""
    if not user.is_admin:
        raise UnauthorizedAccess("This operation needs an administrator.")


def no_access(dataset_name: str) -> UnauthorizedAccess:
    # The same answer for an unknown dataset and one without a grant:
    # a researcher cannot probe which dataset names exist.
    return UnauthorizedAccess(f"You have no access to dataset {dataset_name!r}.")


def dataset_for(store: StateStore, user: User, dataset_name: str) -> tuple[Dataset, Grant]:
    """The dataset and the caller's grant on it. Raises UnauthorizedAccess."""
    if not user.may_query:
        raise UnauthorizedAccess("Your account may not query; ask an administrator.")
    grant = store.get_grant(user.name, dataset_name)
    dataset = store.get_dataset(dataset_name) if grant else None
    if grant is None or dataset is None:
        raise no_access(dataset_name)
    return dataset, grant
