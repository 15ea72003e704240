"""Signed validation: who vouches that a bundle passed, checked with Ed25519 (``cryptography``).

Digests in a bundle detect corruption, not forgery: anyone can flip ``passed`` in
``validation.json`` and reseal it. A *signed* record carries an Ed25519 signature over its whole
content (the bindings to ``policy.onnx`` and ``manifest.json``, the suite, every gate's figure and
verdict), made with a private key only the validating party holds. ``twingym deploy --trust KEYS``
accepts only records signed by one of the trusted public keys; without ``--trust`` unsigned records
still deploy, for local experiments.

Key files (``twingym keys new``):

- private key: PKCS#8 PEM, mode 0600 (``NAME.key``);
- public key: one line ``twingym-ed25519 <base64 of the 32 raw bytes> <name>`` (``NAME.pub``).
  A trust file is any number of such lines (``#`` comments allowed); a ``.pub`` file is one.

A record's ``signature`` entry: ``{"algorithm": "ed25519", "key_id", "public_key", "value"}``;
``key_id`` is the first 16 hex digits of the sha256 of the raw public key, ``value`` the base64
signature over the canonical JSON of the record without ``signature`` and its own digest.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PUBLIC_PREFIX = "twingym-ed25519"
SIGNATURE_KEY = "signature"
ALGORITHM = "ed25519"


class SigningError(ValueError):
    """A key or signature problem, in one line."""


def key_id(raw_public: bytes) -> str:
    """Short id of a raw 32-byte Ed25519 public key (16 hex digits of its sha256)."""
    return hashlib.sha256(raw_public).hexdigest()[:16]


def _raw_public(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def new_key_pair(folder: str | Path, name: str = "twingym") -> tuple[Path, Path]:
    """Create ``folder/NAME.key`` (private, 0600) and ``folder/NAME.pub``; refuses to overwrite."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SigningError(f"{folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / f"{name}.key", folder / f"{name}.pub"
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise SigningError(f"{path} already exists; choose another --name or folder")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    raw = _raw_public(key.public_key())
    public_path.write_text(f"{PUBLIC_PREFIX} {base64.b64encode(raw).decode()} {name}\n")
    return private_path, public_path


def load_private_key(path: str | Path) -> Any:
    """An Ed25519 private key from a PKCS#8 PEM file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    if not path.is_file():
        raise SigningError(f"signing key {path} not found")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"signing key {path} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"signing key {path} is not an Ed25519 key")
    return key


@dataclass(frozen=True)
class TrustedKey:
    """One trusted public key: raw bytes, id and the name given in the trust file."""

    raw: bytes
    key_id: str
    name: str


def load_trusted_keys(path: str | Path) -> dict[str, TrustedKey]:
    """``{key_id: TrustedKey}`` from a ``.pub`` or trust file (one ``twingym-ed25519`` line per key)."""
    path = Path(path)
    if not path.is_file():
        raise SigningError(f"trust file {path} not found")
    keys: dict[str, TrustedKey] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        try:
            if parts[0] != PUBLIC_PREFIX:
                raise ValueError
            raw = base64.b64decode(parts[1], validate=True)
            if len(raw) != 32:
                raise ValueError
        except (ValueError, IndexError):
            raise SigningError(f"{path}:{number}: not a '{PUBLIC_PREFIX} <base64 key> [name]' line") from None
        keys[key_id(raw)] = TrustedKey(raw, key_id(raw), parts[2] if len(parts) > 2 else "")
    if not keys:
        raise SigningError(f"trust file {path} holds no keys")
    return keys


def sign_record(record: dict, private_key: Any, canonical: Callable[[dict], bytes]) -> dict:
    """``record`` plus a ``signature`` over ``canonical(record)`` (the record without a signature)."""
    body = {k: v for k, v in record.items() if k != SIGNATURE_KEY}
    raw = _raw_public(private_key.public_key())
    signature = private_key.sign(canonical(body))
    return {**body, SIGNATURE_KEY: {"algorithm": ALGORITHM, "key_id": key_id(raw),
                                    "public_key": base64.b64encode(raw).decode(),
                                    "value": base64.b64encode(signature).decode()}}


def signature_status(record: dict, body: dict, canonical: Callable[[dict], bytes],
                     trusted: dict[str, TrustedKey] | None = None) -> tuple[bool, str]:
    """``(acceptable, one line)`` for the signature of ``record``; ``body`` is what was signed.

    Without ``trusted`` keys: unsigned is acceptable (local experiments) and a signature is checked
    against the key it names. With them: only a valid signature by one of them is acceptable.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sig = record.get(SIGNATURE_KEY)
    if sig is None:
        if trusted:
            return False, "validation is unsigned and --trust requires a signature by a trusted key"
        return True, "unsigned (local experiments only; deploy --trust refuses it)"
    try:
        embedded = base64.b64decode(sig["public_key"], validate=True)
        value = base64.b64decode(sig["value"], validate=True)
        if sig.get("algorithm") != ALGORITHM or key_id(embedded) != sig.get("key_id"):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        return False, "validation signature is malformed"
    kid = sig["key_id"]
    if trusted is not None and kid not in trusted:
        return False, f"validation is signed by key {kid}, which is not in the trusted keys"
    raw = trusted[kid].raw if trusted is not None else embedded
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(value, canonical(body))
    except (InvalidSignature, ValueError):
        return False, f"validation signature by key {kid} does not match the record: it was altered"
    who = f" ({trusted[kid].name})" if trusted is not None and trusted[kid].name else ""
    return True, f"signed by key {kid}{who}" + (", trusted" if trusted is not None else " (ed25519)")
