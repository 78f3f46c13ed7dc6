"""Sign-in with an OIDC provider (a small one on loopback), over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from joserfc.jwk import RSAKey

from lomas.config import Settings
from lomas.domain import PrivacyCost, User
from lomas_client import Client, UnauthenticatedError
from lomas_client.oidc import OidcLogin
from tests.conftest import LiveServer, make_world, serve
from tests.support.oidc_provider import Provider

SQL = "SELECT COUNT(*) AS n FROM income"


@pytest.fixture
def provider() -> Iterator[Provider]:
    idp = Provider()
    idp.clients = {"lomas-cli": (None, None), "census-batch": ("s3cret", "alice"),
                   "stranger-batch": ("s3cret", "mallory")}
    idp.groups = {"carol": ["staff", "lomas-admins"]}
    yield idp
    idp.close()


@pytest.fixture
def server(provider: Provider, tmp_path: Path, mongo_store) -> Iterator[LiveServer]:
    world = make_world(mongo_store, tmp_path, PrivacyCost(10.0, 1e-3),
                       oidc_issuer=provider.issuer, oidc_audience="lomas",
                       oidc_admin_value="lomas-admins", oidc_jwks_min_refresh_seconds=0)
    world.store.create_user(User("carol"), "no-api-token")
    yield from serve(world)


def _get(server: LiveServer, token: str, path: str = "/get_remaining_budget",
         method: str = "POST") -> requests.Response:
    return requests.request(method, server.url + path, json={"dataset_name": "income"},
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_a_valid_token_for_an_existing_user_works(server: LiveServer, provider: Provider) -> None:
    answer = _get(server, provider.mint("alice"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["remaining_epsilon"] == 10.0
    assert _get(server, server.world.token).status_code == 200  # API tokens stay


@pytest.mark.parametrize("forge", [
    "forged signature", "another issuer", "another audience", "expired", "not yet valid",
    "alg none", "HS256 with the public key", "unknown kid", "not a JWT",
])
def test_every_bad_token_is_a_401_with_an_error_body(
        server: LiveServer, provider: Provider, forge: str) -> None:
    now = int(time.time())
    token = {
        "forged signature": lambda: provider.mint("alice", key=RSAKey.generate_key(2048)),
        "another issuer": lambda: provider.mint("alice", iss="https://idp.elsewhere.example"),
        "another audience": lambda: provider.mint("alice", aud="another-api"),
        "expired": lambda: provider.mint("alice", iat=now - 900, nbf=now - 900,
                                         exp=now - 300),
        "not yet valid": lambda: provider.mint("alice", nbf=now + 900),
        "alg none": lambda: provider.unsigned("alice"),
        "HS256 with the public key": lambda: provider.hmac_with_public_key("alice"),
        "unknown kid": lambda: provider.mint("alice", key=RSAKey.generate_key(2048),
                                             kid="k-unknown"),
        "not a JWT": lambda: "a.b.c",
    }[forge]()
    answer = _get(server, token)
    assert answer.status_code == 401, answer.text
    assert answer.json()["type"] == "Unauthenticated" and answer.json()["message"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert token not in answer.text


def test_an_unknown_kid_refreshes_the_keys_once(server: LiveServer, provider: Provider) -> None:
    assert _get(server, provider.mint("alice")).status_code == 200
    assert _get(server, provider.mint("alice")).status_code == 200
    assert provider.hits["/realms/nso/jwks"] == 1  # cached
    provider.rotate()  # the provider signs with a new key from now on
    assert _get(server, provider.mint("alice")).status_code == 200
    assert provider.hits["/realms/nso/jwks"] == 2
    rogue = provider.mint("alice", key=RSAKey.generate_key(2048), kid="k-rogue")
    assert _get(server, rogue).status_code == 401
    assert provider.hits["/realms/nso/jwks"] == 3  # looked again, and the issuer has no such key


def test_a_valid_token_for_an_unknown_user_is_a_401(server: LiveServer,
                                                     provider: Provider) -> None:
    answer = _get(server, provider.mint("mallory"))
    assert answer.status_code == 401
    assert answer.json() == {"type": "Unauthenticated",
                             "message": "There is no Lomas user 'mallory': ask an administrator."}
    assert server.world.store.get_user("mallory") is None  # no silent provisioning


def test_admin_routes_need_an_admin(server: LiveServer, provider: Provider) -> None:
    researcher = _get(server, provider.mint("alice"), "/admin/users", "GET")
    assert researcher.status_code == 403
    assert researcher.json()["type"] == "UnauthorizedAccess"
    group_admin = _get(server, provider.mint("carol"), "/admin/users", "GET")
    assert group_admin.status_code == 200  # her token's groups hold lomas-admins
    lomas_admin = _get(server, provider.mint("admin"), "/admin/users", "GET")
    assert lomas_admin.status_code == 200  # an admin in Lomas, whatever the token's groups


def test_the_identity_provider_down_is_a_503(tmp_path: Path, mongo_store) -> None:
    world = make_world(mongo_store, tmp_path, PrivacyCost(10.0, 1e-3),
                       oidc_issuer="http://127.0.0.1:9/realms/none", oidc_audience="lomas")
    live = next(serve(world))
    idp = Provider()
    try:
        answer = _get(live, idp.mint("alice"))
    finally:
        idp.close()
    assert answer.status_code == 503
    assert answer.json()["type"] == "IdentityProviderUnavailable"
    assert _get(live, world.token).status_code == 200  # API tokens do not need the provider


def test_auto_provisioning_only_when_turned_on(tmp_path: Path, mongo_store,
                                               provider: Provider) -> None:
    world = make_world(mongo_store, tmp_path, PrivacyCost(10.0, 1e-3),
                       oidc_issuer=provider.issuer, oidc_audience="lomas",
                       oidc_auto_provision=True)
    live = next(serve(world))
    answer = _get(live, provider.mint("dave"), "/get_remaining_budget")
    assert answer.status_code == 403  # known now, but no grant
    user = world.store.get_user("dave")
    assert user is not None and not user.is_admin


@pytest.mark.parametrize("issuer", ["http://idp.example.org/realms/nso", "ftp://127.0.0.1/x",
                                    "https://"])
def test_the_issuer_must_be_https_except_on_loopback(issuer: str) -> None:
    with pytest.raises(ValueError, match="https://"):
        Settings(oidc_issuer=issuer, oidc_audience="lomas")
    assert Settings(oidc_issuer="http://127.0.0.1:8080/realms/nso", oidc_audience="lomas")
    assert Settings(oidc_issuer="https://idp.example.org/realms/nso", oidc_audience="lomas")
    with pytest.raises(ValueError, match="asymmetric"):
        Settings(oidc_issuer="https://idp.example.org", oidc_audience="lomas",
                 oidc_algorithms=("RS256", "HS256"))


# ------------------------------------------------------------------ the client
def test_the_client_with_client_credentials_end_to_end(server: LiveServer,
                                                       provider: Provider) -> None:
    login = OidcLogin.client_credentials(provider.issuer, "census-batch", "s3cret")
    client = Client(server.url, dataset_name="income", auth=login, progress=False)
    assert client.get_remaining_budget()["remaining_epsilon"] == 10.0
    frame = client.smartnoise_sql.query(SQL, epsilon=1.0, delta=1e-5)
    assert list(frame.columns) == ["n"]
    assert client.get_previous_query_records()[0]["user_name"] == "alice"
    assert provider.hits["/realms/nso/token"] == 1  # one token for all of it

    stranger = OidcLogin.client_credentials(provider.issuer, "stranger-batch", "s3cret")
    with pytest.raises(UnauthenticatedError, match="mallory"):
        Client(server.url, dataset_name="income", auth=stranger).get_remaining_budget()
    wrong = OidcLogin.client_credentials(provider.issuer, "census-batch", "guess")
    with pytest.raises(UnauthenticatedError, match="invalid_client"):
        Client(server.url, dataset_name="income", auth=wrong).get_remaining_budget()


def test_the_client_with_the_device_flow_and_refresh(server: LiveServer,
                                                     provider: Provider) -> None:
    provider.lifetime = 4
    said: list[str] = []

    def person_signs_in(message: str) -> None:
        said.append(message)
        code = message.rsplit(" ", 1)[-1].rstrip(".")
        threading.Timer(1.5, provider.approve, (code, "alice")).start()

    login = OidcLogin.device(provider.issuer, "lomas-cli", prompt=person_signs_in,
                             refresh_before=2)
    client = Client(server.url, dataset_name="income", auth=login)
    assert client.get_remaining_budget()["remaining_epsilon"] == 10.0
    assert said and provider.issuer in said[0] and "WDJB-MJHT" in said[0]
    assert provider.hits["/realms/nso/device"] == 1
    time.sleep(2.5)  # the token now expires within refresh_before
    assert client.get_initial_budget()["initial_epsilon"] == 10.0
    assert provider.hits["/realms/nso/device"] == 1  # refreshed, not signed in again
    assert provider.hits["/realms/nso/token"] >= 2
    assert len(said) == 1


def test_the_client_needs_a_token_or_a_login() -> None:
    with pytest.raises(TypeError):
        Client("http://127.0.0.1:9", dataset_name="income")
    with pytest.raises(TypeError):
        Client("http://127.0.0.1:9", "tok", "income", auth=requests.auth.HTTPBasicAuth("a", "b"))


def test_lomas_admin_signs_in_with_client_credentials(server: LiveServer,
                                                      provider: Provider) -> None:
    from typer.testing import CliRunner

    from functions.admin.cli import app as cli

    provider.clients["ops-batch"] = ("s3cret", "admin")
    signed_in = CliRunner().invoke(cli, [
        "--url", server.url, "--oidc-issuer", provider.issuer, "--oidc-client-id", "ops-batch",
        "--oidc-client-secret", "s3cret", "users", "list"], env={"COLUMNS": "200"})
    assert signed_in.exit_code == 0, signed_in.output
    assert "alice" in signed_in.output and "carol" in signed_in.output
    researcher = CliRunner().invoke(cli, [
        "--url", server.url, "--oidc-issuer", provider.issuer, "--oidc-client-id",
        "census-batch", "--oidc-client-secret", "s3cret", "users", "list"])
    assert researcher.exit_code == 1 and "UnauthorizedAccess" in researcher.output


def test_client_credentials_are_fetched_again_before_they_expire(
        server: LiveServer, provider: Provider) -> None:
    provider.lifetime = 3
    login = OidcLogin.client_credentials(provider.issuer, "census-batch", "s3cret",
                                         audience="lomas", refresh_before=2)
    client = Client(server.url, dataset_name="income", auth=login, progress=False)
    assert client.get_remaining_budget()["remaining_epsilon"] == 10.0
    assert client.get_initial_budget()["initial_epsilon"] == 10.0
    assert provider.hits["/realms/nso/token"] == 1
    time.sleep(1.5)  # within refresh_before of its expiry now
    assert client.get_remaining_budget()["remaining_epsilon"] == 10.0
    assert provider.hits["/realms/nso/token"] == 2
