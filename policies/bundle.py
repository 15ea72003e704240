"""The policy bundle: a directory (or ``.zip`` of one) that carries a policy from training to a plant.

Files (format version :data:`~twingym.policies.manifest.FORMAT_VERSION`, see ``docs/bundle-format.md``):

- ``policy.onnx``: raw observation in, action in the twin's units out (see ``onnx_export``).
- ``reference_spec.npz``: the exported :class:`PolicySpec` (numpy reference of the same policy),
  used by validation's equivalence gate.
- ``manifest.json``: a :class:`~twingym.policies.manifest.Manifest`: format version, twin id and
  params hash, spaces and labels, backend, run id, training config, and the sha256 of every other
  file it lists; its own sha256 over its canonical form is stored in it as ``manifest_sha256``. The
  file must be byte-identical to that canonical form, so *any* changed byte is detected.
- ``validation.json`` + ``report.html``: written by ``twingym validate``; ``validation.json`` (a
  :class:`~twingym.policies.manifest.ValidationRecord`) binds itself to the sha256 of ``policy.onnx``
  and of ``manifest.json`` and carries its own digest.

Digests detect corruption and edits; they are not signatures (anyone can recompute a sha256).
``twingym validate --sign-key KEY`` adds an Ed25519 signature to ``validation.json``
(:mod:`twingym.policies.signing`); ``require_validated(bundle, trusted)`` then accepts only records
signed by a trusted key.

API used by deployment::

    bundle = load_bundle(path)        # BundleError (one line) on missing files, bad digests, tampering
    record = require_validated(bundle)  # BundleError unless validation.json binds this exact policy
                                        # and manifest and every gate passed
    bundle.policy_bytes, bundle.manifest, bundle.observation_space(), bundle.action_space()
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from twingym.live import contract
from twingym.policies import bundle_io
from twingym.policies.manifest import (
    DIGEST_KEY,
    FORMAT_VERSION,
    VALIDATION_DIGEST_KEY,
    Binding,
    BundleError,
    Manifest,
    ValidationRecord,
    canonical_json,
    seal,
    sha256_bytes,
)

__all__ = ["DIGEST_KEY", "FORMAT_VERSION", "MANIFEST_FILE", "POLICY_FILE", "REPORT_FILE", "SPEC_FILE",
           "VALIDATION_DIGEST_KEY", "VALIDATION_FILE", "Bundle", "BundleError", "Manifest", "ValidationRecord",
           "canonical_json", "file_digests", "load_bundle", "params_hash", "require_validated", "seal",
           "sha256_bytes", "space_from_json", "space_to_json", "validation_problem", "write_bundle",
           "write_validation", "zip_bytes"]

if TYPE_CHECKING:  # the deploy runtime loads bundles without JAX: spaces are imported where used
    from twingym.envs import spaces

POLICY_FILE = "policy.onnx"
SPEC_FILE = "reference_spec.npz"
MANIFEST_FILE = bundle_io.MANIFEST_FILE
VALIDATION_FILE = bundle_io.VALIDATION_FILE
REPORT_FILE = "report.html"


# ---- digests -------------------------------------------------------------------------------------------
def file_digests(files: dict[str, bytes]) -> dict[str, str]:
    """sha256 of each member, sorted by name (the ``files`` of a manifest or validation record)."""
    return {name: sha256_bytes(data) for name, data in sorted(files.items())}


def _check_sealed(raw: bytes, key: str, what: str) -> dict:
    try:
        record = json.loads(raw.decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BundleError(f"{what} is not valid JSON: the file is corrupted or was edited") from None
    if not isinstance(record, dict) or key not in record:
        raise BundleError(f"{what} has no {key}: not a twingym bundle file, or it was edited")
    body = {k: v for k, v in record.items() if k != key}
    if sha256_bytes(canonical_json(body)) != record[key]:
        raise BundleError(f"{what} digest mismatch: its content was modified after it was written")
    if canonical_json(record) != raw:
        raise BundleError(f"{what} was modified after it was written (bytes differ from its sealed form)")
    return record


# ---- params hash and spaces ----------------------------------------------------------------------------
def params_hash(params: Any) -> str:
    """sha256 over a twin's params: every pytree leaf (path, dtype, shape, bytes) and static field.

    Walks dataclass fields in declaration order; arrays and python numbers are hashed by value,
    anything else (static config such as ``max_steps`` or a layout name) by ``repr``.
    """
    h = hashlib.sha256()

    def walk(prefix: str, value: Any) -> None:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(f"{prefix}.{f.name}", getattr(value, f.name))
        elif isinstance(value, dict):
            for k in sorted(value, key=str):
                walk(f"{prefix}[{k!r}]", value[k])
        elif isinstance(value, list | tuple) and all(isinstance(v, int | float | bool) for v in value):
            walk(prefix, np.asarray(value))
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        elif isinstance(value, bool | int | float | np.number) or hasattr(value, "__array__"):
            arr = np.ascontiguousarray(np.asarray(value))
            h.update(f"{prefix}:{arr.dtype.str}:{arr.shape}:".encode())
            h.update(arr.tobytes())
        else:
            h.update(f"{prefix}={value!r};".encode())

    walk("params", params)
    return "sha256:" + h.hexdigest()


def space_to_json(space: spaces.Space) -> dict:
    """JSON description of a twingym space (the live twin's protocol form, :mod:`twingym.live.contract`)."""
    try:
        return contract.space_to_json(space)
    except ValueError as exc:
        raise BundleError(str(exc)) from None


def space_from_json(data: dict) -> spaces.Space:
    """Inverse of :func:`space_to_json`."""
    try:
        return contract.space_from_json(data)
    except ValueError as exc:
        raise BundleError(f"manifest describes an {exc}") from None


# ---- the bundle ------------------------------------------------------------------------------------------
@dataclass
class Bundle:
    """A loaded, digest-checked bundle. ``files`` maps member names to their bytes."""

    path: Path
    manifest: Manifest
    files: dict[str, bytes] = field(repr=False)

    @property
    def is_zip(self) -> bool:
        return self.path.suffix.lower() == ".zip"

    @property
    def policy_bytes(self) -> bytes:
        return self.files[POLICY_FILE]

    @property
    def manifest_bytes(self) -> bytes:
        return self.files[MANIFEST_FILE]

    @property
    def manifest_digest(self) -> str:
        """sha256 of the ``manifest.json`` file bytes (what validation binds to)."""
        return sha256_bytes(self.manifest_bytes)

    @property
    def twin_id(self) -> str:
        return self.manifest.twin.id

    def observation_space(self) -> spaces.Space:
        return space_from_json(self.manifest.observation_space)

    def action_space(self) -> spaces.Space:
        return space_from_json(self.manifest.action_space)

    def reference_spec(self):
        """The exported PolicySpec (numpy reference), or None when the bundle has none."""
        from twingym.policies.onnx_export import load_spec
        return load_spec(self.files[SPEC_FILE]) if SPEC_FILE in self.files else None

    def validation(self) -> ValidationRecord | None:
        """The parsed ``validation.json`` (digest-checked), or None when not validated yet."""
        if VALIDATION_FILE not in self.files:
            return None
        raw = _check_sealed(self.files[VALIDATION_FILE], VALIDATION_DIGEST_KEY, VALIDATION_FILE)
        return ValidationRecord.from_json(raw, f"{VALIDATION_FILE} of bundle {self.path}")


def load_bundle(path: str | os.PathLike, limits: bundle_io.ReadLimits = bundle_io.DEFAULT_LIMITS) -> Bundle:
    """Load and verify a bundle directory or ``.zip``.

    Raises :class:`BundleError` when the path is missing, ``manifest.json`` or a file it lists is
    missing, the manifest was edited (any byte), or a listed file's sha256 differs from the manifest;
    and, before any of that, when a member is unlisted (zip), too large, a compression bomb or a
    link leaving the bundle (see :mod:`twingym.policies.bundle_io` and ``limits``).
    """
    path = Path(path)
    if not path.exists():
        raise BundleError(f"bundle {path} does not exist")
    try:
        files = bundle_io.read_members(path, limits)
    except bundle_io.MemberError as exc:
        raise BundleError(str(exc)) from None
    if MANIFEST_FILE not in files:
        raise BundleError(f"bundle {path} has no {MANIFEST_FILE}: not a twingym policy bundle")
    raw = _check_sealed(files[MANIFEST_FILE], DIGEST_KEY, f"{MANIFEST_FILE} of bundle {path}")
    manifest = Manifest.from_json(raw, f"bundle {path}")
    listed = manifest.files
    if POLICY_FILE not in listed:
        raise BundleError(f"{MANIFEST_FILE} of bundle {path} lists no {POLICY_FILE}")
    for name, digest in sorted(listed.items()):
        if name not in files:
            raise BundleError(f"bundle {path} is missing {name} (listed in {MANIFEST_FILE})")
        actual = sha256_bytes(files[name])
        if actual != digest:
            raise BundleError(f"{name} digest mismatch in bundle {path}: sha256 {actual[:12]}... but the "
                              f"manifest says {digest[:12]}...; the file was modified or corrupted")
    return Bundle(path=path, manifest=manifest, files=files)


def signature_status(bundle: Bundle, trusted: dict | None = None) -> tuple[bool, str]:
    """``(acceptable, one line)`` for the signature of ``bundle``'s validation record.

    ``trusted``: ``{key_id: TrustedKey}`` from :func:`twingym.policies.signing.load_trusted_keys`;
    with it only a valid signature by one of those keys is acceptable, without it an unsigned
    record is acceptable too (see :mod:`twingym.policies.signing`).
    """
    from twingym.policies import signing

    if VALIDATION_FILE not in bundle.files:
        return False, "not validated"
    # the file's own mapping is what was signed (the typed record would drop keys it does not know)
    raw = _check_sealed(bundle.files[VALIDATION_FILE], VALIDATION_DIGEST_KEY, VALIDATION_FILE)
    body = {k: v for k, v in raw.items() if k not in (VALIDATION_DIGEST_KEY, signing.SIGNATURE_KEY)}
    return signing.signature_status(raw, body, canonical_json, trusted)


def validation_problem(bundle: Bundle, trusted: dict | None = None) -> str | None:
    """Why ``bundle`` may not be deployed (one line), or None when it is validated and passed (and,
    with ``trusted`` keys, signed by one of them)."""
    try:
        record = bundle.validation()
    except BundleError as exc:
        return str(exc)
    if record is None:
        return f"bundle {bundle.path} has not been validated: run `twingym validate {bundle.path}` first"
    acceptable, signature = signature_status(bundle, trusted)
    if not acceptable:
        return f"bundle {bundle.path}: {signature}"
    if record.binding.policy_onnx_sha256 != sha256_bytes(bundle.policy_bytes):
        return (f"{VALIDATION_FILE} of bundle {bundle.path} was made for a different {POLICY_FILE}; "
                "re-run `twingym validate`")
    if record.binding.manifest_sha256 != bundle.manifest_digest:
        return (f"{VALIDATION_FILE} of bundle {bundle.path} was made for a different {MANIFEST_FILE}; "
                "re-run `twingym validate`")
    for name, digest in sorted(record.files.items()):
        if sha256_bytes(bundle.files.get(name, b"")) != digest:
            return f"{name} of bundle {bundle.path} does not match {VALIDATION_FILE}; re-run `twingym validate`"
    if not record.gates:
        return f"{VALIDATION_FILE} of bundle {bundle.path} holds no gates"
    from twingym.policies.gates import removed_keys

    retired = removed_keys(record.gates_config)
    if retired:
        return (f"bundle {bundle.path} was validated with removed gate thresholds ({', '.join(retired)}): its "
                "performance verdict predates the rule that the policy beats every baseline on every scenario; "
                f"re-run `twingym validate {bundle.path}`")
    failed = record.gates_not_passed()
    if failed:
        return f"bundle {bundle.path} failed validation gates: {', '.join(failed)}"
    return None


def require_validated(bundle: Bundle, trusted: dict | None = None) -> ValidationRecord:
    """The validation record of ``bundle``; raises :class:`BundleError` unless it binds the exact
    ``policy.onnx`` and ``manifest.json`` of this bundle, every gate passed and, with ``trusted``
    keys, one of them signed it."""
    problem = validation_problem(bundle, trusted)
    if problem:
        raise BundleError(problem)
    return bundle.validation()


# ---- writing -------------------------------------------------------------------------------------------
def write_bundle(path: str | os.PathLike, files: dict[str, bytes], manifest: Manifest, *,
                 overwrite: bool = False) -> Path:
    """Write ``files`` + ``manifest.json`` as a directory, or a ``.zip`` when ``path`` ends in .zip.

    ``manifest.files`` must list the sha256 of every member of ``files`` (see :func:`file_digests`).
    """
    if manifest.files != file_digests(files):
        raise BundleError("the manifest's file digests do not match the files being written")
    path = Path(path)
    if path.exists():
        if not overwrite:
            raise BundleError(f"{path} already exists; choose another output or pass --force")
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    members = {**files, MANIFEST_FILE: canonical_json(manifest.to_json())}
    if path.suffix.lower() == ".zip":
        bundle_io.write_zip(path, members)
    else:
        bundle_io.write_members(path, members)
    return path


def write_validation(bundle: Bundle, record: ValidationRecord, extra_files: dict[str, bytes],
                     sign_key: Any = None) -> ValidationRecord:
    """Bind ``record`` to ``bundle``, sign it with ``sign_key`` (an Ed25519 private key, optional),
    seal it, and store it with ``extra_files`` (the report).

    Returns the record as written (bound, with its digest). The bundle's ``files`` are updated in place.
    """
    from twingym.policies import signing

    binding = Binding(policy_onnx_sha256=sha256_bytes(bundle.policy_bytes),
                      manifest_sha256=bundle.manifest_digest)
    bound = dataclasses.replace(record, binding=binding, files=file_digests(extra_files), signature=None)
    if sign_key is not None:
        body = {k: v for k, v in bound.to_json().items() if k != VALIDATION_DIGEST_KEY}
        signed = signing.sign_record(body, sign_key, canonical_json)
        bound = dataclasses.replace(bound, signature=signed[signing.SIGNATURE_KEY])
    sealed = bound.to_json()
    new = {**extra_files, VALIDATION_FILE: canonical_json(sealed)}
    if bundle.is_zip:
        bundle_io.write_zip(bundle.path, {**bundle.files, **new})
    else:
        bundle_io.write_members(bundle.path, new)
    bundle.files.update(new)
    return dataclasses.replace(bound, digest=sealed[VALIDATION_DIGEST_KEY])


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """In-memory zip of ``files`` (used by tests and tooling)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in sorted(files.items()):
            zf.writestr(name, data)
    return buf.getvalue()
