"""TokenVerifier for Microsoft Entra ID access tokens: the console's bearer tokens, checked by the app.

The operator console sends an Entra v2 access token for the app registration (README: Entra app
registration, `requestedAccessTokenVersion: 2`). A token counts only when all of these hold (Microsoft
identity platform docs, "Access tokens" > "Validate tokens"):

- the signature verifies with a key the tenant publishes (RS256; the JSON Web Key Set at
  https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys, found by the token's `kid`);
  an unsigned token (`alg: none`) or any other algorithm is refused before a key is looked up;
- `iss` is the tenant's v2 issuer, https://login.microsoftonline.com/{tenant}/v2.0;
- `aud` is this app: its client id (v2 tokens) or its Application ID URI `api://{client id}`;
- `exp` is in the future (and `nbf`, when present, in the past), with a minute of clock skew.

The person and their app roles come from the validated claims (core/kernel/authz.py
`principal_from_claims`). The key set is cached (PyJWT's PyJWKClient: five minutes, refreshed once
for an unknown `kid`, as Entra rolls its keys).
"""

from __future__ import annotations

from typing import Any

import jwt

from core.kernel.authz import Principal, PrincipalError, principal_from_claims

ALGORITHMS = ["RS256"]
LEEWAY_S = 60


class EntraTokenVerifier:
    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        *,
        jwks_url: str | None = None,
        issuer: str | None = None,
        authority: str = "https://login.microsoftonline.com",
    ) -> None:
        if not (tenant_id and client_id):
            raise ValueError(
                "the console's token check needs CONSOLE_ENTRA_TENANT_ID and CONSOLE_ENTRA_CLIENT_ID "
                "(infra sets both when consoleEntraClientId is given)"
            )
        self.client_id = client_id
        self.audiences = [client_id, f"api://{client_id}"]
        self.issuer = issuer or f"{authority}/{tenant_id}/v2.0"
        self.jwks_url = jwks_url or f"{authority}/{tenant_id}/discovery/v2.0/keys"
        self._keys = jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=300, timeout=10)

    def principal(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in ALGORITHMS:
                raise PrincipalError(
                    f"the bearer token is signed with {header.get('alg')!r}; only RS256 is accepted"
                )
            key = self._keys.get_signing_key_from_jwt(token).key
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.audiences,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud"]},
            )
        except PrincipalError:
            raise
        except jwt.ExpiredSignatureError:
            raise PrincipalError("the bearer token has expired: sign in again") from None
        except jwt.InvalidAudienceError:
            raise PrincipalError(
                f"the bearer token is not for this app (audience must be {' or '.join(self.audiences)})"
            ) from None
        except jwt.InvalidIssuerError:
            raise PrincipalError(
                f"the bearer token was not issued by {self.issuer} (a v1 token? set the app registration's "
                "requestedAccessTokenVersion to 2)"
            ) from None
        except jwt.PyJWKClientError as exc:
            raise PrincipalError(
                f"the bearer token's signing key is not one the tenant publishes: {exc}"
            ) from None
        except jwt.PyJWTError as exc:
            raise PrincipalError(f"the bearer token is not valid: {exc}") from None
        return principal_from_claims(claims)
