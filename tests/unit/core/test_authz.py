"""Roles from a principal: who may read, who may act, and when a principal header counts at all."""

from __future__ import annotations

import base64
import json

import pytest

from core.kernel import authz
from core.kernel.authz import EMULATOR_SECRET_HEADER, PRINCIPAL_HEADER, Principal


def swa(user: str, *roles: str) -> str:
    return authz.encode_principal(Principal("aad", f"id-{user}", user, frozenset(roles)))


def app_service(name: str, *roles: str) -> str:
    doc = {
        "auth_typ": "aad",
        "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
        "claims": [
            {"typ": "preferred_username", "val": name},
            {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "oid-1"},
            *({"typ": "roles", "val": r} for r in roles),
        ],
    }
    return base64.b64encode(json.dumps(doc).encode()).decode()


def local(principal: str, secret: str = "s3cret") -> dict[str, str]:
    return {PRINCIPAL_HEADER: principal, EMULATOR_SECRET_HEADER: secret}


def test_a_reader_reads_and_may_not_act():
    who = authz.caller(local(swa("rita", "reader", "authenticated")), mode="local", emulator_secret="s3cret")
    assert who.actor == "aad:rita" and who.via == "principal"
    assert who.may("read")
    for action in ("approve", "reject", "abort", "rollback", "retrain"):
        assert not who.may(action)
        assert "needs the role operator" in (authz.refusal(who, action) or "")


def test_an_operator_may_act_and_read():
    who = authz.caller(local(swa("otto", "operator")), mode="local", emulator_secret="s3cret")
    assert who.may("approve") and who.may("read")
    assert who.record()["roles"] == ["operator", "reader"]


def test_a_signed_in_user_without_a_console_role_may_not_even_read():
    who = authz.caller(local(swa("eve", "authenticated")), mode="local", emulator_secret="s3cret")
    assert (
        authz.refusal(who, "read")
        == "aad:eve may not read: it needs the role reader or operator (has no console role)"
    )


def test_locally_a_principal_without_the_emulators_secret_is_ignored():
    forged = {PRINCIPAL_HEADER: swa("mallory", "reader")}
    assert authz.caller(forged, mode="local", emulator_secret="s3cret") is authz.KEY_CALLER
    wrong = local(swa("mallory", "reader"), secret="guess")
    assert authz.caller(wrong, mode="local", emulator_secret="s3cret") is authz.KEY_CALLER
    assert authz.caller(forged, mode="local", emulator_secret=None) is authz.KEY_CALLER


class Tokens:
    """A TokenVerifier that knows one token (the real one: tests/integration/azure/test_entra_tokens.py)."""

    def principal(self, token: str) -> Principal:
        if token != "good":
            raise authz.PrincipalError("the bearer token is not valid")
        return authz.principal_from_claims(
            {"preferred_username": "ana@contoso.com", "oid": "oid-1", "roles": ["operator", "admin"]}
        )


def test_on_azure_the_caller_is_the_person_of_a_valid_bearer_token_with_its_app_roles():
    who = authz.caller({"Authorization": "Bearer good"}, mode="azure", emulator_secret=None, tokens=Tokens())
    assert who.actor == "aad:ana@contoso.com" and who.user_id == "oid-1" and who.may("rollback")
    assert who.roles == {"operator", "reader"}  # roles this app does not define are dropped
    with pytest.raises(authz.PrincipalError):
        authz.caller({"Authorization": "Bearer forged"}, mode="azure", emulator_secret=None, tokens=Tokens())


def test_on_azure_a_principal_header_without_a_token_is_nobodys_word():
    """Trust no longer rests on the platform stripping the header (Flex Consumption: not assured)."""
    headers = {PRINCIPAL_HEADER: app_service("mallory@evil.example", "operator")}
    assert authz.caller(headers, mode="azure", emulator_secret=None, tokens=Tokens()) is authz.KEY_CALLER
    assert authz.caller(headers, mode="azure", emulator_secret=None) is authz.KEY_CALLER


def test_only_a_bearer_authorization_header_carries_a_token():
    assert authz.bearer_token({"Authorization": "Bearer abc"}) == "abc"
    assert authz.bearer_token({"authorization": "bearer  abc "}) == "abc"
    assert authz.bearer_token({"Authorization": "Basic abc"}) is None
    assert authz.bearer_token({"Authorization": "Bearer"}) is None and authz.bearer_token({}) is None


def test_a_request_without_a_principal_is_the_function_key_holder_and_may_act():
    who = authz.caller({}, mode="azure", emulator_secret=None)
    assert who.actor == "function-key" and who.may("retrain")


@pytest.mark.parametrize(
    "raw", ["%%%not-base64", base64.b64encode(b"[1, 2]").decode(), base64.b64encode(b"{}").decode()]
)
def test_a_malformed_trusted_principal_is_an_error_not_a_key_caller(raw):
    with pytest.raises(authz.PrincipalError):
        authz.caller(local(raw), mode="local", emulator_secret="s3cret")
