"""Twin registry: ``register``, ``make``, ``registered``, and the gymnasium registration.

Ids are versioned, ``Name-vN``. Entry points are ``"module:Class"`` strings imported on first
``make`` (so listing twins never imports JAX-heavy twin modules). Every twin is also registered in
gymnasium's registry as ``twingym/<Id>`` with an ``entry_point`` (single env) and a
``vector_entry_point`` (the batched env that steps all copies in one jitted call), the episode
length as ``max_episode_steps`` (the twin's default ``max_steps``; ``gymnasium.make`` then adds its
``TimeLimit`` at the same step the twin truncates, and ``make_vec`` passes it on as ``max_steps``),
and gymnasium's passive env checker enabled.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any

import gymnasium
from twingym.envs.core import TwinEnv

ID_PATTERN = re.compile(r"^[A-Z][A-Za-z0-9]*-v\d+$")
GYM_NAMESPACE = "twingym"


@dataclass(frozen=True)
class TwinSpec:
    """Registry entry: ``id`` (``Name-vN``), ``entry_point`` (``"module:Class"``), constructor
    kwargs, default param overrides, a one-line description, and the episode length in steps
    (``max_episode_steps``, the default params' ``max_steps``; None when the twin has none)."""

    id: str
    entry_point: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    param_overrides: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    max_episode_steps: int | None = None


_REGISTRY: dict[str, TwinSpec] = {}


class UnknownTwinError(KeyError):
    """Raised by ``make`` for an id that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it one clean line
        return str(self.args[0])


def register(id: str, entry_point: str, *, kwargs: dict[str, Any] | None = None,
             param_overrides: dict[str, Any] | None = None, description: str = "",
             max_episode_steps: int | None = None, gymnasium_register: bool = True) -> TwinSpec:
    """Register a twin under ``id``; raises ``ValueError`` on a malformed or duplicate id.

    ``max_episode_steps`` is the twin's default episode length (its params' ``max_steps``), given
    here so that registering and listing twins never imports the twin module; the env test kit
    checks that the two agree.
    """
    if not ID_PATTERN.match(id):
        raise ValueError(f"twin id {id!r} must look like 'Name-vN' (e.g. 'WindFarm-v0')")
    if id in _REGISTRY:
        raise ValueError(f"twin id {id!r} is already registered (entry point "
                         f"{_REGISTRY[id].entry_point}); bump the version instead of overwriting")
    if ":" not in entry_point:
        raise ValueError(f"entry point {entry_point!r} must be 'module:Class'")
    if max_episode_steps is not None and int(max_episode_steps) < 1:
        raise ValueError(f"max_episode_steps of {id!r} must be >= 1, got {max_episode_steps}")
    spec = TwinSpec(id, entry_point, dict(kwargs or {}), dict(param_overrides or {}), description,
                    None if max_episode_steps is None else int(max_episode_steps))
    _REGISTRY[id] = spec
    if gymnasium_register:
        _register_in_gymnasium(spec)
    return spec


def registered() -> dict[str, TwinSpec]:
    """All registered twins, by id (a copy)."""
    return dict(_REGISTRY)


def spec(id: str) -> TwinSpec:
    """The registry entry of ``id``; raises :class:`UnknownTwinError` naming the known ids."""
    try:
        return _REGISTRY[id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownTwinError(f"unknown twin {id!r}; registered twins: {known}") from None


def load_class(entry_point: str) -> type[TwinEnv]:
    module_name, _, attr = entry_point.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def make(id: str, **param_overrides: Any) -> tuple[TwinEnv, Any]:
    """Build the twin ``id`` and its params with ``param_overrides`` applied.

    Returns ``(env, params)``. An unknown id raises :class:`UnknownTwinError`; an unknown override
    raises ``ValueError`` naming the valid parameter names.
    """
    entry = spec(id)
    env = load_class(entry.entry_point)(**entry.kwargs)
    env.id = id
    overrides = {**entry.param_overrides, **param_overrides}
    params = env.make_params(**overrides)
    return env, params


def portable_spec(id: str) -> dict[str, Any]:
    """What another process (a Ray worker, an RLlib env runner) needs to register ``id`` as it is here:
    the registry entry and this process's ``sys.path`` (where the entry point's module is found)."""
    import sys

    entry = spec(id)
    return {"id": entry.id, "entry_point": entry.entry_point, "kwargs": dict(entry.kwargs),
            "param_overrides": dict(entry.param_overrides), "description": entry.description,
            "sys_path": list(sys.path)}


def register_portable(data: dict[str, Any]) -> None:
    """Register a twin described by :func:`portable_spec` in this process (nothing when it already is).

    Missing ``sys_path`` entries are appended, so the entry point's module imports as it did there.
    """
    import sys

    if data["id"] in _REGISTRY:
        return
    for path in data.get("sys_path", []):
        if path not in sys.path:
            sys.path.append(path)
    register(data["id"], data["entry_point"], kwargs=data.get("kwargs"), param_overrides=data.get("param_overrides"),
             description=data.get("description", ""))


def _register_in_gymnasium(entry: TwinSpec) -> None:
    gym_id = f"{GYM_NAMESPACE}/{entry.id}"
    if gym_id in gymnasium.registry:
        return
    gymnasium.register(
        id=gym_id,
        entry_point="twingym.envs.adapters:make_gymnasium_env",
        vector_entry_point="twingym.envs.adapters:make_vector_env",
        kwargs={"twin_id": entry.id},
        max_episode_steps=entry.max_episode_steps,
        disable_env_checker=False,
    )
