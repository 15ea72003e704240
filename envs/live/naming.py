"""The live twin's address-space contract: namespace URI and node ids.

Every node is a string NodeId in the namespace :data:`NAMESPACE_URI`. Clients need only the twin-level
node ids below; the per-asset node ids are listed, in observation and action order, by the string
arrays ``twingym/ObservationNodes``, ``twingym/SetpointNodes``, ``twingym/AppliedNodes`` and
``twingym/BaselineNodes``. The deploy runtime keeps its own copy of these strings (it must not
import JAX, which ``twingym.envs`` does); a test checks both copies agree.
"""

from __future__ import annotations

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
