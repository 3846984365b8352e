"""Verifying bearer tokens (OpenID Connect in production) and this service's own identity.

Production: access tokens come from the city's OpenID Connect provider, signed RS256 or
ES256 with keys from its JWKS (PyJWT's ``PyJWKClient``: discovered from the issuer's
``/.well-known/openid-configuration``, cached, fetched again for an unknown ``kid`` so a
key rotation needs no restart). Role and unit come from configurable claims. A Jiesu
service calls another with its own token, obtained from the issuer with the
client-credentials grant; the token's client (``azp``) names the service.

Development: HS256 tokens signed with the local secret (`jiesu token`, `jiesu dev`), and a
service names itself in its token. Production refuses every HS256 token.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import jwt
from jwt import PyJWKClient

from jiesu_common.auth import ROLES, Principal, decode_token, mint_token
from jiesu_common.http import Problem
from jiesu_common.settings import AuthSettings

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
# People's roles an identity provider may grant; "service" comes only from the client.
PEOPLE_ROLES = tuple(r for r in ROLES if r != "service")
DISCOVERY_PATH = "/.well-known/openid-configuration"
# Verified tokens are remembered (a desk or an app sends the same one with every request;
# checking its signature each time was about 5 % of intake's CPU per filing) until they
# expire, and at most this long, so a key withdrawn from the JWKS stops a token soon.
VERIFIED_FOR_S = 300.0
VERIFIED_MAX = 4096


def discover(issuer: str, *, timeout_s: float = 5.0) -> dict[str, Any]:
    """The issuer's OpenID configuration (its ``issuer`` must be the one configured)."""
    answer = httpx.get(issuer.rstrip("/") + DISCOVERY_PATH, timeout=timeout_s)
    answer.raise_for_status()
    config: dict[str, Any] = answer.json()
    if config.get("issuer") != issuer:
        raise ValueError(f"the issuer calls itself {config.get('issuer')!r}, not {issuer!r}")
    return config


