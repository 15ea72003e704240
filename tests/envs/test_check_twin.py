"""``check_twin`` and ``twingym envs check`` on a twin from outside the repository.

A temporary package (on ``sys.path`` for the test only) holds a room-heating twin; it is registered
as a researcher's own package would, checked by id and from the CLI as ``MODULE:CLASS``, and a
variant whose observations leave their space is caught by name.
"""

from __future__ import annotations

import sys
import textwrap

import pytest
import twingym.envs as twin_envs
from twingym.envs import TwinCheckError, check_twin

from twingym.cli import app
from twingym.cli.errors import run_guarded

ROOM = textwrap.dedent('''
    """A room heated by a radiator: temperature T (degC), heater power in [0, 1] of 2 kW."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import struct
    from twingym.envs import spaces
    from twingym.envs.core import Baseline, Label, TwinEnv


    @struct.dataclass
    class RoomState:
        temperature: jax.Array   # degC
        time: jax.Array          # steps


    @struct.dataclass
    class RoomParams:
        heat_gain: float = 0.5       # degC per step at full power
        loss_rate: float = 0.05      # 1/step, towards the outside temperature
        outside: float = 5.0         # degC
        target: float = 20.0         # degC
        max_steps: int = struct.field(pytree_node=False, default=50)


    class Room(TwinEnv):
        """Observation (2,): temperature (degC, 0..40), time/max_steps (1). Action (1,): heater power."""

        reference_baseline = "thermostat"
        high = 40.0

        def default_params(self):
            return RoomParams()

        def _obs(self, state, params):
            return jnp.stack([jnp.clip(state.temperature, 0.0, 40.0),
                              state.time / params.max_steps]).astype(jnp.float32)

        def reset_env(self, key, params):
            state = RoomState(jax.random.uniform(key, (), minval=10.0, maxval=25.0), jnp.int32(0))
            return self._obs(state, params), state

        def step_env(self, key, state, action, params):
            power = jnp.clip(jnp.reshape(action, ()), 0.0, 1.0)
            noise = 0.1 * jax.random.normal(key)
            t = (state.temperature + params.heat_gain * power
                 - params.loss_rate * (state.temperature - params.outside) + noise)
            new = RoomState(t, state.time + 1)
            reward = -jnp.abs(t - params.target) - 0.1 * power
            cost = jnp.maximum(t - 30.0, 0.0)
            return (self._obs(new, params), new, reward.astype(jnp.float32), jnp.bool_(False),
                    new.time >= params.max_steps, {"cost": cost.astype(jnp.float32)})

        def observation_space(self, params):
            return spaces.Box(low=np.array([0.0, 0.0]), high=np.array([self.high, 1.0]))

        def action_space(self, params):
            return spaces.Box(low=0.0, high=1.0, shape=(1,))

        def observation_labels(self, params):
            return [Label("room", "temperature", "degC"), Label("twin", "episode_progress", "1")]

        def action_labels(self, params):
            return [Label("heater", "power", "1")]

        def baselines(self):
            def act(carry, obs, params):
                return jnp.where(obs[0] < params.target, 1.0, 0.0).reshape(1), carry
            return {"thermostat": Baseline("thermostat", lambda params: (), act)}

        def scenarios(self):
            return {"nominal": {}, "cold": {"outside": -10.0}}


    class LeakyRoom(Room):
        """Claims temperatures up to 15 degC only: its observations leave the space."""

        high = 15.0
''')


@pytest.fixture
def room_package(tmp_path, monkeypatch):
    package = tmp_path / "mytwins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "room.py").write_text(ROOM)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in [m for m in sys.modules if m == "mytwins" or m.startswith("mytwins.")]:
        del sys.modules[name]


def test_check_twin_passes_an_out_of_tree_twin_and_names_what_a_broken_one_gets_wrong(room_package):
    if "Room-v0" not in twin_envs.registered():
        twin_envs.register("Room-v0", "mytwins.room:Room", description="room heating (out of tree)")
    results = check_twin("Room-v0", rollout_steps=200)
    assert [r.name for r in results] == list(twin_envs.check.CHECKS)
    assert all(r.status == "passed" for r in results if r.name != "render_rgb"), results
    assert next(r for r in results if r.name == "render_rgb").status == "skipped"

    from mytwins.room import LeakyRoom

    with pytest.raises(TwinCheckError) as err:
        check_twin(LeakyRoom(), rollout_steps=200, checks=["random_steps_in_bounds", "labels_cover_components"])
    failed = [r.name for r in err.value.results if r.status == "failed"]
    assert failed == ["random_steps_in_bounds"] and "observation outside space" in str(err.value)


def test_envs_check_cli_runs_the_kit_on_module_class(room_package, capsys):
    assert run_guarded(app, ["envs", "check", "mytwins.room:Room", "--steps", "50",
                             "--only", "random_steps_in_bounds", "--only", "baselines_in_action_space"]) in (0, None)
    assert "random_steps_in_bounds" in capsys.readouterr().out
    assert run_guarded(app, ["envs", "check", "mytwins.room:LeakyRoom", "--steps", "50",
                             "--only", "random_steps_in_bounds"]) == 1
    assert "1 check(s) failed: random_steps_in_bounds" in capsys.readouterr().err
    assert run_guarded(app, ["envs", "check", "mytwins.room:Nope"]) == 2
    assert "cannot import mytwins.room:Nope" in capsys.readouterr().err
