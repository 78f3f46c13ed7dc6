"""Who the caller is and what they may touch."""

from __future__ import annotations

import contextlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from pydantic import ValidationError

from lomas.domain import Dataset, Grant, User
from lomas.errors import Conflict, Unauthenticated, UnauthorizedAccess
from lomas.ports import StateStore
from lomas.services.context import OidcRules
from lomas.services.tokens import hash_token, new_token
from lomas_contract.models import CreateUserRequest

log = logging.getLogger(__name__)


class TokenCache:
    """The users of API tokens seen in the last `seconds`, by token hash, so that a burst
    of requests looks a token up once: a rotated or revoked token, or a user disabled,
    takes effect within `seconds` (LOMAS_AUTH_CACHE_SECONDS, at most 5). Unknown tokens
    are never cached."""

    def __init__(self, seconds: float, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds, self._max, self._clock = seconds, max_entries, clock
        self._users: dict[str, tuple[float, User]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> User | None:
        found = self._users.get(digest)
        if found is None or found[0] <= self._clock():
            return None
        return found[1]

    def put(self, digest: str, user: User) -> None:
        if self._seconds <= 0:
            return
        with self._lock:
            if len(self._users) >= self._max:
                now = self._clock()
                self._users = {d: e for d, e in self._users.items() if e[0] > now}
                if len(self._users) >= self._max:
                    self._users.clear()
            self._users[digest] = (self._clock() + self._seconds, user)


def authenticate(store: StateStore, token: str | None, oidc: OidcRules | None = None,
                 cache: TokenCache | None = None) -> User:
    """The user holding this bearer token: an API token, or (with OIDC configured) a JSON
    Web Token from the issuer. Raises Unauthenticated, IdentityProviderUnavailable."""
    if not token:
        raise Unauthenticated("A bearer token is required.")
    if oidc is not None and token.count(".") == 2:  # API tokens have no dots
        return oidc_user(store, oidc, token)
    digest = hash_token(token)
    if cache is not None and (user := cache.get(digest)) is not None:
        return user
    found = store.find_user_by_token_hash(digest)
    if found is None or not hmac.compare_digest(found[1], digest):
        raise Unauthenticated("The token is not valid.")
    if cache is not None:
        cache.put(digest, found[0])
    return found[0]


def oidc_user(store: StateStore, oidc: OidcRules, token: str) -> User:
    """The Lomas user a verified token names; an admin if its admin claim says so."""
    claims = oidc.verifier.claims(token)
    name = claims.get(oidc.user_claim)
    if not isinstance(name, str) or not name:
        raise Unauthenticated(f"The token has no {oidc.user_claim!r} claim naming a user.")
    user = store.get_user(name)
    if user is None:
        if not oidc.auto_provision:
            raise _unknown_user(name)
        user = _provision(store, name)
    held = claims.get(oidc.admin_claim)
    values = held if isinstance(held, list) else [held]
    if oidc.admin_value is not None and oidc.admin_value in values and not user.is_admin:
        user = replace(user, is_admin=True)
    return user


def _provision(store: StateStore, name: str) -> User:
    """A new user with no grants and an API token nobody knows (LOMAS_OIDC_AUTO_PROVISION)."""
    try:
        CreateUserRequest(user_name=name)
    except ValidationError:
        raise Unauthenticated(f"{name!r} cannot be a Lomas user name.") from None
    with contextlib.suppress(Conflict):  # another request provisioned it meanwhile
        store.create_user(User(name), hash_token(new_token()))
    log.info("user %s provisioned from a token", name)
    user = store.get_user(name)
    if user is None:  # deleted again at once
        raise _unknown_user(name)
    return user


def _unknown_user(name: str) -> Unauthenticated:
    return Unauthenticated(f"There is no Lomas user {name!r}: ask an administrator.")


def require_admin(user: User) -> None:
    """Raises UnauthorizedAccess unless the user is an administrator."""
    if not user.is_admin:
        raise UnauthorizedAccess("This operation needs an administrator.")


def no_access(dataset_name: str) -> UnauthorizedAccess:
    # The same answer for an unknown dataset and one without a grant:
    # a researcher cannot probe which dataset names exist.
    return UnauthorizedAccess(f"You have no access to dataset {dataset_name!r}.")


def may_query(user: User) -> None:
    """Raises UnauthorizedAccess for an account that may not query."""
    if not user.may_query:
        raise UnauthorizedAccess("Your account may not query; ask an administrator.")


def dataset_for(store: StateStore, user: User, dataset_name: str) -> tuple[Dataset, Grant]:
    """The dataset and the caller's grant on it. Raises UnauthorizedAccess."""
    may_query(user)
    found = store.access(user.name, dataset_name)
    if found is None:
        raise no_access(dataset_name)
    return found
