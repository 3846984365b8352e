"""An OpenID Connect issuer on loopback for tests: discovery, JWKS, client credentials.

It signs with keys generated for the run (RS256 or ES256), can rotate them, and mints
people's access tokens in Keycloak's layout (``realm_access.roles``) or with flat claims.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

REALM_PATH = "/realms/jiesu"


@dataclass
class SigningKey:
    """A key of the issuer with its id and algorithm."""

    kid: str
    algorithm: str
    private: Any

    @classmethod
    def generate(cls, algorithm: str = "RS256") -> SigningKey:
        """A fresh key pair."""
        if algorithm == "ES256":
            private: Any = ec.generate_private_key(ec.SECP256R1())
        else:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid=uuid.uuid4().hex[:12], algorithm=algorithm, private=private)

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK."""
        codec: Any = ECAlgorithm if self.algorithm == "ES256" else RSAAlgorithm
        jwk: dict[str, Any] = codec.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


class LoopbackIssuer:
    """A running issuer at ``url`` (``start``/``stop``, or a context manager)."""

    def __init__(
        self,
        *,
        audience: str = "jiesu",
        clients: dict[str, str] | None = None,
        algorithm: str = "RS256",
    ) -> None:
        self.audience = audience
        self.clients = dict(clients or {})
        self.keys = [SigningKey.generate(algorithm)]
        self.jwks_fetches = 0
        self.token_grants = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}{REALM_PATH}"

    def start(self) -> LoopbackIssuer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LoopbackIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def current(self) -> SigningKey:
        """The key new tokens are signed with."""
        return self.keys[-1]

    def rotate(self, *, keep_old: bool = False, algorithm: str | None = None) -> SigningKey:
        """Sign with a new key from now on (published in the JWKS at once)."""
        fresh = SigningKey.generate(algorithm or self.current.algorithm)
        self.keys = [*self.keys, fresh] if keep_old else [fresh]
        return fresh

    def token(
        self,
        *,
        role: str | None = None,
        unit_id: str | None = None,
        subject: str | None = None,
        layout: str = "keycloak",
        ttl_s: int = 600,
        key: SigningKey | None = None,
        **claims: Any,
    ) -> str:
        """A person's access token (``claims`` override or add any claim)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.url,
            "aud": self.audience,
            "sub": subject or str(uuid.uuid4()),
            "iat": now,
            "nbf": now,
            "exp": now + ttl_s,
            "azp": "jiesu-console",
        }
        if role is not None:
            if layout == "keycloak":
                body["realm_access"] = {"roles": ["offline_access", role, "uma_authorization"]}
            else:
                body["role"] = role
        if unit_id is not None:
            body["unit_id"] = unit_id
        body.update(claims)
        return self.sign(body, key=key)

    def sign(self, claims: dict[str, Any], *, key: SigningKey | None = None) -> str:
        """Any claims signed with the current (or a given) key."""
        key = key or self.current
        return jwt.encode(claims, key.private, algorithm=key.algorithm, headers={"kid": key.kid})

    def _client_token(self, client_id: str) -> dict[str, Any]:
        now = int(time.time())
        self.token_grants += 1
        token = self.sign(
            {
                "iss": self.url,
                "aud": self.audience,
                "sub": f"service-account-{client_id}",
                "azp": client_id,
                "iat": now,
                "exp": now + 300,
            }
        )
        return {"access_token": token, "token_type": "Bearer", "expires_in": 300}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == f"{REALM_PATH}/.well-known/openid-configuration":
                    self._answer(
                        200,
                        {
                            "issuer": issuer.url,
                            "jwks_uri": f"{issuer.url}/protocol/openid-connect/certs",
                            "token_endpoint": f"{issuer.url}/protocol/openid-connect/token",
                            "grant_types_supported": ["client_credentials"],
                        },
                    )
                elif self.path == f"{REALM_PATH}/protocol/openid-connect/certs":
                    issuer.jwks_fetches += 1
                    self._answer(200, {"keys": [k.public_jwk() for k in issuer.keys]})
                else:
                    self._answer(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if self.path != f"{REALM_PATH}/protocol/openid-connect/token":
                    self._answer(404, {"error": "not_found"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
                client_id, _, secret = (
                    base64.b64decode(encoded).decode().partition(":")
                    if scheme.lower() == "basic"
                    else ("", "", "")
                )
                if form.get("grant_type") != ["client_credentials"]:
                    self._answer(400, {"error": "unsupported_grant_type"})
                elif issuer.clients.get(client_id) != secret or not secret:
                    self._answer(401, {"error": "invalid_client"})
                else:
                    self._answer(200, issuer._client_token(client_id))

        return Handler
