"""The console's bearer tokens are checked by the app itself: signature against the tenant's published
keys, issuer, audience, expiry, and the roles claim (tests/entra_standin.py plays Entra's key set)."""

from __future__ import annotations

import time

import pytest

from adapters.azure.entra_tokens import EntraTokenVerifier
from core.kernel import authz
from core.kernel.authz import PRINCIPAL_HEADER, PrincipalError
from tests.entra_standin import CLIENT_ID, TENANT, SigningKey, claims, mint, tenant_keys, unsigned

pytestmark = pytest.mark.integration

KEY = SigningKey.new("key-1")
OTHER = SigningKey.new("key-1")  # same kid, a key the tenant never published


@pytest.fixture(scope="module")
def verifier():
    with tenant_keys(KEY) as url:
        yield EntraTokenVerifier(TENANT, CLIENT_ID, jwks_url=url)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_token_names_the_person_and_their_app_roles(verifier):
    who = verifier.principal(mint(claims("ana@contoso.com", "operator"), KEY))
    assert (who.user_details, who.user_id, who.roles) == (
        "ana@contoso.com",
        "oid-ana@contoso.com",
        {"operator"},
    )


def test_the_application_id_uri_is_an_accepted_audience(verifier):
    assert verifier.principal(mint(claims(aud=f"api://{CLIENT_ID}"), KEY)).user_details == "ana@contoso.com"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (mint(claims(exp=int(time.time()) - 3600), KEY), "expired"),
        (mint(claims(aud="api://some-other-app"), KEY), "not for this app"),
        (mint(claims(iss=f"https://sts.windows.net/{TENANT}/"), KEY), "not issued by"),
        (mint(claims(iss="https://login.microsoftonline.com/another-tenant/v2.0"), KEY), "not issued by"),
        (unsigned(claims("mallory@evil.example", "operator"), KEY.kid), "only RS256"),
        (mint(claims("mallory@evil.example", "operator"), OTHER), "not valid"),
        (mint({k: v for k, v in claims().items() if k != "exp"}, KEY), "not valid"),
        ("not-a-token", "not valid"),
    ],
    ids=[
        "expired",
        "wrong-audience",
        "v1-issuer",
        "other-tenant",
        "alg-none",
        "unpublished-key",
        "no-exp",
        "garbage",
    ],
)
def test_a_token_that_fails_a_check_is_refused_with_the_reason(verifier, token, reason):
    with pytest.raises(PrincipalError, match=reason):
        verifier.principal(token)


def test_on_azure_the_caller_is_the_tokens_person_and_a_forged_principal_header_is_nobody(verifier):
    who = authz.caller(
        bearer(mint(claims("ana@contoso.com", "operator"), KEY)),
        mode="azure",
        emulator_secret=None,
        tokens=verifier,
    )
    assert who.actor == "aad:ana@contoso.com" and who.via == "principal" and who.may("rollback")
    forged = {
        PRINCIPAL_HEADER: authz.encode_principal(
            authz.Principal("aad", "x", "mallory", frozenset({"operator"}))
        )
    }
    assert authz.caller(forged, mode="azure", emulator_secret=None, tokens=verifier) is authz.KEY_CALLER
    with pytest.raises(PrincipalError):
        authz.caller(forged | bearer("forged"), mode="azure", emulator_secret=None, tokens=verifier)
