"""Structural loads of WindTurbine-v0: rainflow counting (the ``rainflow`` package) against the
ASTM E1049 worked example, damage-equivalent loads against their closed form, the twin's load
signals, and the per-episode energy and DEL figures of a validation run."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from twingym.agents.policy_spec import DenseLayer, PolicySpec
from twingym.envs.wind_turbine.loads import shaft_torque, tower_base_moment
from twingym.policies.kpis import (
    DEL_EQUIVALENT_HZ,
    KPIS,
    damage_equivalent_load,
    kpis_for,
    load_cycles,
)
from twingym.policies.onnx_export import export_bytes
from twingym.policies.runtime import OnnxPolicy
from twingym.policies.scenarios import Corruption
from twingym.policies.validate import POLICY, Engine


def test_rainflow_matches_the_astm_e1049_example() -> None:
    # ASTM E1049-85 (2017), section 5.4.4 / Fig. 6: ranges 3 (0.5), 4 (1.5), 6 (0.5), 8 (1.0), 9 (0.5)
    ranges, counts = load_cycles(np.array([-2, 1, -3, 5, -1, 3, -4, 4, -2.0]))
    got = {float(r): float(counts[ranges == r].sum()) for r in np.unique(ranges)}
    assert got == {3.0: 0.5, 4.0: 1.5, 6.0: 0.5, 8.0: 1.0, 9.0: 0.5}


@pytest.mark.parametrize("m", [3.0, 4.0, 10.0])
def test_del_of_a_pure_sine_is_its_range(m: float) -> None:
    """k whole periods of a sine of amplitude A (sampled from a crest) are k cycles of range 2A, so
    with one equivalent cycle per period DEL = 2A for any Wöhler exponent, and with N_eq = 3k
    cycles DEL = 2A (1/3)^(1/m)."""
    amplitude, periods, per_period = 2.5, 12, 40
    t = np.arange(periods * per_period + 1) / per_period
    load = 7.0 + amplitude * np.sin(2 * np.pi * t + np.pi / 2)
    assert damage_equivalent_load(load, m, periods) == pytest.approx(2 * amplitude, rel=1e-12)
    assert damage_equivalent_load(load, m, 3 * periods) == pytest.approx(2 * amplitude * (1 / 3) ** (1 / m),
                                                                         rel=1e-12)
    assert damage_equivalent_load(np.full(50, 2.0), m, 50.0) == 0.0


def test_turbine_kpis_use_1_hz_and_the_steel_exponent() -> None:
    """The tower and shaft DELs of an episode are the DEL of their series at one equivalent cycle
    per simulated second (0.2 s steps) with m = 4."""
    import twingym.envs as tg

    _, params = tg.make("WindTurbine-v0")
    keys = [k.key for k in KPIS["WindTurbine-v0"]]
    assert keys == ["energy_mwh", "tower_base_del_knm", "shaft_torque_del_knm"]
    steps = 601                                   # 12 periods of a 0.1 Hz cosine, crest to crest
    series = 1e3 + 40.0 * np.cos(2 * np.pi * 0.1 * np.arange(steps) * float(params.dt))
    n_eq = steps * float(params.dt) * DEL_EQUIVALENT_HZ                 # 120.2 s -> 120.2 cycles
    for kpi in kpis_for("WindTurbine-v0")[1:]:
        assert kpi.episode(series, params) == pytest.approx(damage_equivalent_load(series, 4.0, n_eq))
        assert kpi.episode(series, params) == pytest.approx(80.0 * (12 / n_eq) ** 0.25, rel=1e-9)


def test_load_signals_at_a_steady_operating_point(env, params) -> None:
    """At a steady point the shaft torque equals the aerodynamic torque and the generator torque
    through the gearbox; the tower-base moment is the thrust at hub height."""
    assert 0.0 < float(params.generator_inertia) / float(params.inertia) < 0.2   # NREL 5-MW: 11.5 %
    q = jnp.float32(4.0e6)
    assert float(shaft_torque(q, q / params.gearbox_ratio, params)) == pytest.approx(4.0e6, rel=1e-6)
    # away from balance the shaft carries the inertia-weighted mix, between the two torques
    mix = float(shaft_torque(q, 0.5 * q / params.gearbox_ratio, params))
    assert 2.0e6 < mix < 4.0e6
    assert float(tower_base_moment(jnp.float32(5e5), params)) == pytest.approx(5e5 * 90.0)
    _, state = jax.jit(env.reset)(jax.random.PRNGKey(0), params)
    info = jax.jit(env.step)(jax.random.PRNGKey(1), state, jnp.zeros(2), params)[5]
    assert float(info["tower_base_moment"]) == pytest.approx(float(info["thrust"]) * 90.0, rel=1e-6)


def _zero_policy(obs_dim: int) -> OnnxPolicy:
    """An ONNX policy whose action is always zero: the reference controller in residual mode."""
    layer = DenseLayer(np.zeros((obs_dim, 2), np.float32), np.zeros(2, np.float32))
    spec = PolicySpec(obs_dim=obs_dim, obs_mean=np.zeros(obs_dim, np.float32), obs_var=np.ones(obs_dim, np.float32),
                      layers=[layer], action_transform="clip", action_low=-np.ones(2, np.float32),
                      action_high=np.ones(2, np.float32), obs_epsilon=0.0)
    return OnnxPolicy(export_bytes(spec), action_shape=(2,))


def test_validation_records_energy_and_dels_per_episode() -> None:
    """A validation run records energy and both DELs per episode for every controller; a zero
    residual is the reference controller, so its figures equal the reference's episode by episode."""
    import twingym.envs as tg

    env, params = tg.make("WindTurbine-v0", action_mode="residual")
    engine = Engine(env, params, _zero_policy(8), env.baselines(), kpis_for("WindTurbine-v0"))
    runs, _ = engine.run(params, episodes=3, horizon=150, seed=5, corruption=Corruption())
    policy, reference = runs[POLICY], runs[env.reference_baseline]
    for key in ("energy_mwh", "tower_base_del_knm", "shaft_torque_del_knm"):
        assert policy.kpis[key].shape == (3,)
        np.testing.assert_allclose(policy.kpis[key], reference.kpis[key], rtol=1e-6)
        assert np.all(policy.kpis[key] > 0)
    power_mw = reference.series["energy_mwh"]                    # (T, E) per-step power, MW
    np.testing.assert_allclose(reference.kpis["energy_mwh"], power_mw.sum(0) * float(params.dt) / 3600.0,
                               rtol=1e-6)
    moment = reference.series["tower_base_del_knm"][:, 0]        # kN m
    assert reference.kpis["tower_base_del_knm"][0] == pytest.approx(
        damage_equivalent_load(moment, 4.0, 150 * float(params.dt)))
