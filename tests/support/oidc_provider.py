"""A small OIDC provider on loopback, for the tests: discovery, JWKS, device authorization,
an authorization endpoint (code with PKCE, for a browser: it signs in `browser_user` at
once), and a token endpoint for the client-credentials, device-code, authorization-code
and refresh-token grants. Its answers allow any origin (CORS), as a provider does for a
public client in a browser.
Tokens are RS256 JWTs signed with a test key; `mint` makes any token a test needs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Provider:
    """`clients`: client_id -> (secret or None for a public client, user name it signs in
    as with client credentials)."""

    def __init__(self, audience: str = "lomas", lifetime: int = 300) -> None:
        self.audience, self.lifetime = audience, lifetime
        self.keys = {"k1": RSAKey.generate_key(2048, parameters={"kid": "k1"})}
        self.signing = "k1"
        self.clients: dict[str, tuple[str | None, str | None]] = {}
        self.groups: dict[str, list[str]] = {}
        self.hits: Counter[str] = Counter()
        self.devices: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.browser_user: str | None = None
        self.codes: dict[str, dict[str, str]] = {}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                provider.hits[self.path.split("?", 1)[0]] += 1
                if self.path.startswith("/realms/nso/auth?"):
                    status, where = provider.authorize(
                        {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
                    if status != 302:
                        self._send(status, {"error": where})
                        return
                    self.send_response(302)
                    self.send_header("Location", where)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/realms/nso/.well-known/openid-configuration":
                    self._send(200, provider.discovery())
                elif self.path == "/realms/nso/jwks":
                    self._send(200, {"keys": [k.as_dict(private=False, use="sig", alg="RS256")
                                              for k in provider.keys.values()]})
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:
                provider.hits[self.path] += 1
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                    form.setdefault("client_id", cid)
                    form.setdefault("client_secret", secret)
                status, body = provider.post(self.path, form)
                self._send(status, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = f"{self.base}/realms/nso"

    def close(self) -> None:
        self.server.shutdown()

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks",
            "token_endpoint": f"{self.issuer}/token",
            "authorization_endpoint": f"{self.issuer}/auth",
            "code_challenge_methods_supported": ["S256"],
            "device_authorization_endpoint": f"{self.issuer}/device",
            "grant_types_supported": ["client_credentials", DEVICE_GRANT, "refresh_token",
                                      "authorization_code"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    # ------------------------------------------------------------------ tokens
    def claims(self, user: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "sub": f"sub-{user}",
                  "preferred_username": user, "iat": now, "nbf": now,
                  "exp": now + self.lifetime, "groups": self.groups.get(user, [])}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(self, user: str, *, key: RSAKey | None = None, kid: str | None = None,
             **overrides: Any) -> str:
        """An RS256 token for `user`, signed with the current key (or `key`, as `kid`)."""
        kid = kid or self.signing
        signer = key or self.keys[kid]
        return jwt.encode({"alg": "RS256", "kid": kid, "typ": "JWT"},
                          self.claims(user, **overrides), signer)

    def unsigned(self, user: str) -> str:
        """`alg: none`: no signature at all."""
        header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{header}.{b64(json.dumps(self.claims(user)).encode())}."

    def hmac_with_public_key(self, user: str) -> str:
        """HS256 keyed with the RSA public key (the classic algorithm-confusion attack)."""
        public = self.keys[self.signing].as_pem(private=False)
        header = b64(json.dumps({"alg": "HS256", "kid": self.signing, "typ": "JWT"}).encode())
        body = b64(json.dumps(self.claims(user)).encode())
        mac = hmac.new(public, f"{header}.{body}".encode(), "sha256").digest()
        return f"{header}.{body}.{b64(mac)}"

    def rotate(self) -> str:
        """A new signing key (the old one stays published, as providers do)."""
        kid = f"k{len(self.keys) + 1}"
        self.keys[kid] = RSAKey.generate_key(2048, parameters={"kid": kid})
        self.signing = kid
        return kid

    def _tokens(self, user: str, refresh: bool) -> dict[str, Any]:
        answer = {"access_token": self.mint(user), "token_type": "Bearer",
                  "expires_in": self.lifetime, "id_token": self.mint(user)}
        if refresh:
            token = secrets.token_urlsafe(16)
            self.refresh_tokens[token] = user
            answer["refresh_token"] = token
        return answer

    # ------------------------------------------------------------------ grants
    def approve(self, user_code: str, user: str) -> None:
        """The person opened the verification URL and signed in as `user`."""
        for device in self.devices.values():
            if device["user_code"] == user_code:
                device["user"] = user

    def authorize(self, query: dict[str, str]) -> tuple[int, str]:
        """The browser at the authorization endpoint: (302, where to) or (400, error)."""
        client = self.clients.get(query.get("client_id", ""))
        if client is None or client[0] is not None:  # a public client only, here
            return 400, "invalid_client"
        if query.get("response_type") != "code" or "openid" not in query.get("scope", ""):
            return 400, "invalid_request"
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, "invalid_request: PKCE with S256 is required"
        state = query.get("state", "")
        if self.browser_user is None:  # the person said no: back to the client, saying so
            return 302, f"{query['redirect_uri']}?{urlencode({'error': 'access_denied',
                                                                'state': state})}"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"user": self.browser_user, "client_id": query["client_id"],
                            "redirect_uri": query["redirect_uri"],
                            "challenge": query["code_challenge"]}
        return 302, f"{query['redirect_uri']}?{urlencode({'code': code, 'state': state})}"

    def _code(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        found = self.codes.pop(form.get("code", ""), None)  # a code is used once
        verifier = form.get("code_verifier", "")
        if (found is None or found["client_id"] != form.get("client_id")
                or found["redirect_uri"] != form.get("redirect_uri")
                or b64(hashlib.sha256(verifier.encode()).digest()) != found["challenge"]):
            return 400, {"error": "invalid_grant"}
        return 200, self._tokens(found["user"], refresh=False)

    def post(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        client = self.clients.get(form.get("client_id", ""))
        if client is None:
            return 401, {"error": "invalid_client"}
        secret, service_user = client
        if secret is not None and not hmac.compare_digest(secret, form.get("client_secret", "")):
            return 401, {"error": "invalid_client"}
        if path == "/realms/nso/device":
            code, user_code = secrets.token_urlsafe(16), "WDJB-MJHT"
            self.devices[code] = {"user_code": user_code, "user": None, "polls": 0}
            return 200, {"device_code": code, "user_code": user_code,
                         "verification_uri": f"{self.issuer}/device",
                         "verification_uri_complete": f"{self.issuer}/device?code={user_code}",
                         "expires_in": 600, "interval": 1}
        if path != "/realms/nso/token":
            return 404, {"error": "not_found"}
        grant = form.get("grant_type")
        if grant == "client_credentials" and secret is not None and service_user:
            return 200, self._tokens(service_user, refresh=False)
        if grant == DEVICE_GRANT:
            device = self.devices.get(form.get("device_code", ""))
            if device is None:
                return 400, {"error": "expired_token"}
            device["polls"] += 1
            if device["user"] is None:
                return 400, {"error": "authorization_pending"}
            del self.devices[form["device_code"]]
            return 200, self._tokens(device["user"], refresh=True)
        if grant == "authorization_code":
            return self._code(form)
        if grant == "refresh_token":
            user = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if user is None:
                return 400, {"error": "invalid_grant"}
            return 200, self._tokens(user, refresh=True)
        return 400, {"error": "unsupported_grant_type"}
