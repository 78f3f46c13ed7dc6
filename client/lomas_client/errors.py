"""Exceptions mirroring the server's error types (the `type` of an error body)."""

from __future__ import annotations


class LomasClientError(Exception):
    """Base of every error the client raises."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class InvalidRequestError(LomasClientError):
    """400: the request's input is wrong; one of the two below (catch this for either)."""


class InvalidQueryError(InvalidRequestError):
    """400: bad SQL, bad parameters, a request the server's schema refuses."""


class InvalidDocumentError(InvalidRequestError):
    """400 (admin): an import document, a dataset's metadata or access, or an admin
    request's body that is not valid."""


class UnauthenticatedError(LomasClientError):
    """401: missing or invalid token."""


class UnauthorizedAccessError(LomasClientError):
    """403: no grant on the dataset, account disabled, or not an admin."""


class BudgetExhaustedError(LomasClientError):
    """403: the remaining budget does not cover the query's cost."""


class NotFoundError(LomasClientError):
    """404: unknown user, dataset or grant (admin)."""


class ConflictError(LomasClientError):
    """409: the object exists, or the idempotency key was used differently."""


class PayloadTooLargeError(LomasClientError):
    """413: the request is over the server's size limit."""


class RateLimitedError(LomasClientError):
    """429: too many queries for now (the client waits Retry-After and retries itself)."""


class ExternalLibraryError(LomasClientError):
    """422: the DP library failed on an accepted query (the budget is spent)."""


class ServiceUnavailableError(LomasClientError):
    """503: the store, the dataset source or the identity provider is unreachable for now."""


class EngineUnavailableError(LomasClientError):
    """501: this server does not serve that engine (not installed); nothing was spent."""


class ServerUnreachableError(LomasClientError):
    """No answer from the server: it is down, the URL or the port is wrong, or it did not
    answer within the timeout (after the client's own retries). A query whose answer was
    lost may be sent again: its idempotency key makes it charged once."""


class InternalServerError(LomasClientError):
    """500: unexpected server error; quote the request id to the operator."""


BY_TYPE: dict[str, type[LomasClientError]] = {
    "InvalidQuery": InvalidQueryError,
    "InvalidDocument": InvalidDocumentError,
    "Unauthenticated": UnauthenticatedError,
    "UnauthorizedAccess": UnauthorizedAccessError,
    "BudgetExhausted": BudgetExhaustedError,
    "NotFound": NotFoundError,
    "RateLimited": RateLimitedError,
    "Conflict": ConflictError,
    "PayloadTooLarge": PayloadTooLargeError,
    "ExternalLibraryError": ExternalLibraryError,
    "StoreUnavailable": ServiceUnavailableError,
    "DatasetUnavailable": ServiceUnavailableError,
    "IdentityProviderUnavailable": ServiceUnavailableError,
    "EngineUnavailable": EngineUnavailableError,
    "InternalServer": InternalServerError,
}

BY_STATUS: dict[int, type[LomasClientError]] = {
    # When a proxy in front of Lomas answers itself (API Gateway's own 413 or 429, an
    # ingress's 502/503/504), its body is not Lomas's {type, message}: go by the status.
    413: PayloadTooLargeError,
    429: RateLimitedError,
    500: InternalServerError,
    501: EngineUnavailableError,
    502: ServiceUnavailableError,
    503: ServiceUnavailableError,
    504: ServiceUnavailableError,
}
