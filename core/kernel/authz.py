"""Who is calling the operator API, and may they do this?

People arrive with an identity, automation with a function key:

- A *principal* comes in the `x-ms-client-principal` header: base64 JSON, either in Static Web Apps'
  shape (`identityProvider`, `userId`, `userDetails`, `userRoles`) or App Service Authentication's
  (`auth_typ`, `claims: [{typ, val}]`, `name_typ`, `role_typ`). Roles: `reader` sees everything and
  changes nothing; `operator` may also approve, reject, abort, roll back and retrain.
- On the function-level routes (`/api/...`) a request without a principal passed the host's
  function-key check, so it is automation and may do everything, as it could before this module.
  The console routes (`/api/console/...`) are anonymous at the host (a browser holds no key) and
  refuse a request without a trusted principal (triggers/operator_api.py).

A principal header is only as good as whoever set it, so on Azure the app does not read one at all:
it validates the caller's Entra access token itself (`Authorization: Bearer`; a `TokenVerifier`,
adapters/azure/entra_tokens.py: signature against the tenant's published keys, issuer, audience,
expiry) and takes the person and their app roles from its claims. The trust no longer rests on the
platform stripping a client-sent `x-ms-client-principal`, which Flex Consumption documentation
(preview revision) said its App Service Authentication did not do. Locally nothing issues tokens:
the header is trusted only next to the shared secret that the console server (devstack/console.py,
the Static Web Apps emulation) adds, so a client holding a key cannot pose as somebody else.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

PRINCIPAL_HEADER = "x-ms-client-principal"
EMULATOR_SECRET_HEADER = "x-console-principal-secret"
READER, OPERATOR = "reader", "operator"
ROLES = (READER, OPERATOR)
WRITE_ACTIONS = frozenset({"approve", "reject", "abort", "rollback", "retrain"})
MAX_PRINCIPAL_BYTES = 16_384
SIGN_IN_REQUIRED = (
    "sign in: /api/console/* is for people and needs a principal (on Azure an Entra access token, "
    "Authorization: Bearer, which the app validates; locally the console's sign-in); "
    "automation uses /api/* with a function key"
)
ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
NAME_CLAIMS = ("preferred_username", "name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name")
ID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid", "sub")


class PrincipalError(ValueError):
    """The principal header is not base64 JSON of a known shape, or the bearer token is not valid;
    the message says what is wrong."""


class TokenVerifier(Protocol):
    """Checks a bearer token and says whose it is (adapters/azure/entra_tokens.py on Azure)."""

    def principal(self, token: str) -> Principal:
        """The token's person and roles; PrincipalError when it is not a valid token for this app."""
        ...


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if there is one."""
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """A validated Entra access token's person: name, object id and the `roles` claim (app roles)."""
    roles = claims.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise PrincipalError("the token's roles claim must be a list of strings")
    name = next((str(claims[c]) for c in ("preferred_username", "upn", "name") if claims.get(c)), "")
    user_id = str(claims.get("oid") or claims.get("sub") or "")
    if not (name or user_id):
        raise PrincipalError("the token names nobody (no preferred_username, name, oid or sub)")
    return Principal("aad", user_id, name or user_id, frozenset(roles))


@dataclass(frozen=True)
class Principal:
    identity_provider: str
    user_id: str
    user_details: str
    roles: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Caller:
    """The identity an action is attributed to, and what it may do."""

    actor: str  # e.g. "aad:alice@contoso.com" or "function-key"
    via: Literal["principal", "key"]
    roles: frozenset[str]
    user_id: str = ""

    def may(self, action: str) -> bool:
        if action in WRITE_ACTIONS:
            return OPERATOR in self.roles
        return bool(self.roles & set(ROLES))

    def record(self) -> dict[str, Any]:
        """What the ledger and the lifecycle events keep about the caller."""
        return {"actor": self.actor, "via": self.via, "roles": sorted(self.roles), "user_id": self.user_id}


KEY_CALLER = Caller(actor="function-key", via="key", roles=frozenset(ROLES))


def _claims(doc: Mapping[str, Any], *types: str) -> list[str]:
    return [
        str(c.get("val", ""))
        for c in doc.get("claims") or []
        if isinstance(c, dict) and c.get("typ") in types
    ]


