"""Sign in to Lomas with your office's identity provider (OIDC), through Authlib.

Install the extra: `pip install "lomas-client[oidc]"`. Then give the client an
`OidcLogin` instead of a token:

    login = OidcLogin.device("https://idp.example.org/realms/nso", client_id="lomas")
    client = Client(url, dataset_name="census", auth=login)

- `OidcLogin.device(...)`, for people: prints a URL and a code to enter there (the
  OAuth 2.0 device authorization grant, RFC 8628), once; then refreshes its tokens.
- `OidcLogin.client_credentials(...)`, for services: a client id and secret.

Tokens are fetched on first use and refreshed `refresh_before` seconds before they
expire, so a long session or a long job keeps working.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from lomas_client.errors import LomasClientError, UnauthenticatedError

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _authlib() -> Any:
    try:
        from authlib.integrations.requests_client import OAuth2Session
    except ImportError:  # pragma: no cover - depends on the install
        raise ImportError(
            'OIDC sign-in needs the extra: pip install "lomas-client[oidc]"') from None
    return OAuth2Session


def _tell(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # noqa: T201 - the person signing in reads it


class OidcLogin(requests.auth.AuthBase):
    """A requests auth that sends the issuer's current token as `Bearer`."""

    def __init__(self, issuer: str, client_id: str, *, grant: str,
                 client_secret: str | None = None, scope: str | None = None,
                 audience: str | None = None,
                 token: str = "access_token",  # noqa: S107 - which token to send, not one
                 refresh_before: float = 60.0, prompt: Callable[[str], None] = _tell,
                 timeout: float = 10.0) -> None:
        self.issuer = issuer.rstrip("/")
        self.grant, self.client_id, self.scope = grant, client_id, scope
        self.which, self.prompt, self.timeout = token, prompt, timeout
        self.extra = {"audience": audience} if audience else {}
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        session_class = _authlib()
        self._session = session_class(
            client_id, client_secret, scope=scope, leeway=refresh_before,
            token_endpoint_auth_method="client_secret_basic" if client_secret else "none",
            grant_type=grant)

    @classmethod
    def device(cls, issuer: str, client_id: str, scope: str = "openid profile",
               **options: Any) -> OidcLogin:
        """Sign a person in: prints where to go and the code to enter, then waits."""
        return cls(issuer, client_id, grant=DEVICE_GRANT, scope=scope, **options)

    @classmethod
    def client_credentials(cls, issuer: str, client_id: str, client_secret: str,
                           scope: str | None = None, **options: Any) -> OidcLogin:
        """Sign a service in with its client id and secret."""
        return cls(issuer, client_id, grant="client_credentials", client_secret=client_secret,
                   scope=scope, **options)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    @property
    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            try:
                response = requests.get(url, timeout=self.timeout)
                response.raise_for_status()
                self._metadata = response.json()
            except (requests.RequestException, ValueError) as exc:
                raise LomasClientError(f"The identity provider at {self.issuer} cannot be "
                                       f"read ({type(exc).__name__}).") from exc
            self._session.metadata["token_endpoint"] = self._metadata["token_endpoint"]
        return self._metadata

    def token(self) -> str:
        """The current token, fetched or refreshed if it expires within refresh_before."""
        with self._lock:
            current = self._session.token
            if not current:
                self._sign_in()
            elif current.is_expired(leeway=self._session.leeway):
                self._renew()
            return str(self._session.token[self.which])

    def _renew(self) -> None:
        from authlib.integrations.base_client import OAuthError

        if self.grant == "client_credentials":
            self._sign_in()  # a new token, with the same parameters (audience)
            return
        try:
            if not self._session.ensure_active_token(self._session.token):
                self._sign_in()  # no refresh token: sign in again
        except OAuthError:
            self._sign_in()

    def _sign_in(self) -> None:
        from authlib.integrations.base_client import OAuthError

        endpoint = self.metadata["token_endpoint"]
        try:
            if self.grant == "client_credentials":
                self._session.fetch_token(endpoint, grant_type=self.grant, **self.extra)
            else:
                self._device_flow(endpoint)
        except OAuthError as exc:
            raise UnauthenticatedError(f"Sign-in refused by the identity provider: "
                                       f"{exc.error}.") from None

    def _device_flow(self, endpoint: str) -> None:
        from authlib.integrations.base_client import OAuthError

        device_endpoint = self.metadata.get("device_authorization_endpoint")
        if not device_endpoint:
            raise LomasClientError("The identity provider offers no device sign-in.")
        answer = requests.post(device_endpoint, timeout=self.timeout, data={
            "client_id": self.client_id, **({"scope": self.scope} if self.scope else {}),
            **self.extra})
        if answer.status_code != 200:
            raise UnauthenticatedError(f"Device sign-in refused: HTTP {answer.status_code}.")
        grant = answer.json()
        where = grant.get("verification_uri_complete") or grant["verification_uri"]
        self.prompt(f"To sign in to Lomas, open {where} and enter the code "
                    f"{grant['user_code']}.")
        interval = float(grant.get("interval", 5))
        deadline = time.monotonic() + float(grant.get("expires_in", 600))
        while time.monotonic() < deadline:
            time.sleep(interval)
            try:
                self._session.fetch_token(endpoint, grant_type=DEVICE_GRANT,
                                          device_code=grant["device_code"])
                return
            except OAuthError as exc:
                if exc.error == "slow_down":
                    interval += 5
                elif exc.error != "authorization_pending":
                    raise
        raise UnauthenticatedError("The sign-in code expired before it was used.")
