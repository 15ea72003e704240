"""The live twin's protocol, shared by the server (``twingym.live``) and the deploy client.

- Address space: every node is a string NodeId in the namespace :data:`NAMESPACE_URI`. Clients need
  only the twin-level node ids (:data:`TWIN_VARIABLES`); the per-asset node ids are listed, in
  observation and action order, by the string arrays ``twingym/ObservationNodes``,
  ``twingym/SetpointNodes``, ``twingym/AppliedNodes`` and ``twingym/BaselineNodes``
  (:func:`node_layout` derives them from the twin's labels).
- Labels: ``"asset/name [unit]"`` per observation or action component (:func:`label_text`).
- Snapshot consistency: the server writes ``Publishing = k`` first, then every value, then
  ``Step = k``; one Read of :func:`snapshot_node_ids` in that order is a consistent snapshot when
  ``Publishing == Step`` (:func:`is_consistent`, :meth:`Snapshot.from_values`).
- Space description: the JSON form of a twin's spaces (:func:`space_to_json`, as stored in a bundle
  manifest) and the flattened setpoint bounds it implies (:func:`space_bounds`).

Importing this module imports neither JAX nor anything of twingym that does (the deploy runtime
relies on it; a test checks ``sys.modules``): :func:`space_to_json` and :func:`space_from_json`
import ``twingym.envs.spaces`` only when called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from twingym.envs import spaces

NAMESPACE_URI = "urn:twingym:live"
ROOT = "twingym"

#: twin-level variables: name -> (OPC UA type name, writable by clients, description)
TWIN_VARIABLES: dict[str, tuple[str, bool, str]] = {
    "TwinId": ("String", False, "registered twin id"),
    "Scenario": ("String", False, "scenario name (a key of the twin's scenarios())"),
    "Seed": ("Int64", False, "PRNG seed of the twin"),
    "ServerId": ("String", False, "random id of this server run; changes when the server restarts"),
    "Status": ("String", False, "running | stopped"),
    "Step": ("Int64", False, "steps taken since the server started (written last in each update)"),
    "Publishing": ("Int64", False, "step being published (written first; equals Step when consistent)"),
    "SimTime": ("Double", False, "simulated time since the server started, s"),
    "Dt": ("Double", False, "simulated seconds per step, s"),
    "SpeedFactor": ("Double", False, "simulated seconds per wall-clock second"),
    "Episode": ("Int64", False, "episode index (0-based) of the current step"),
    "EpisodeStep": ("Int64", False, "step index inside the current episode"),
    "LastReward": ("Double", False, "reward of the last step"),
    "LastCost": ("Double", False, "constraint cost of the last step (>= 0)"),
    "EpisodeReturn": ("Double", False, "return of the running episode so far"),
    "LastEpisodeReturn": ("Double", False, "return of the last finished episode (NaN before)"),
    "TotalReward": ("Double", False, "sum of rewards since the server started"),
    "ControlMode": ("String", True, "remote (client setpoints) | local (the twin's baseline controller)"),
    "BaselineName": ("String", False, "baseline run in local mode ('' when the twin has none)"),
    "ActionKind": ("String", False, "box | discrete | multidiscrete"),
    "ActionLow": ("DoubleArray", False, "lower bound per setpoint, action order"),
    "ActionHigh": ("DoubleArray", False, "upper bound per setpoint, action order"),
    "ObservationNodes": ("StringArray", False, "measurement node ids, observation order"),
    "ObservationLabels": ("StringArray", False, "asset/name [unit] per observation component"),
    "SetpointNodes": ("StringArray", False, "setpoint node ids (client-written), action order"),
    "AppliedNodes": ("StringArray", False, "setpoints applied in the last step, action order"),
    "BaselineNodes": ("StringArray", False, "baseline suggestion for the next step, action order"),
    "ActionLabels": ("StringArray", False, "asset/name [unit] per action component"),
    "Faults": ("String", False, "injected faults active at the last step ('' when none)"),
    "Schematic": ("String", False, "JSON: static geometry for drawing the twin (TwinEnv.schematic; '{}' when none)"),
}


def twin_node(name: str) -> str:
    """String NodeId of a twin-level variable, e.g. ``twingym/Step``."""
    return f"{ROOT}/{name}"


def asset_node(asset: str, group: str | None = None, name: str | None = None) -> str:
    """String NodeId of an asset object, one of its groups, or a variable in a group."""
    parts = ["a", _safe(asset)] + ([group] if group else []) + ([_safe(name)] if name else [])
    return "/".join(parts)


def _safe(text: str) -> str:
    return text.replace("/", "_").strip() or "_"


#: twin-level variables a client reads once after connecting (the twin's self-description)
DESCRIPTION_VARS = ("TwinId", "Scenario", "ServerId", "Dt", "SpeedFactor", "ActionKind", "ActionLow",
                    "ActionHigh", "ObservationNodes", "ObservationLabels", "SetpointNodes",
                    "AppliedNodes", "BaselineNodes", "ActionLabels", "BaselineName")
#: twin-level variables read every poll, before the per-asset values (``Step`` is read last)
SNAPSHOT_VARS = ("Publishing", "SimTime", "Episode", "EpisodeStep", "LastReward", "LastCost",
                 "EpisodeReturn", "LastEpisodeReturn", "TotalReward", "ControlMode", "ServerId", "Faults")


def label_text(asset: str, name: str, unit: str) -> str:
    """The published label of one component: ``"asset/name [unit]"``."""
    return f"{asset}/{name} [{unit}]"


@dataclass(frozen=True)
class NodeLayout:
    """Per-asset node ids of a twin, in observation order (``measurements``) and action order."""

    measurements: list[str]
    setpoints: list[str]
    applied: list[str]
    baseline: list[str]


def node_layout(obs_labels: list[tuple[str, str, str]], act_labels: list[tuple[str, str, str]]) -> NodeLayout:
    """Node ids of the measurement, setpoint, applied and baseline variables of labelled components.

    ``obs_labels``/``act_labels`` hold ``(asset, name, unit)`` per component; a repeated name in one
    asset gets a ``_2``, ``_3``, ... suffix so every node id is unique.
    """
    measurements = _unique([asset_node(a, "Measurements", n) for a, n, _ in obs_labels])
    setpoints = _unique([asset_node(a, "Setpoints", n) for a, n, _ in act_labels])
    return NodeLayout(measurements=measurements, setpoints=setpoints,
                      applied=[s.replace("/Setpoints/", "/Applied/", 1) for s in setpoints],
                      baseline=[s.replace("/Setpoints/", "/Baseline/", 1) for s in setpoints])


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass
class TwinDescription:
    """What the live twin says about itself (read once per connection: :data:`DESCRIPTION_VARS`)."""

    twin_id: str
    scenario: str
    server_id: str
    dt: float
    speed: float
    action_kind: str
    action_low: list[float]
    action_high: list[float]
    observation_nodes: list[str]
    observation_labels: list[str]
    setpoint_nodes: list[str]
    applied_nodes: list[str]
    baseline_nodes: list[str]
    action_labels: list[str]
    baseline_name: str

    @property
    def period(self) -> float:
        """Wall seconds between two twin steps."""
        return self.dt / self.speed

    @classmethod
    def from_values(cls, values: list[Any]) -> TwinDescription:
        """Decode one Read of :data:`DESCRIPTION_VARS` (in that order)."""
        d = dict(zip(DESCRIPTION_VARS, values, strict=True))
        return cls(twin_id=d["TwinId"], scenario=d["Scenario"], server_id=d["ServerId"], dt=float(d["Dt"]),
                   speed=float(d["SpeedFactor"]), action_kind=d["ActionKind"], action_low=list(d["ActionLow"]),
                   action_high=list(d["ActionHigh"]), observation_nodes=list(d["ObservationNodes"]),
                   observation_labels=list(d["ObservationLabels"]), setpoint_nodes=list(d["SetpointNodes"]),
                   applied_nodes=list(d["AppliedNodes"]), baseline_nodes=list(d["BaselineNodes"]),
                   action_labels=list(d["ActionLabels"]), baseline_name=d["BaselineName"] or "")


def snapshot_node_ids(desc: TwinDescription) -> list[str]:
    """The node ids of one snapshot Read, in order: :data:`SNAPSHOT_VARS` (``Publishing`` first),
    measurements, applied setpoints, baseline suggestion, and ``Step`` last."""
    return ([twin_node(v) for v in SNAPSHOT_VARS] + desc.observation_nodes + desc.applied_nodes
            + desc.baseline_nodes + [twin_node("Step")])


def is_consistent(publishing: int, step: int) -> bool:
    """True when a Read saw no update in progress: the server writes ``Publishing`` first and ``Step``
    last, so they are equal only between two updates."""
    return int(publishing) == int(step)


@dataclass
class Snapshot:
    """One read of the live twin (``consistent`` False when an update was in progress)."""

    step: int
    consistent: bool
    sim_time: float
    episode: int
    episode_step: int
    last_reward: float
    last_cost: float
    episode_return: float
    last_episode_return: float
    total_reward: float
    mode: str
    server_id: str
    faults: str
    measurements: list[float] = field(default_factory=list)
    applied: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)

    @classmethod
    def from_values(cls, values: list[Any], n_obs: int, n_act: int) -> Snapshot:
        """Decode one Read of :func:`snapshot_node_ids` (``n_obs`` measurements, ``n_act`` setpoints)."""
        n_snap = len(SNAPSHOT_VARS)
        d = dict(zip(SNAPSHOT_VARS, values[:n_snap], strict=True))
        rest = values[n_snap:-1]
        step = int(values[-1])
        return cls(
            step=step, consistent=is_consistent(d["Publishing"], step), sim_time=_float(d["SimTime"]),
            episode=int(d["Episode"]), episode_step=int(d["EpisodeStep"]),
            last_reward=_float(d["LastReward"]), last_cost=_float(d["LastCost"]),
            episode_return=_float(d["EpisodeReturn"]), last_episode_return=_float(d["LastEpisodeReturn"]),
            total_reward=_float(d["TotalReward"]), mode=str(d["ControlMode"]), server_id=str(d["ServerId"]),
            faults=str(d["Faults"] or ""), measurements=[_float(v) for v in rest[:n_obs]],
            applied=[_float(v) for v in rest[n_obs:n_obs + n_act]],
            baseline=[_float(v) for v in rest[n_obs + n_act:]])


# ---- space description ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SpaceBounds:
    """Flattened bounds of a space: ``low``/``high`` float64 ``(n,)``; ``kind`` ``box``, ``discrete`` or
    ``multidiscrete``; ``shape`` the shape of one sample (``()`` for a Discrete)."""

    low: np.ndarray
    high: np.ndarray
    kind: str
    shape: tuple[int, ...]


def _floats(values: list) -> np.ndarray:
    return np.asarray([float(v) for v in values], dtype=np.float64)


def space_bounds(desc: dict[str, Any]) -> SpaceBounds:
    """:class:`SpaceBounds` of a JSON space description (see :func:`space_to_json`).

    Raises ``ValueError`` naming the type when it is none of Box, Discrete, MultiDiscrete.
    """
    kind = desc.get("type")
    if kind == "Box":
        return SpaceBounds(_floats(desc["low"]), _floats(desc["high"]), "box", tuple(desc["shape"]))
    if kind == "Discrete":
        return SpaceBounds(np.zeros(1), np.array([desc["n"] - 1.0]), "discrete", ())
    if kind == "MultiDiscrete":
        nvec = np.asarray(desc["nvec"], dtype=np.float64)
        return SpaceBounds(np.zeros_like(nvec), nvec - 1, "multidiscrete", (len(nvec),))
    raise ValueError(f"unsupported space type {kind!r}")


def space_to_json(space: spaces.Space) -> dict[str, Any]:
    """JSON description of a twingym space (non-finite bounds as the strings "inf"/"-inf")."""
    from twingym.envs import spaces

    from twingym.jsonlines import json_safe

    if isinstance(space, spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "dtype": np.dtype(space.dtype).name,
                "low": json_safe(space.low_array.ravel().tolist()),
                "high": json_safe(space.high_array.ravel().tolist())}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "dtype": np.dtype(space.dtype).name}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": list(space.nvec), "dtype": np.dtype(space.dtype).name}
    raise ValueError(f"unsupported space type {type(space).__name__}")


def space_from_json(data: dict[str, Any]) -> spaces.Space:
    """Inverse of :func:`space_to_json`."""
    from twingym.envs import spaces

    kind = data.get("type")
    if kind == "Box":
        shape = tuple(data["shape"])
        low, high = _floats(data["low"]).astype(np.float32), _floats(data["high"]).astype(np.float32)
        return spaces.Box(low.reshape(shape), high.reshape(shape), shape=shape,
                          dtype=np.dtype(data.get("dtype", "float32")))
    if kind == "Discrete":
        return spaces.Discrete(int(data["n"]))
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(tuple(data["nvec"]))
    raise ValueError(f"unknown space type {kind!r}")
