"""lomas_client: differentially-private queries on data you never see."""

from lomas_client.client import Client
from lomas_client.errors import (
    BudgetExhaustedError,
    ConflictError,
    ExternalLibraryError,
    InternalServerError,
    InvalidQueryError,
    LomasClientError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    UnauthenticatedError,
    UnauthorizedAccessError,
)

__all__ = [
    "BudgetExhaustedError",
    "Client",
    "ConflictError",
    "ExternalLibraryError",
    "InternalServerError",
    "InvalidQueryError",
    "LomasClientError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ServiceUnavailableError",
    "UnauthenticatedError",
    "UnauthorizedAccessError",
]
