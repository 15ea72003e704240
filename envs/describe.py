"""What a twin offers, for people: spaces, component labels, parameters with units, scenarios,
baselines (``twingym envs info ID``).

Parameter units and meanings come from the trailing comment of each field in the twin's params
class (``yaw_rate: float = 0.3  # deg/s``), the convention every twin's params class follows; a field
without a comment shows ``-``.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass
from typing import Any

import numpy as np
from twingym.envs.core import Label, TwinEnv

_FIELD = re.compile(r"^(?P<indent>\s+)(?P<name>[A-Za-z_]\w*)\s*:(?!=)")


@dataclass(frozen=True)
class ParamInfo:
    """One parameter: ``name``, its default ``value`` as text, and ``doc`` (unit and meaning)."""

    name: str
    value: str
    doc: str


@dataclass(frozen=True)
class ComponentInfo:
    """One flattened observation or action component with its bounds (``low``/``high``, may be inf)."""

    index: int
    label: Label
    low: float
    high: float


@dataclass(frozen=True)
class TwinInfo:
    """Everything :func:`describe` finds out about a twin."""

    twin_id: str
    description: str
    summary: str
    observation: list[ComponentInfo]
    action: list[ComponentInfo]
    params: list[ParamInfo]
    scenarios: dict[str, dict[str, Any]]
    baselines: list[str]
    reference_baseline: str | None


def field_comments(cls: type) -> dict[str, str]:
    """``{field: trailing comment}`` of the annotated fields in ``cls`` and its bases (own first)."""
    out: dict[str, str] = {}
    for klass in cls.__mro__:
        if klass is object:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        comments: dict[int, str] = {}
        try:
            for tok in tokenize.generate_tokens(io.StringIO(source).readline):
                if tok.type == tokenize.COMMENT:
                    comments[tok.start[0]] = tok.string.lstrip("#").strip()
        except (tokenize.TokenError, IndentationError):
            continue
        body_indent = None
        for number, line in enumerate(source.splitlines(), start=1):
            match = _FIELD.match(line)
            if not match:
                continue
            body_indent = body_indent or match["indent"]
            if match["indent"] == body_indent and match["name"] not in out and number in comments:
                out[match["name"]] = comments[number]
    return out


def _value_text(value: Any) -> str:
    if isinstance(value, bool | int | float | str) or value is None:
        return f"{value:g}" if isinstance(value, float) else str(value)
    try:
        arr = np.asarray(value)
    except Exception:
        return type(value).__name__
    if arr.dtype == object:
        return type(value).__name__
    if arr.size <= 6:
        return np.array2string(arr.ravel() if arr.ndim > 1 else arr, precision=4, separator=", ")
    return f"array{tuple(arr.shape)} {arr.dtype}, {np.nanmin(arr):.4g}..{np.nanmax(arr):.4g}"


def _components(labels: list[Label], space: Any) -> list[ComponentInfo]:
    n = len(labels)
    if hasattr(space, "low_array"):  # Box
        low, high = (np.broadcast_to(np.asarray(b, np.float64).ravel(), (n,))
                     for b in (space.low_array, space.high_array))
    else:  # Discrete / MultiDiscrete: 0 .. n - 1
        low, high = np.zeros(n), _discrete_high(space, n)
    return [ComponentInfo(i, lab, float(low[i]), float(high[i])) for i, lab in enumerate(labels)]


def _discrete_high(space: Any, n: int) -> np.ndarray:
    if hasattr(space, "nvec"):
        return np.asarray(space.nvec, np.float64).ravel() - 1
    if hasattr(space, "n"):
        return np.full(n, float(space.n) - 1)
    return np.full(n, np.inf)


def describe(env: TwinEnv, params: Any, twin_id: str, description: str = "") -> TwinInfo:
    """The spaces, labels, parameters, scenarios and baselines of ``env`` under ``params``."""
    docs = field_comments(type(params))
    for name in list(docs):  # the upper end of a documented range: "ws_high" shares "ws_low"'s unit
        for low_end, high_end in (("_low", "_high"), ("_min", "_max")):
            if name.endswith(low_end):
                docs.setdefault(name[: -len(low_end)] + high_end, f"upper end of {name}: {docs[name]}")
    fields = dataclasses.fields(params) if dataclasses.is_dataclass(params) else []
    param_rows = [ParamInfo(f.name, _value_text(getattr(params, f.name)), docs.get(f.name, "-")) for f in fields]
    summary = (inspect.getdoc(type(env)) or "").split("\n\n")[0].replace("\n", " ")
    return TwinInfo(
        twin_id=twin_id, description=description, summary=summary,
        observation=_components(env.observation_labels(params), env.observation_space(params)),
        action=_components(env.action_labels(params), env.action_space(params)),
        params=param_rows, scenarios=env.scenarios(), baselines=list(env.baselines()),
        reference_baseline=getattr(env, "reference_baseline", None))