class TokenVerifier:
    """Checks a bearer token and tells who is calling; 401 problems otherwise."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._jwks: PyJWKClient | None = None
        self._lock = threading.Lock()
        # token → (its principal, until when that answer holds, the kid of the issuer's key
        # that signed it): the oldest go first when it is full.
        self._verified: dict[str, tuple[Principal, float, str | None]] = {}

    async def verify_async(self, token: str) -> Principal:
        """``verify`` without blocking the event loop on a key fetch."""
        if (known := self._known(token)) is not None:
            return known
        header = _header(token)
        algorithm = str(header.get("alg"))
        if algorithm in HMAC_ALGORITHMS:
            principal = self._verify(token, algorithm)
        else:
            principal = await asyncio.to_thread(self._verify, token, algorithm)
        return self._remember(token, principal, header)

    def verify(self, token: str) -> Principal:
        """The principal of a valid token (may fetch the issuer's keys)."""
        if (known := self._known(token)) is not None:
            return known
        header = _header(token)
        return self._remember(token, self._verify(token, str(header.get("alg"))), header)

    def _known(self, token: str) -> Principal | None:
        """The principal of a token verified before, while it has not expired and (signed
        with the issuer's key) while that key is still in the key set last fetched."""
        cached = self._verified.get(token)
        if cached is None:
            return None
        principal, until, kid = cached
        if time.time() < until and (kid is None or self._published(kid)):
            return principal
        self._verified.pop(token, None)
        return None

    def _published(self, kid: str) -> bool:
        # Only the key set already held: a rotation that dropped the key (fetched for a
        # token with a new kid) ends the tokens it signed; an expired set: verify again.
        cache = self._jwks.jwk_set_cache if self._jwks is not None else None
        keys = cache.get() if cache is not None else None
        return keys is not None and any(k.key_id == kid for k in keys.keys)

    def _remember(self, token: str, principal: Principal, header: dict[str, Any]) -> Principal:
        kid = None
        if header.get("alg") not in HMAC_ALGORITHMS:
            kid = header.get("kid")
            if not isinstance(kid, str):
                return principal  # a key named by no kid: checked every time
        # Its signature was checked: its claims are read again only for the expiry.
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
        until = time.time() + VERIFIED_FOR_S
        if isinstance(exp, int | float):
            until = min(until, float(exp))
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = (principal, until, kid)
        return principal

    def _verify(self, token: str, algorithm: str) -> Principal:
        settings = self.settings
        if algorithm in HMAC_ALGORITHMS:
            if not settings.development:
                raise Problem.unauthorized(
                    "生产模式不接受开发令牌 / HS256 development tokens are refused in production"
                )
            return decode_token(settings, token)
        if not settings.oidc_issuer or algorithm not in settings.oidc_algorithms:
            raise Problem.unauthorized(f"不接受的签名算法 / algorithm {algorithm!r} not accepted")
        try:
            key = self._key_client().get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=list(settings.oidc_algorithms),
                audience=settings.oidc_audience,
                issuer=settings.oidc_issuer,
                leeway=settings.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise Problem(
                503, "identity-provider-unavailable", "身份服务暂不可用 / IdP unavailable"
            ) from exc
        except jwt.PyJWTError as exc:
            raise Problem.unauthorized(f"令牌无效 / invalid token: {exc}") from exc
        return principal_from_claims(settings, claims)

    def _key_client(self) -> PyJWKClient:
        with self._lock:
            if self._jwks is None:
                settings = self.settings
                try:
                    uri = settings.oidc_jwks_url or discover(settings.oidc_issuer)["jwks_uri"]
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    raise Problem(
                        503,
                        "identity-provider-unavailable",
                        "身份服务暂不可用 / the identity provider is unavailable",
                        repr(exc),
                    ) from exc
                self._jwks = PyJWKClient(
                    uri,
                    lifespan=settings.oidc_jwks_cache_s,
                    timeout=5,
                    cooldown_duration=settings.oidc_jwks_cooldown_s,
                )
            return self._jwks


def _header(token: str) -> dict[str, Any]:
    """The token's header (unchecked: it says which key and algorithm to check it with)."""
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Problem.unauthorized(f"令牌无效 / invalid token: {exc}") from exc


def principal_from_claims(settings: AuthSettings, claims: dict[str, Any]) -> Principal:
    """Who an OpenID Connect access token names: a Jiesu service (by its client) or a person."""
    subject = str(claims["sub"])
    client = claims.get(settings.service_claim)
    if isinstance(client, str) and client in settings.service_clients:
        service = settings.service_clients[client]
        return Principal(subject=f"service:{service}", role="service", service=service)
    granted = _values(claims, settings.role_claim)
    role = next((r for r in granted if r in PEOPLE_ROLES), None)
    if role is None:
        raise Problem.unauthorized("令牌缺少有效角色 / token has no valid role")
    units = _values(claims, settings.unit_claim)
    unit_id = units[0] if units else None
    if role == "unit_staff" and not unit_id:
        raise Problem.unauthorized("单位人员令牌缺少单位 / unit_staff token without a unit")
    grids = _values(claims, settings.grid_claim) if role == "grid_worker" else []
    if role == "grid_worker" and not grids:
        raise Problem.unauthorized("网格员令牌缺少网格 / grid_worker token without a grid")
    return Principal(
        subject=subject, role=role, unit_id=unit_id, grid_code=grids[0] if grids else None
    )


def _values(claims: dict[str, Any], path: str) -> list[str]:
    """A claim by dotted path (``realm_access.roles``) as a list of strings."""
    found: Any = claims
    for part in path.split("."):
        if not isinstance(found, dict):
            return []
        found = found.get(part)
    if isinstance(found, str):
        return [found]
    if isinstance(found, list):
        return [str(v) for v in found]
    return []


def verifier_for(settings: AuthSettings) -> TokenVerifier:
    """The one verifier of these settings (its key cache is shared by every request)."""
    verifier = settings._verifier
    if verifier is None:
        verifier = settings._verifier = TokenVerifier(settings)
    assert isinstance(verifier, TokenVerifier)
    return verifier


class ServiceCredentials:
    """This service's own bearer token for its calls to the other services."""

    def __init__(
        self,
        settings: AuthSettings,
        service: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self._transport = transport
        self._token: str | None = None
        self._expires = 0.0
        self._token_endpoint: str | None = None
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A valid token naming this service (cached until shortly before it expires)."""
        if self.settings.development:
            return mint_token(
                self.settings, role="service", service=self.service, ttl=timedelta(minutes=5)
            )
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                self._token, lifetime = await self._client_credentials()
                self._expires = time.monotonic() + max(lifetime - 30.0, lifetime / 2)
            return self._token

    async def headers(self) -> dict[str, str]:
        """``Authorization`` for a call to another service."""
        return {"Authorization": f"Bearer {await self.token()}"}

    async def _client_credentials(self) -> tuple[str, float]:
        settings = self.settings
        if not settings.client_id:
            raise Problem(
                503,
                "service-identity-missing",
                "服务身份未配置 / this service has no client credentials (AUTH__CLIENT_ID)",
            )
        async with httpx.AsyncClient(timeout=5.0, transport=self._transport) as client:
            if self._token_endpoint is None:
                found = await client.get(settings.oidc_issuer.rstrip("/") + DISCOVERY_PATH)
                found.raise_for_status()
                self._token_endpoint = str(found.json()["token_endpoint"])
            answer = await client.post(
                self._token_endpoint,
                data={"grant_type": "client_credentials"},
                auth=(settings.client_id, settings.client_secret.get_secret_value()),
            )
        if answer.status_code != 200:
            raise Problem(
                503,
                "service-identity-refused",
                "身份服务拒绝了本服务的凭据 / the identity provider refused this service",
                f"token endpoint answered {answer.status_code}",
            )
        grant = answer.json()
        return str(grant["access_token"]), float(grant.get("expires_in", 300))


def credentials_for(settings: AuthSettings, service: str) -> ServiceCredentials:
    """The one credential holder of a service (its client-credentials token is reused)."""
    held = settings._credentials.get(service)
    if held is None:
        held = settings._credentials[service] = ServiceCredentials(settings, service)
    assert isinstance(held, ServiceCredentials)
    return held
