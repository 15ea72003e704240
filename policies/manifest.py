"""The bundle's two JSON records, typed: :class:`Manifest` (``manifest.json``) and :class:`ValidationRecord`
(``validation.json``), with their one serialisation.

Both are frozen dataclasses with one ``to_json`` (a sealed mapping: the record plus the sha256 of its
canonical form under :data:`DIGEST_KEY` / :data:`VALIDATION_DIGEST_KEY`) and one ``from_json``.
The format version lives here only (:data:`FORMAT_VERSION`). A record of an older version is
upgraded by the functions in :data:`MIGRATIONS` (version ``v`` -> ``v + 1``) before it is typed, so
changing the format is one edit of this module plus a migration; ``tests/policies/data/`` keeps a
bundle written by every version that must still open.

This module imports neither JAX nor torch (the deploy runtime reads manifests).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twingym.jsonlines import json_safe

FORMAT_VERSION = 1
DIGEST_KEY = "manifest_sha256"
VALIDATION_DIGEST_KEY = "validation_sha256"

#: ``MIGRATIONS[v](record)`` turns a version-``v`` manifest or validation mapping into version ``v + 1``
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class BundleError(ValueError):
    """A bundle that cannot be used: missing, corrupted, tampered, or not validated. One-line message."""


# ---- canonical JSON and seals ---------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """The one serialisation of bundle JSON files: sorted keys, indent 2, strict JSON, final newline."""
    return (json.dumps(json_safe(obj), sort_keys=True, indent=2, allow_nan=False, ensure_ascii=True)
            + "\n").encode("ascii")


def seal(record: dict, key: str) -> dict:
    """``record`` plus ``{key: sha256(canonical_json(record without key))}``."""
    body = {k: v for k, v in json_safe(record).items() if k != key}
    return {**body, key: sha256_bytes(canonical_json(body))}


def upgrade(data: dict[str, Any], what: str) -> dict[str, Any]:
    """``data`` migrated to :data:`FORMAT_VERSION`; :class:`BundleError` when no migration reaches it."""
    version = data.get("format_version")
    while version != FORMAT_VERSION and version in MIGRATIONS:
        data = MIGRATIONS[version](dict(data))
        version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"{what} has format version {version!r}; this twingym reads version {FORMAT_VERSION}")
    return data


def _typed(cls: type, data: dict[str, Any], what: str, **converted: Any) -> Any:
    """``cls(**data)`` over the dataclass fields of ``cls``, a one-line :class:`BundleError` otherwise."""
    names = {f.name for f in dataclasses.fields(cls)}
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    missing = sorted(required - set(data) - set(converted))
    if missing:
        raise BundleError(f"{what} lacks the field {missing[0]!r}")
    return cls(**{k: v for k, v in data.items() if k in names and k not in converted}, **converted)


# ---- manifest.json ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TwinRef:
    """The twin a policy acts on: registered ``id``, sha256 ``params_hash`` of its params (see
    :func:`twingym.policies.bundle.params_hash`) and the ``param_overrides`` given to ``make``."""

    id: str
    params_hash: str
    param_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says (see ``docs/bundle-format.md``).

    Attributes:
        twin: the twin and its params hash.
        observation_space, action_space: JSON space descriptions (:mod:`twingym.live.contract`).
        observation_labels, action_labels: ``[asset, name, unit]`` per flattened component.
        policy: the network's shape (``obs_dim``, ``layers``, ``action_transform``, ``obs_clip``, ...).
        backend, run_id, training_config: where the policy comes from.
        files: sha256 of every other bundle member (``policy.onnx`` at least).
        export_check: the backend-vs-ONNX agreement measured at export (``None`` when skipped).
        twingym_version: the twingym that wrote the bundle.
    """

    twin: TwinRef
    observation_space: dict[str, Any]
    action_space: dict[str, Any]
    observation_labels: list[list[str]]
    action_labels: list[list[str]]
    policy: dict[str, Any]
    backend: str
    run_id: str
    training_config: dict[str, Any]
    files: dict[str, str]
    export_check: dict[str, Any] | None = None
    twingym_version: str = ""
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        """The sealed mapping written as ``manifest.json`` (its canonical form is the file)."""
        return seal(dataclasses.asdict(self), DIGEST_KEY)

    @classmethod
    def from_json(cls, data: dict[str, Any], what: str = "manifest.json") -> Manifest:
        """The manifest of a (digest-checked) mapping; older format versions are migrated first."""
        data = upgrade(data, what)
        twin = data.get("twin")
        if not isinstance(twin, dict):
            raise BundleError(f"{what} has no twin section")
        return _typed(cls, data, what, twin=_typed(TwinRef, twin, f"{what} twin section"))


