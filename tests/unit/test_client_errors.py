"""Errors answered by a proxy in front of Lomas still map to the client's exceptions."""

from __future__ import annotations

import pytest
import requests

from lomas_client import (
    InvalidDocumentError,
    InvalidQueryError,
    InvalidRequestError,
    LomasClientError,
    PayloadTooLargeError,
    RateLimitedError,
    ServiceUnavailableError,
    UnauthorizedAccessError,
)
from lomas_client.http import raise_for_error


def response(status: int, body: bytes) -> requests.Response:
    r = requests.Response()
    r.status_code, r._content = status, body
    return r


@pytest.mark.parametrize(("status", "body", "error"), [
    (413, b'{"message": "Request Entity Too Large"}', PayloadTooLargeError),  # API Gateway
    (429, b'{"message": "Too Many Requests"}', RateLimitedError),
    (502, b"<html>Bad Gateway</html>", ServiceUnavailableError),
    (418, b"teapot", LomasClientError),
    (403, b'{"type": "UnauthorizedAccess", "message": "No grant."}', UnauthorizedAccessError),
    (400, b'{"type": "InvalidDocument", "message": "Bad metadata."}', InvalidDocumentError),
    (400, b'{"type": "InvalidQuery", "message": "Bad SQL."}', InvalidQueryError),
])
def test_errors_map_by_type_then_by_status(status: int, body: bytes,
                                           error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        raise_for_error(response(status, body))
    assert type(caught.value) is error and caught.value.status == status


def test_both_kinds_of_bad_input_are_invalid_requests() -> None:
    assert issubclass(InvalidDocumentError, InvalidRequestError)
    assert issubclass(InvalidQueryError, InvalidRequestError)
