"""AES-256-GCM envelope encryption: per-subject data keys, wrapped by the master key.

Every ciphertext is bound to where it belongs through GCM's associated data,
so a ciphertext copied to another row, stream or key slot fails to decrypt.
"""

from __future__ import annotations

import hmac
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_BYTES",
    "LOOKUP_PURPOSE",
    "NONCE_BYTES",
    "Tampered",
    "derive",
    "new_data_key",
    "seal",
    "unseal",
]

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
LOOKUP_PURPOSE: Final = b"addvalue/subject-lookup/v1"


class Tampered(Exception):
    """A ciphertext failed authentication although its key exists: it was altered or moved."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """``nonce || ciphertext || tag`` with a fresh random 96-bit nonce."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def unseal(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
    except InvalidTag:
        raise Tampered("authentication tag mismatch: the ciphertext was altered or moved") from None


def derive(root_secret: bytes, purpose: bytes) -> bytes:
    """A 256-bit key for one purpose: ``HMAC-SHA256(root secret, purpose)``."""
    return hmac.digest(root_secret, purpose, "sha256")