# ---- validation.json -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Binding:
    """sha256 of the exact ``policy.onnx`` and ``manifest.json`` bytes a validation was made for."""

    policy_onnx_sha256: str = ""
    manifest_sha256: str = ""


@dataclass(frozen=True)
class ValidationRecord:
    """What ``validation.json`` says (written by ``twingym validate``).

    Attributes:
        passed: every gate passed; gates: one mapping per gate (``name``, ``passed``, ``figure``, ``op``,
            ``threshold``, ``unit``, ``detail``, ``checks``), see :mod:`twingym.policies.gates`.
        failed_gates: names of the gates that did not pass.
        twin, params_hash: the twin validated on. suite, gates_config: what was run and demanded.
        scenarios: per scenario ``kind``, ``description``, ``horizon`` and per-controller statistics.
        kpis: the twin's KPIs in physical units (key, name, unit, direction; per-controller figures are
            in each scenario's ``controllers[...]["kpis"]``), see :mod:`twingym.policies.kpis`.
        step_seconds: simulated seconds per twin step (time axis of the report's episode plots).
        equivalence, fuzz, latency: the other evidence. fallback_baseline: the baseline that takes
            over flagged observations; reference_baseline: the twin's reference baseline (training
            compares with it); oracle_baselines: baselines that see what a real controller cannot
            (perfect foresight), run and reported as upper references, never gated.
        paired: the paired table, one row per scenario and baseline (``scenario``, ``baseline``,
            ``metric``, ``mean``, ``low``, ``high``, ``n``, ``oracle``, ``verdict``), policy minus
            baseline return with its 95 % interval (:class:`twingym.stats.Difference`).
        created, twingym_version, elapsed_s: when, by which twingym, in how many seconds.
        binding, files: the bundle members this record is bound to (set by ``write_validation``).
        signature: Ed25519 signature over the rest of the record (``algorithm``, ``key_id``,
            ``public_key``, ``value``; :mod:`twingym.policies.signing`), ``None`` when unsigned (and
            then left out of the file).
        digest: the record's own seal (``validation_sha256``), ``""`` before it is written.
    """

    passed: bool
    gates: list[dict[str, Any]]
    failed_gates: list[str] = field(default_factory=list)
    twin: str = ""
    params_hash: str = ""
    suite: dict[str, Any] = field(default_factory=dict)
    gates_config: dict[str, Any] = field(default_factory=dict)
    fallback_baseline: str | None = None
    reference_baseline: str | None = None
    oracle_baselines: list[str] = field(default_factory=list)
    paired: list[dict[str, Any]] = field(default_factory=list)
    scenarios: dict[str, Any] = field(default_factory=dict)
    kpis: list[dict[str, Any]] = field(default_factory=list)
    step_seconds: float = 1.0
    equivalence: list[dict[str, Any]] = field(default_factory=list)
    fuzz: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    twingym_version: str = ""
    elapsed_s: float = 0.0
    binding: Binding = field(default_factory=Binding)
    files: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    signature: dict[str, Any] | None = None
    digest: str = ""

    def gates_not_passed(self) -> list[str]:
        """Names of the gates that did not pass, recomputed from :attr:`gates` (not trusted)."""
        return [g.get("name", "?") for g in self.gates if g.get("passed") is not True]

    def to_json(self) -> dict[str, Any]:
        """The sealed mapping written as ``validation.json``."""
        body = {k: v for k, v in dataclasses.asdict(self).items()
                if k != "digest" and not (k == "signature" and v is None)}
        return seal(body, VALIDATION_DIGEST_KEY)

    @classmethod
    def from_json(cls, data: dict[str, Any], what: str = "validation.json") -> ValidationRecord:
        """The record of a (digest-checked) mapping; older format versions are migrated first."""
        data = upgrade(data, what)
        if not isinstance(data.get("gates", []), list):
            raise BundleError(f"{what} has no list of gates")
        binding = data.get("binding") or {}
        return _typed(cls, {k: v for k, v in data.items() if k != "digest"}, what,
                      binding=_typed(Binding, binding if isinstance(binding, dict) else {}, f"{what} binding"),
                      digest=str(data.get(VALIDATION_DIGEST_KEY, "")))


__all__ = ["DIGEST_KEY", "FORMAT_VERSION", "MIGRATIONS", "VALIDATION_DIGEST_KEY", "Binding", "BundleError",
           "Manifest", "TwinRef", "ValidationRecord", "canonical_json", "seal", "sha256_bytes", "upgrade"]
