"""A stand-in for Microsoft Entra ID's token signing: a local RSA key, served as the tenant's JSON Web
Key Set over loopback HTTP, and access tokens minted with it.

The key set has the shape Entra publishes at https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys
(`{"keys": [{"kty": "RSA", "use": "sig", "kid", "n", "e", ...}]}`), and the tokens carry the claims of
an Entra v2 access token (Microsoft identity platform docs, "Access token claims reference": `aud` the
app's client id, `iss` https://login.microsoftonline.com/{tid}/v2.0, `iat`/`nbf`/`exp`, `name`, `oid`,
`preferred_username`, `roles`, `scp`, `sub`, `tid`, `ver` "2.0"), signed RS256 with a `kid` header."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.azure.stub_http import Recorded, serve

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def new(cls, kid: str) -> SigningKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "n": _b64(numbers.n), "e": _b64(numbers.e)}


def claims(user: str = "ana@contoso.com", *roles: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    doc = {
        "aud": CLIENT_ID,
        "iss": ISSUER,
        "iat": now - 10,
        "nbf": now - 10,
        "exp": now + 3600,
        "name": user.split("@")[0].title(),
        "oid": f"oid-{user}",
        "preferred_username": user,
        "roles": list(roles),
        "scp": "user_impersonation",
        "sub": f"sub-{user}",
        "tid": TENANT,
        "ver": "2.0",
    }
    return {**doc, **overrides}


def mint(doc: dict[str, Any], key: SigningKey) -> str:
    return jwt.encode(doc, key.private, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})


def unsigned(doc: dict[str, Any], kid: str) -> str:
    """`alg: none`: a header and claims with an empty signature."""
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{part(doc)}."


@contextmanager
def tenant_keys(*published: SigningKey) -> Iterator[str]:
    """Serves the key set on loopback; yields its URL."""

    def respond(req: Recorded) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps({"keys": [k.jwk() for k in published]}).encode()
        return 200, {"Content-Type": "application/json"}, body

    with serve(respond) as stub:
        yield f"{stub.url}/{TENANT}/discovery/v2.0/keys"
