"""The one exception tree of Lomas.

Every error has a stable ``type`` name (the class name) and a message that is
safe to show to the caller: no traceback, no path, no credential. The HTTP
status of each type is mapped in one place, ``functions.common.errors``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class LomasError(Exception):
    """Base of every error Lomas raises on purpose."""

    recorded = False
    """Set once the error was recorded as a query's outcome (its archive and its job)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def type(self) -> str:
        return type(self).__name__

    def record(self) -> dict[str, str]:
        """The error as archives and jobs keep it (`rebuild` raises it again)."""
        return {"type": self.type, "message": self.message}


class InvalidRequest(LomasError):
    """The caller's input is wrong (400); raised as one of the two kinds below, whose type
    names whose input it is. Catch this one for either."""


class InvalidQuery(InvalidRequest):
    """A researcher's bad SQL or parameters, or a request that does not fit the schema."""


class InvalidDocument(InvalidRequest):
    """An administrator's document is not valid: an import document, a dataset's metadata
    or access, an admin route's body, a store export file."""


class Unauthenticated(LomasError):
    """No token, or a token that matches no user."""


class UnauthorizedAccess(LomasError):
    """The caller may not do this: no grant, disabled user, not an admin."""


class BudgetExhausted(LomasError):
    """The grant's remaining budget does not cover the cost."""


class NotFound(LomasError):
    """An administrative object (user, dataset, grant) does not exist."""


class Conflict(LomasError):
    """The object exists already, or an idempotency key is reused."""


class MethodNotAllowed(LomasError):
    """The route exists, but not for this HTTP method."""


class UnsupportedMediaType(LomasError):
    """The request body's Content-Type is not one the route reads."""


class PayloadTooLarge(LomasError):
    """The request body is over the configured limit."""


class RateLimited(LomasError):
    """Too many queries from this user for now; nothing was run or spent."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ExternalLibraryError(LomasError):
    """A DP library refused or failed a query it had accepted.

    `cause`: what failed, for the dummy-data preflight: "query" (the query itself),
    "sql" (the SQL that DuckDB speaks cannot express it: decisive only where DuckDB serves
    the data), "values" (the dummy values, not the query: never a refusal)."""

    def __init__(self, message: str, cause: str = "query") -> None:
        super().__init__(message)
        self.cause = cause


class DatasetUnavailable(LomasError):
    """The dataset's source could not be read (the cause is only logged)."""


class StoreUnavailable(LomasError):
    """The state store could not be reached, or did not answer in time (the cause is only
    logged); the request may be retried after `retry_after` seconds."""

    def __init__(self, message: str = "The state store is unavailable; try again shortly.",
                 retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IdentityProviderUnavailable(LomasError):
    """The OIDC issuer's discovery document or keys could not be read."""


class EngineUnavailable(LomasError):
    """This server does not have what the engine needs installed (nothing was charged)."""


class InternalServer(LomasError):
    """Anything unexpected; the details are only in the server log."""


def rebuild(error: dict[str, str]) -> LomasError:
    """The error recorded as {"type", "message"} (an archive's or a job's), to raise again."""
    cls = globals().get(error.get("type", ""))
    if not (isinstance(cls, type) and issubclass(cls, LomasError)) or cls is RateLimited:
        cls = InternalServer
    return cls(error.get("message", "Internal server error."))


def validation_details(exc: ValidationError, whole: str = "body") -> str:
    """A pydantic error in one line: where and what, for the first ten problems; `whole`
    names an error of no field."""
    parts = [f"{'.'.join(map(str, err['loc'])) or whole}: {err['msg']}" for err in exc.errors()]
    return "; ".join(parts[:10])


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's first line, cut to `limit` characters (its type name if it has none):
    what a cause logged or shown to an administrator needs of a library's message."""
    text = str(exc)
    return text.splitlines()[0][:limit] if text.strip() else type(exc).__name__
