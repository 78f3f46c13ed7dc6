"""Verifying JSON Web Tokens from one OIDC issuer (joserfc; keys from its JWKS).

The issuer's discovery document names its JWKS; both are fetched on first use and
cached. A token whose `kid` the cached keys do not have makes the keys be fetched
again (at most once per `min_refresh_seconds`), so a key rotation at the provider is
picked up without a restart. Only the configured asymmetric algorithms are accepted,
and only RSA, EC and OKP keys are taken from the JWKS: `alg: none` or an HMAC token
signed with a public key never verifies.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

import requests
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from lomas.errors import IdentityProviderUnavailable, Unauthenticated

log = logging.getLogger(__name__)

ASYMMETRIC_KEY_TYPES = {"RSA", "EC", "OKP"}
Fetch = Callable[[str], dict[str, Any]]
CLAIM_ERRORS = {
    "iss": "The token was issued by another issuer.",
    "aud": "The token is for another audience.",
    "nbf": "The token is not valid yet.",
    "iat": "The token was issued in the future.",
}


def fetch_json(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """GET a JSON object. Raises IdentityProviderUnavailable."""
    try:
        response = requests.get(url, timeout=timeout, allow_redirects=False,
                                headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.error("identity provider: %s failed: %s", url, type(exc).__name__)
        raise IdentityProviderUnavailable("The identity provider cannot be reached.") from exc
    if not isinstance(document, dict):
        raise IdentityProviderUnavailable("The identity provider answered no JSON object.")
    return document


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class OidcVerifier:
    """Checks a token's signature (the issuer's keys), `iss`, `aud`, `exp` and `nbf`."""

    def __init__(self, issuer: str, audience: str, algorithms: Collection[str],
                 leeway: int = 60, min_refresh_seconds: float = 30.0,
                 keys_max_age: float = 3600.0, fetch: Fetch = fetch_json) -> None:
        self.issuer, self.audience = issuer, audience
        self.algorithms = list(algorithms)
        self.leeway = leeway
        self._min_refresh, self._max_age = min_refresh_seconds, keys_max_age
        self._fetch = fetch
        self._lock = threading.Lock()
        self._jwks_uri: str | None = None
        self._keys: dict[str | None, Any] = {}
        self._fetched_at = -float("inf")

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims. Raises Unauthenticated, IdentityProviderUnavailable."""
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError, UnicodeError):
            raise Unauthenticated("The token is not a valid JWT.") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise Unauthenticated(f"Tokens signed with {alg!r} are not accepted.")
        key = self._key(header.get("kid"))
        try:
            verified = jwt.decode(token, key, algorithms=self.algorithms)
        except BadSignatureError:
            raise Unauthenticated("The token's signature is not valid.") from None
        except (JoseError, ValueError):
            raise Unauthenticated("The token is not a valid JWT.") from None
        registry = jwt.JWTClaimsRegistry(
            leeway=self.leeway,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
        )
        try:
            registry.validate(verified.claims)
        except ExpiredTokenError:
            raise Unauthenticated("The token has expired.") from None
        except MissingClaimError as exc:
            raise Unauthenticated(f"The token lacks the claim {exc.claim}.") from None
        except InvalidClaimError as exc:
            raise Unauthenticated(CLAIM_ERRORS.get(exc.claim, "The token's claims are not "
                                                   "valid.")) from None
        except JoseError:
            raise Unauthenticated("The token's claims are not valid.") from None
        return verified.claims

    def _key(self, kid: str | None) -> Any:
        with self._lock:
            stale = time.monotonic() - self._fetched_at
            if stale > self._max_age or (kid not in self._keys and stale > self._min_refresh):
                self._refresh()
            key = self._keys.get(kid)
            if key is None and kid is None and len(self._keys) == 1:
                key = next(iter(self._keys.values()))
        if key is None:
            raise Unauthenticated("The token was signed with a key the issuer does not have.")
        return key

    def _refresh(self) -> None:
        if self._jwks_uri is None:
            discovery = self._fetch(f"{self.issuer.rstrip('/')}/.well-known/openid-configuration")
            if discovery.get("issuer") != self.issuer or not discovery.get("jwks_uri"):
                log.error("identity provider: the discovery document names issuer %r",
                          discovery.get("issuer"))
                raise IdentityProviderUnavailable(
                    "The identity provider's discovery document does not match its issuer.")
            self._jwks_uri = str(discovery["jwks_uri"])
        jwks = self._fetch(self._jwks_uri)
        keys: dict[str | None, Any] = {}
        for data in jwks.get("keys") or []:
            if not isinstance(data, dict) or data.get("kty") not in ASYMMETRIC_KEY_TYPES:
                continue
            if data.get("use", "sig") != "sig":
                continue
            try:
                key = KeySet.import_key_set({"keys": [data]}).keys[0]
            except (JoseError, ValueError, TypeError):
                log.warning("identity provider: a JWKS key could not be read")
                continue
            if isinstance(key, RSAKey | ECKey | OKPKey):
                keys[data.get("kid")] = key
        self._keys = keys
        self._fetched_at = time.monotonic()
        log.info("identity provider: %d signing keys", len(keys))
