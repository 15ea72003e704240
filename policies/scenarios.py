"""Validation scenarios and suites: what a policy is tested on, as data that round-trips through YAML.

A :class:`Suite` is one twin's list of :class:`Scenario` plus how many episodes to run, the longest
horizon, the seed and which baselines to compare with. :func:`default_suite` builds it from the twin:

- ``nominal``: the twin's default parameters (``env.scenarios()["nominal"]``);
- every other entry of ``env.scenarios()`` (gusts, outages, breakdowns, parameter shifts ...), kind
  ``twin``;
- ``sensor_noise_x3``: every ``*noise*`` parameter of the twin multiplied by 3 (kind ``noise``; a twin
  without one gets policy-side Gaussian noise of 3 % of each observation's range instead);
- ``sensor_dropout``: policy-side corruption of observations (kind ``dropout``): each component of
  each step becomes NaN/+inf/-inf with ``nonfinite_prob`` and starts a stale spell (value frozen for
  ``stale_steps`` steps) with ``stale_prob``; everything then passes through
  :mod:`twingym.policies.sanitize` exactly as in deployment.

YAML form (``twingym validate --save-suite FILE`` writes the resolved default)::

    twin: WindFarm-v0
    episodes: 32
    max_horizon: 200
    seed: 0
    baselines: all              # or a list of baseline names
    scenarios:
      nominal: {kind: nominal}
      sensor_noise_x3: {kind: noise, scale_params: {noise_std: 3.0}}
      sensor_dropout: {kind: dropout, corruption: {nonfinite_prob: 0.02, stale_prob: 0.02, stale_steps: 5}}
      high_turbulence: {kind: twin, params: {turbulence: 0.2}}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

KINDS = ("nominal", "noise", "dropout", "twin")
DEFAULT_EPISODES = 32
DEFAULT_MAX_HORIZON = 200
NOISE_FACTOR = 3.0


class SuiteError(ValueError):
    """A malformed suite file (one line naming the problem)."""


@dataclass
class Corruption:
    """Policy-side observation corruption, per component per step (probabilities in [0, 1]).

    ``noise_std_frac`` adds Gaussian noise with std = that fraction of the component's finite range.
    """

    nonfinite_prob: float = 0.0
    stale_prob: float = 0.0
    stale_steps: int = 0
    noise_std_frac: float = 0.0

    @property
    def active(self) -> bool:
        return self.nonfinite_prob > 0 or (self.stale_prob > 0 and self.stale_steps > 0) or self.noise_std_frac > 0


@dataclass
class Scenario:
    """One scenario: param overrides (``params``), multiplicative param scales (``scale_params``),
    policy-side corruption, and a ``kind`` (nominal | noise | dropout | twin) used by the gates."""

    name: str
    kind: str = "twin"
    params: dict[str, Any] = field(default_factory=dict)
    scale_params: dict[str, float] = field(default_factory=dict)
    corruption: Corruption = field(default_factory=Corruption)
    description: str = ""


@dataclass
class Suite:
    twin: str
    scenarios: list[Scenario]
    episodes: int = DEFAULT_EPISODES
    max_horizon: int = DEFAULT_MAX_HORIZON
    seed: int = 0
    baselines: list[str] | None = None  # None = all of the twin's baselines

    def scenario(self, name: str) -> Scenario:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise SuiteError(f"suite has no scenario {name!r}")

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"twin": self.twin, "episodes": self.episodes, "max_horizon": self.max_horizon,
                               "seed": self.seed, "baselines": "all" if self.baselines is None else list(self.baselines),
                               "scenarios": {}}
        for s in self.scenarios:
            entry: dict[str, Any] = {"kind": s.kind}
            if s.params:
                entry["params"] = _plain(s.params)
            if s.scale_params:
                entry["scale_params"] = _plain(s.scale_params)
            if s.corruption.active:
                entry["corruption"] = {k: v for k, v in dataclasses.asdict(s.corruption).items() if v}
            if s.description:
                entry["description"] = s.description
            out["scenarios"][s.name] = entry
        return out


def _plain(obj: Any) -> Any:
    """YAML-safe copy (arrays -> lists, numpy scalars -> python)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if hasattr(obj, "__array__"):
        arr = np.asarray(obj)
        return arr.item() if arr.ndim == 0 else arr.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def noise_param_names(params: Any) -> list[str]:
    """Names of the twin's sensor-noise parameters to scale: a global multiplier when the twin has one
    (a field named ``sensor_noise`` or ending in ``noise_scale``/``noise_factor``), else every positive
    numeric field whose name contains "noise" (scaling both would compound the factor)."""
    names = []
    for f in dataclasses.fields(params) if dataclasses.is_dataclass(params) else []:
        value = getattr(params, f.name)
        if "noise" in f.name.lower() and not isinstance(value, bool | str):
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                continue
            if arr.size and np.all(np.isfinite(arr)) and np.any(arr > 0):
                names.append(f.name)
    multipliers = [n for n in names if n == "sensor_noise" or n.endswith(("noise_scale", "noise_factor"))]
    return multipliers or names


DEFAULT_DROPOUT = Corruption(nonfinite_prob=0.02, stale_prob=0.02, stale_steps=5)


