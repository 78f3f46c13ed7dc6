"""lomas_client: differentially-private queries on data you never see."""

from typing import TYPE_CHECKING, Any

from lomas_client.errors import (
    BudgetExhaustedError,
    ConflictError,
    EngineUnavailableError,
    ExternalLibraryError,
    InternalServerError,
    InvalidDocumentError,
    InvalidQueryError,
    InvalidRequestError,
    LomasClientError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    ServerUnreachableError,
    ServiceUnavailableError,
    UnauthenticatedError,
    UnauthorizedAccessError,
)

if TYPE_CHECKING:
    from lomas_client.client import Client


def __getattr__(name: str) -> Any:
    # The Client (and pandas with it) loads on first use: a server importing only the
    # wire models (lomas_contract) does not pay for pandas.
    if name == "Client":
        from lomas_client.client import Client

        return Client
    raise AttributeError(f"module 'lomas_client' has no attribute {name!r}")


__all__ = [
    "BudgetExhaustedError",
    "Client",
    "ConflictError",
    "EngineUnavailableError",
    "ExternalLibraryError",
    "InternalServerError",
    "InvalidDocumentError",
    "InvalidQueryError",
    "InvalidRequestError",
    "LomasClientError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "ServerUnreachableError",
    "ServiceUnavailableError",
    "UnauthenticatedError",
    "UnauthorizedAccessError",
]
