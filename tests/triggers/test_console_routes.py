"""The console door (/api/console/...): anonymous at the host so a browser can reach it, and therefore
open only to a trusted principal. A reader reads and every write is a 403; no principal, a forged one
(no emulator secret locally; on Azure no valid Entra token, whatever x-ms-client-principal says) is a
401 that changes nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import pytest

import wiring
from adapters.azure.entra_tokens import EntraTokenVerifier
from core.intake.payloads import OPERATOR_EVENTS
from core.kernel import authz
from core.kernel.authz import EMULATOR_SECRET_HEADER, PRINCIPAL_HEADER, Principal
from core.kernel.settings import Settings
from core.run.status import RunProgress
from tests.entra_standin import CLIENT_ID, TENANT, SigningKey, claims, mint, tenant_keys, unsigned
from tests.triggers.durable_fakes import user_function
from tests.triggers.test_operator_api import ROLLOUT, RUN, add_run, call
from triggers import operator_api as api
from triggers.openapi import document

SECRET = "console-secret"
APP_JS = Path(__file__).resolve().parents[2] / "console" / "app.js"
ANONYMOUS = func.AuthLevel.ANONYMOUS


@pytest.fixture
def local(fakes) -> Iterator[None]:
    with wiring.override(settings=Settings(mode="local", console_principal_secret=SECRET)):
        yield


def as_user(user: str, *roles: str, secret: str | None = SECRET) -> dict[str, str]:
    headers = {
        PRINCIPAL_HEADER: authz.encode_principal(Principal("aad", f"id-{user}", user, frozenset(roles)))
    }
    return headers | ({EMULATOR_SECRET_HEADER: secret} if secret else {})


def app_service(user: str, *roles: str) -> dict[str, str]:
    """x-ms-client-principal as App Service Authentication sets it from an Entra access token."""
    claims = [{"typ": "preferred_username", "val": user}, {"typ": "oid", "val": f"oid-{user}"}]
    claims += [{"typ": "roles", "val": r} for r in roles]
    doc = {"auth_typ": "aad", "claims": claims, "name_typ": "preferred_username", "role_typ": "roles"}
    return {PRINCIPAL_HEADER: base64.b64encode(json.dumps(doc).encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def running(client) -> None:
    asyncio.run(client.start_new("lifecycle", RUN))
    asyncio.run(client.start_new("rollout", ROLLOUT))


def act(client, name: str, headers: dict[str, str]) -> tuple[int, dict]:
    route = {"id": RUN, "action": name}
    return call(api.console_lifecycle_action, client, method="POST", route=route, headers=headers)


def console_retrain(client, headers: dict[str, str]) -> tuple[int, dict]:
    route = {"model": "churn"}
    return call(api.console_retrain, client, method="POST", route=route, headers=headers)


def auth_level(builder) -> object:
    return builder._function.get_trigger().auth_level


def test_the_console_routes_are_anonymous_at_the_host_and_the_keyed_routes_are_not():
    console = [api.console_models, api.console_model, api.console_lifecycles, api.console_lifecycle,
               api.console_lifecycle_action, api.console_retrain]  # fmt: skip
    keyed = [api.operator_models, api.operator_model, api.operator_lifecycles, api.operator_lifecycle,
             api.operator_lifecycle_action, api.operator_retrain]  # fmt: skip
    assert {auth_level(b) for b in console} == {ANONYMOUS}
    assert ANONYMOUS not in {auth_level(b) for b in keyed}
    routes = {b._function.get_trigger().route for b in console}
    assert all(r.startswith("console/") for r in routes)
    assert {r.removeprefix("console/") for r in routes} == {b._function.get_trigger().route for b in keyed}


def test_a_reader_reads_through_the_console_and_every_write_is_a_403(local, fakes, client):
    add_run(fakes)
    running(client)
    reader = as_user("rita", "reader")
    status, body = call(api.console_models, headers=reader)
    assert status == 200 and body["caller"]["actor"] == "aad:rita"
    assert call(api.console_lifecycle, client, route={"id": RUN}, headers=reader)[0] == 200
    assert call(api.console_model, client, route={"model": "churn"}, headers=reader)[0] == 200
    assert call(api.console_lifecycles, headers=reader)[0] == 200
    for name in ("approve", "reject", "abort", "rollback"):
        status, body = act(client, name, reader)
        assert status == 403 and "aad:rita may not" in body["error"]
    assert console_retrain(client, reader)[0] == 403
    assert client.raised == [] and fakes.ledger.entries(RUN, "decision") == []


def test_a_reader_reads_the_rollouts_roles_move_and_evidence_plans_and_the_page_shows_each(
    local, fakes, client
):
    add_run(fakes)
    running(client)
    client.instances[ROLLOUT].custom_status = RunProgress(
        run_id=RUN,
        model="churn",
        stage="ramp",
        green="blue",  # the names alternate: this rollout's challenger is deployment blue
        blue="green",
        split={"green": 50, "blue": 50},
        move="waiting for labels at 50% live: online accuracy need more data",
        labels_plan="120 in; an equal green passes at about 600 labels per deployment (1200 for 95%): ...",
        pairs_plan="300 in; an equal green passes at about 380 mirrored pairs (1100 for 95%): ...",
    ).dump()
    status, body = call(
        api.console_lifecycle, client, route={"id": ROLLOUT}, headers=as_user("rita", "reader")
    )
    assert status == 200
    live = body["orchestration"]["custom_status"]
    assert (live["green"], live["blue"]) == ("blue", "green")
    assert live["labels_plan"].startswith("120 in; an equal green passes at about 600")
    assert live["pairs_plan"].startswith("300 in; an equal green passes at about 380")
    # the page renders each of them from the rollout's status: both plans, the move, the roles
    app = APP_JS.read_text()
    for field in ("labels_plan", "pairs_plan", "move", "reason", "green", "blue"):
        assert f"live.{field}" in app, field
    assert 'id="labels-plan"' in app and 'id="pairs-plan"' in app and 'id="deciding-reason"' in app
    assert '"challenger"' in app and '"champion"' in app


def test_an_operators_console_approval_is_delivered_and_attributed(local, fakes, client):
    add_run(fakes)
    running(client)
    status, body = act(client, "approve", as_user("otto", "operator"))
    assert status == 202 and body["delivered_to"] == [RUN, ROLLOUT]
    [decision] = fakes.ledger.entries(RUN, "decision")
    assert decision.data["actor"] == "aad:otto" and decision.data["via"] == "principal"


@pytest.mark.parametrize(
    "headers",
    [
        {},  # nobody: the host let it in without a key
        {"x-functions-key": "whatever"},  # a key is no identity on this door
        as_user("mallory", "operator", secret=None),  # forged: no emulator secret
        as_user("mallory", "operator", secret="guess"),  # forged: wrong secret
    ],
    ids=["no-principal", "key-only", "forged-no-secret", "forged-wrong-secret"],
)
def test_the_console_refuses_a_request_without_a_trusted_principal_with_401_and_changes_nothing(
    local, fakes, client, headers
):
    add_run(fakes)
    running(client)
    for status, body in [
        call(api.console_models, headers=headers),
        call(api.console_lifecycles, headers=headers),
        call(api.console_lifecycle, client, route={"id": RUN}, headers=headers),
        call(api.console_model, client, route={"model": "churn"}, headers=headers),
        act(client, "approve", headers),
        console_retrain(client, headers),
    ]:
        assert status == 401 and "sign in" in body["error"]
    assert client.raised == [] and fakes.ledger.entries(RUN, "decision") == []
    assert fakes.ledger.pending_requests("churn") == []


def test_the_401_tells_the_browser_to_bring_a_bearer_token(local):
    req = func.HttpRequest("GET", "http://localhost/api/console/models", body=b"", headers={})
    response = user_function(api.console_models)(req=req)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


def test_on_azure_the_console_acts_for_the_person_of_a_valid_entra_token_and_refuses_everything_else(
    fakes, client
):
    add_run(fakes)
    running(client)
    key = SigningKey.new("kid-1")
    with tenant_keys(key) as url:
        tokens = EntraTokenVerifier(TENANT, CLIENT_ID, jwks_url=url)
        with wiring.override(settings=Settings(mode="azure"), console_tokens=tokens):
            assert act(client, "rollback", bearer(mint(claims("ana@contoso.com", "operator"), key)))[0] == 202
            assert act(client, "approve", bearer(mint(claims("rita@contoso.com", "reader"), key)))[0] == 403
            for headers in [
                bearer(mint(claims("eve@contoso.com", "operator", exp=int(time.time()) - 600), key)),
                bearer(mint(claims("eve@contoso.com", "operator", aud="api://other"), key)),
                bearer(mint(claims("eve@contoso.com", "operator", iss="https://evil.example/v2.0"), key)),
                bearer(unsigned(claims("eve@contoso.com", "operator"), key.kid)),
                app_service("mallory@evil.example", "operator"),  # a forged header, no token
            ]:
                assert act(client, "approve", headers)[0] == 401
    [decision] = fakes.ledger.entries(RUN, "decision")
    assert (
        decision.data["actor"] == "aad:ana@contoso.com" and decision.data["user_id"] == "oid-ana@contoso.com"
    )


def test_on_azure_without_a_configured_entra_registration_the_console_admits_nobody(fakes, client):
    add_run(fakes)
    running(client)
    with wiring.override(settings=Settings(mode="azure")):
        assert wiring.console_tokens() is None
        assert act(client, "rollback", app_service("mallory@evil.example", "operator"))[0] == 401
        assert act(client, "rollback", bearer("anything"))[0] == 401
    assert fakes.ledger.entries(RUN, "decision") == []


def test_the_openapi_document_covers_every_console_route_with_bearer_security_and_its_401():
    doc = document()
    builders = [b for b in vars(api).values() if hasattr(b, "_function")]  # every route the module registers
    routes = {
        b._function.get_trigger().route
        for b in builders
        if (b._function.get_trigger().route or "").startswith("console/")
    }
    assert len(routes) == 6
    expected = {
        f"/api/{r}".replace("{action}", action)
        for r in routes
        for action in (OPERATOR_EVENTS if "{action}" in r else [""])
    }
    console_paths = {p for p in doc["paths"] if p.startswith("/api/console/")}
    assert console_paths == expected
    for path in console_paths:
        for op in doc["paths"][path].values():
            assert op["security"] == [{"entraBearer": []}] and "401" in op["responses"]
            keyed = doc["paths"][path.replace("/api/console/", "/api/", 1)]
            assert set(keyed) == set(doc["paths"][path])  # the same methods as the keyed door
    assert doc["components"]["securitySchemes"]["entraBearer"]["scheme"] == "bearer"