def default_suite(env: Any, params: Any, twin_id: str) -> Suite:
    """The default suite of a twin (see the module docstring)."""
    twin_scenarios = dict(env.scenarios() or {})
    nominal_overrides = twin_scenarios.pop("nominal", {}) or {}
    scenarios = [Scenario("nominal", "nominal", params=dict(nominal_overrides),
                          description="the twin's default scenario")]
    noise = noise_param_names(params)
    if "sensor_noise_x3" in twin_scenarios:  # the twin defines its own; it is used as the noise scenario
        pass
    elif noise:
        scenarios.append(Scenario("sensor_noise_x3", "noise", scale_params={n: NOISE_FACTOR for n in noise},
                                  description=f"sensor noise x{NOISE_FACTOR:g} ({', '.join(noise)})"))
    else:
        scenarios.append(Scenario("sensor_noise_x3", "noise", corruption=Corruption(noise_std_frac=0.03),
                                  description="policy-side Gaussian noise, 3% of each observation's range "
                                              "(the twin has no noise parameter)"))
    scenarios.append(Scenario("sensor_dropout", "dropout", corruption=dataclasses.replace(DEFAULT_DROPOUT),
                              description="NaN/inf readings and stale (frozen) readings on the policy side"))
    for name, overrides in twin_scenarios.items():
        kind = "noise" if "noise" in name else "dropout" if "dropout" in name else "twin"
        scenarios.append(Scenario(name, kind, params=dict(overrides or {}), description=f"{kind} scenario of the twin"))
    return Suite(twin=twin_id, scenarios=scenarios)


_TOP_KEYS = {"twin", "episodes", "max_horizon", "seed", "baselines", "scenarios"}
_SCENARIO_KEYS = {"kind", "params", "scale_params", "corruption", "description"}


def suite_from_dict(data: Any, where: str = "suite") -> Suite:
    """Parse a suite mapping; raises :class:`SuiteError` naming the offending key."""
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: expected a mapping at the top level")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise SuiteError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(_TOP_KEYS))}")
    if not isinstance(data.get("twin"), str):
        raise SuiteError(f"{where}: 'twin' must name a twin id")
    raw = data.get("scenarios")
    if not isinstance(raw, dict) or not raw:
        raise SuiteError(f"{where}: 'scenarios' must be a non-empty mapping of name -> scenario")
    scenarios = []
    for name, entry in raw.items():
        entry = entry or {}
        if not isinstance(entry, dict):
            raise SuiteError(f"{where}: scenario {name!r} must be a mapping")
        bad = sorted(set(entry) - _SCENARIO_KEYS)
        if bad:
            raise SuiteError(f"{where}: scenario {name!r} has unknown key {bad[0]!r}; valid: "
                             f"{', '.join(sorted(_SCENARIO_KEYS))}")
        kind = entry.get("kind", "nominal" if name == "nominal" else "twin")
        if kind not in KINDS:
            raise SuiteError(f"{where}: scenario {name!r} has kind {kind!r}; expected one of {', '.join(KINDS)}")
        corr = entry.get("corruption") or {}
        valid_corr = {f.name for f in dataclasses.fields(Corruption)}
        if not isinstance(corr, dict) or set(corr) - valid_corr:
            raise SuiteError(f"{where}: scenario {name!r} corruption keys must be among {', '.join(sorted(valid_corr))}")
        try:
            corruption = Corruption(**{k: type(getattr(Corruption(), k))(v) for k, v in corr.items()})
        except (TypeError, ValueError):
            raise SuiteError(f"{where}: scenario {name!r} corruption values must be numbers") from None
        for k in ("nonfinite_prob", "stale_prob"):
            if not 0.0 <= getattr(corruption, k) <= 1.0:
                raise SuiteError(f"{where}: scenario {name!r} corruption.{k} must lie in [0, 1]")
        params = entry.get("params") or {}
        scales = entry.get("scale_params") or {}
        if not isinstance(params, dict) or not isinstance(scales, dict):
            raise SuiteError(f"{where}: scenario {name!r} params and scale_params must be mappings")
        scenarios.append(Scenario(str(name), kind, dict(params), {k: float(v) for k, v in scales.items()},
                                  corruption, str(entry.get("description", ""))))
    if not any(s.kind == "nominal" for s in scenarios):
        raise SuiteError(f"{where}: a suite needs a scenario of kind 'nominal'")
    baselines = data.get("baselines", "all")
    if baselines == "all" or baselines is None:
        baselines = None
    elif not (isinstance(baselines, list) and all(isinstance(b, str) for b in baselines)):
        raise SuiteError(f"{where}: 'baselines' must be 'all' or a list of names")
    out = Suite(twin=data["twin"], scenarios=scenarios, baselines=baselines)
    for key in ("episodes", "max_horizon", "seed"):
        if key in data:
            value = data[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "seed" else 1):
                raise SuiteError(f"{where}: {key!r} must be a {'non-negative' if key == 'seed' else 'positive'} integer")
            setattr(out, key, value)
    return out


def load_suite(path: str | Path) -> Suite:
    """Read a suite YAML file (``FileNotFoundError`` / :class:`SuiteError` with one clear line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"suite file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SuiteError(f"suite file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return suite_from_dict(data, where=f"suite file {path}")


def save_suite(suite: Suite, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(suite.to_dict(), sort_keys=False))


def scenario_params(env: Any, base_overrides: dict, scenario: Scenario) -> Any:
    """Params of ``scenario``: ``make_params(base + scenario.params)`` then ``scale_params`` applied."""
    params = env.make_params(**{**base_overrides, **scenario.params})
    if scenario.scale_params:
        scaled = {}
        for name, factor in scenario.scale_params.items():
            if not hasattr(params, name):
                raise SuiteError(f"scenario {scenario.name!r} scales unknown parameter {name!r}")
            current = getattr(params, name)
            scaled[name] = np.asarray(current) * factor if hasattr(current, "__array__") else current * factor
        params = env.replace_params(params, **scaled)
    return params
