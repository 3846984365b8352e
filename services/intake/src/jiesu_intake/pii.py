"""Callers' personal data: AES-GCM at rest, keyed hashes for look-ups, masks for display."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jiesu_intake.settings import PiiSettings


class PiiVault:
    """Encrypts, decrypts and hashes personal data with the service's keys."""

    def __init__(self, settings: PiiSettings) -> None:
        enc = settings.encryption_key.get_secret_value()
        mac = settings.hash_key.get_secret_value()
        if not enc or not mac:
            raise ValueError(
                "JIESU_INTAKE_PII__ENCRYPTION_KEY and JIESU_INTAKE_PII__HASH_KEY must be set "
                "(base64 of 32 random bytes each)"
            )
        self._aead = AESGCM(base64.b64decode(enc))
        self._hash_key = base64.b64decode(mac)

    def encrypt(self, value: str | None, *, context: bytes) -> bytes | None:
        """Nonce-prefixed ciphertext bound to ``context`` (the complaint id)."""
        if value is None:
            return None
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, value.encode(), context)

    def decrypt(self, blob: bytes | None, *, context: bytes) -> str | None:
        """Inverse of ``encrypt``; fails loudly on tampering."""
        if blob is None:
            return None
        return self._aead.decrypt(blob[:12], blob[12:], context).decode()

    def phone_hash(self, phone: str) -> str:
        """A keyed hash of the normalised number, for duplicate and caller look-ups."""
        return hmac.new(self._hash_key, normalise_phone(phone).encode(), hashlib.sha256).hexdigest()

    def caller_ref(self, phone_hash: str | None, complaint_id: str) -> str:
        """A pseudonym for the bus: stable per caller, unlinkable to the number without the key."""
        basis = phone_hash or complaint_id
        digest = hmac.new(self._hash_key, b"ref:" + basis.encode(), hashlib.sha256).hexdigest()
        return "c_" + digest[:20]


def generate_key() -> str:
    """A fresh base64 key for ``PiiSettings``."""
    return base64.b64encode(os.urandom(32)).decode()


def normalise_phone(phone: str) -> str:
    """Digits only, without a +86 / 0086 country prefix."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix) :]
    return digits


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` → ``138****5678``; short numbers keep only their last two digits."""
    if not phone:
        return None
    digits = normalise_phone(phone)
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) <= 2:
        return "*" * len(digits)
    return "*" * (len(digits) - 2) + digits[-2:]


def mask_name(name: str | None) -> str | None:
    """``张三丰`` → ``张**``: the surname only."""
    if not name:
        return None
    return name[0] + "*" * (len(name) - 1)


def mask_email(email: str | None) -> str | None:
    """``zhangsan@example.com`` → ``z***@example.com``."""
    if not email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