def parse_principal(value: str) -> Principal:
    """Decode the header in either shape (Static Web Apps or App Service Authentication)."""
    if len(value) > MAX_PRINCIPAL_BYTES:
        raise PrincipalError(f"{PRINCIPAL_HEADER} is {len(value)} characters; at most {MAX_PRINCIPAL_BYTES}")
    try:
        doc = json.loads(base64.b64decode(value + "=" * (-len(value) % 4), validate=False))
    except (binascii.Error, ValueError) as exc:
        raise PrincipalError(f"{PRINCIPAL_HEADER} is not base64-encoded JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise PrincipalError(f"{PRINCIPAL_HEADER} must encode a JSON object")
    if "claims" in doc:  # App Service Authentication
        role_types = (doc.get("role_typ"), *ROLE_CLAIMS)
        name_types = (doc.get("name_typ"), *NAME_CLAIMS)
        names = _claims(doc, *[t for t in name_types if t])
        ids = _claims(doc, *ID_CLAIMS)
        return Principal(
            identity_provider=str(doc.get("auth_typ") or "aad"),
            user_id=ids[0] if ids else (names[0] if names else ""),
            user_details=names[0] if names else (ids[0] if ids else ""),
            roles=frozenset(_claims(doc, *[t for t in role_types if t])),
        )
    roles = doc.get("userRoles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise PrincipalError(f"{PRINCIPAL_HEADER}: userRoles must be a list of strings")
    details = str(doc.get("userDetails") or "")
    if not details and not doc.get("userId"):
        raise PrincipalError(f"{PRINCIPAL_HEADER} names nobody (no userDetails, no userId, no claims)")
    return Principal(
        identity_provider=str(doc.get("identityProvider") or "unknown"),
        user_id=str(doc.get("userId") or ""),
        user_details=details or str(doc.get("userId")),
        roles=frozenset(roles),
    )


def encode_principal(principal: Principal) -> str:
    """The Static Web Apps shape, as the local emulation sends it."""
    doc = {
        "identityProvider": principal.identity_provider,
        "userId": principal.user_id,
        "userDetails": principal.user_details,
        "userRoles": sorted(principal.roles),
    }
    return base64.b64encode(json.dumps(doc).encode()).decode()


def trusts_principal(headers: Mapping[str, str], *, emulator_secret: str | None) -> bool:
    """Whether the principal header on this request was set by the local console emulator (proved
    by its secret). On Azure no header is trusted: the caller brings a token (`caller(tokens=...)`)."""
    if not emulator_secret:
        return False
    given = headers.get(EMULATOR_SECRET_HEADER) or ""
    return hmac.compare_digest(given.encode(), emulator_secret.encode())


def _as_caller(p: Principal) -> Caller:
    roles = frozenset(r for r in p.roles if r in ROLES)
    if OPERATOR in roles:
        roles |= {READER}
    return Caller(
        actor=f"{p.identity_provider}:{p.user_details}", via="principal", roles=roles, user_id=p.user_id
    )


def caller(
    headers: Mapping[str, str],
    *,
    mode: str,
    emulator_secret: str | None,
    tokens: TokenVerifier | None = None,
) -> Caller:
    """The caller: the person of a valid bearer token (Azure, `tokens` set) or of a principal header
    the local emulator vouches for, else the function-key holder (the caller of a function-level
    route; the console routes refuse a key caller). A client-sent x-ms-client-principal is never
    believed on Azure: without a token it is a key caller, which the console door refuses.

    Raises PrincipalError for an invalid token or a vouched-for but malformed principal (a 401,
    not a silent key caller)."""
    if mode == "azure" and not emulator_secret:
        token = bearer_token(headers)
        if token is None or tokens is None:
            return KEY_CALLER
        return _as_caller(tokens.principal(token))
    raw = headers.get(PRINCIPAL_HEADER)
    if not raw or not trusts_principal(headers, emulator_secret=emulator_secret):
        return KEY_CALLER
    return _as_caller(parse_principal(raw))


def refusal(who: Caller, action: str) -> str | None:
    """Why `who` may not do `action`, or None when they may."""
    if who.may(action):
        return None
    need = OPERATOR if action in WRITE_ACTIONS else f"{READER} or {OPERATOR}"
    has = ", ".join(sorted(who.roles)) or "no console role"
    return f"{who.actor} may not {action}: it needs the role {need} (has {has})"
