"""FLORIS 4 parity of ``farm_power`` over random layouts, inflow conditions and yaw angles.

FLORIS gets the same turbine curves as ``farm_power`` (default ``nrel_5MW_rosco``, derived from
the ROSCO surfaces; ``floris_reference`` writes them as a FLORIS turbine dictionary). Measured: farm
power within 6e-7 and every turbine within 5e-5 of FLORIS (float32 against float64).
"""

import numpy as np
import pytest
from twingym.envs.wind_farm import farm_power, grid_layout, random_layout
from twingym.envs.wind_farm.layouts import DEFAULT_DIAMETER as D

pytest.importorskip("floris")
from twingym.envs.wind_farm.floris_reference import floris_power


def jittered_grid(rng, n, spacing_d):
    """``n`` turbines on a roughly square grid ``spacing_d`` D apart, each moved by up to 0.3 D."""
    cols = int(np.ceil(np.sqrt(n)))
    k = np.arange(n)
    x = (k % cols) * spacing_d * D + rng.uniform(-0.3, 0.3, n) * D
    y = (k // cols) * spacing_d * D + rng.uniform(-0.3, 0.3, n) * D
    return x, y


def conditions(rng, m, n):
    wd = rng.uniform(0.0, 360.0, m)
    wd[:4] = [270.0, 0.0, 225.0, 272.0]  # aligned rows, columns, diagonals, a near miss
    ws = rng.uniform(4.0, 20.0, m)
    ws[:3] = [4.0, 8.0, 20.0]
    ti = rng.uniform(0.04, 0.12, m)
    ti[:2] = [0.04, 0.12]
    yaw = rng.uniform(-25.0, 25.0, (m, n))
    yaw[0] = 0.0
    return wd, ws, ti, yaw


# (n_turbines, spacing in D): 4 sizes up to 25 turbines, spacings across 3..10 D
CASES = [(4, 3.0), (9, 5.0), (16, 10.0), (25, 3.5)]


@pytest.mark.parametrize(("n", "spacing_d"), CASES)
def test_farm_power_matches_floris(n, spacing_d):
    rng = np.random.default_rng(n)
    x, y = jittered_grid(rng, n, spacing_d)
    wd, ws, ti, yaw = conditions(rng, 24, n)
    ours = np.asarray(farm_power(x, y, wd, ws, ti, yaw), dtype=np.float64)
    ref = floris_power(x, y, wd, ws, ti, yaw)
    assert ours.shape == ref.shape == (24, n)
    farm_err = np.abs(ours.sum(1) - ref.sum(1)) / ref.sum(1)
    assert farm_err.max() < 1e-5, f"farm power off by {farm_err.max():.2e}"
    turbine_err = np.abs(ours - ref) / np.maximum(ref, 1e-3 * ref.max())
    assert turbine_err.max() < 1e-3, f"a turbine's power off by {turbine_err.max():.2e}"
    # the wakes matter in these cases: FLORIS's farm loses power to them
    free = np.asarray(farm_power(x[:1], y[:1], wd, ws, ti, yaw[:, :1]))[:, 0] * n
    assert np.any(ref.sum(1) < 0.9 * free)


def test_random_layout_with_minimum_spacing_matches_floris():
    x, y = random_layout(12, min_spacing_d=3.0, seed=3)
    rng = np.random.default_rng(7)
    wd, ws, ti, yaw = conditions(rng, 16, 12)
    ours = np.asarray(farm_power(x, y, wd, ws, ti, yaw), dtype=np.float64)
    ref = floris_power(x, y, wd, ws, ti, yaw)
    np.testing.assert_allclose(ours.sum(1), ref.sum(1), rtol=1e-5)


@pytest.mark.parametrize("turbine", ["nrel_5MW_rosco", "nrel_5MW", "iea_15MW_rosco"])
def test_single_turbine_follows_power_curve_and_cosine_loss(turbine):
    from twingym.envs.turbines import load_floris_turbine
    from twingym.envs.wind_farm.farm import default_model

    curve = load_floris_turbine(turbine)
    ws = np.array([5.0, 8.0, 10.0, 15.0])
    p0 = np.asarray(farm_power([0.0], [0.0], 270.0, ws, 0.06, model=default_model(turbine)))[:, 0]
    ref = floris_power([0.0], [0.0], np.full(4, 270.0), ws, np.full(4, 0.06), turbine=turbine)[:, 0]
    np.testing.assert_allclose(p0, ref, rtol=1e-5)
    # on the sheared 3x3 rotor grid the cubic-mean velocity is below hub-height speed (0.33 % for
    # the NREL 5-MW, 0.5 % for the IEA 15-MW's larger rotor on its 150 m hub): about 1-1.6 % less
    # power than the table at hub-height speed below rated, rated above
    table = np.interp(ws, curve.wind_speed, curve.power)
    assert np.all(p0 <= table * (1 + 1e-6)) and np.all(p0 >= table * 0.982)
    assert p0[-1] == pytest.approx(curve.rated_power, rel=1e-6)
    p20 = np.asarray(farm_power([0.0], [0.0], 270.0, 8.0, 0.06, [[20.0]], model=default_model(turbine)))[0, 0]
    assert p20 / p0[1] == pytest.approx(np.cos(np.deg2rad(20.0)) ** 1.88, rel=0.01)


def test_grid_layout_default_farm_has_wake_losses_at_270():
    x, y = grid_layout(3, 3, 5.0)
    p = np.asarray(farm_power(x, y, 270.0, 8.0, 0.06))[0]
    front, second = p[0::3], p[1::3]
    assert np.all(second < 0.7 * front)
    np.testing.assert_allclose(front, front[0], rtol=1e-5)  # identical unwaked front row


#: FLORIS's own iea_15MW (the published table, IEA15MW_rotor_performance.csv) against the wind
#: farm's iea_15MW_rosco (derived from the ROSCO files) below rated: the rows beyond 2 %, pinned
#: (docs/twins/wind_farm.md): 4-4.5 m/s, the rotor at 5 rpm runs above the surface's TSR range;
#: 7-7.5 and 10-10.5 m/s, the surface's Cq is 1.5 % above the table's Cp at the same operating
#: point, the table's generator efficiency varies, and the derived turbine rates at 10.58 m/s
#: where the table does at 10.67 m/s.
IEA_FLORIS_POWER_EXCEPTIONS = {4.0: -0.0470, 4.5: -0.0227, 7.0: +0.0235, 7.5: +0.0206, 10.0: +0.0211,
                               10.5: +0.0248}


def _floris_library_model(turbine: str):
    """FLORIS's defaults with one of its library turbines, reference height at the hub height."""
    import floris

    fm = floris.FlorisModel("defaults")
    fm.set(layout_x=[0.0], layout_y=[0.0], turbine_type=[turbine])
    return fm


def test_iea_15mw_from_the_rosco_files_against_floris_iea_15mw():
    from twingym.envs.turbines import load_turbine_spec, spec_operating_points
    from twingym.envs.wind_farm.farm import default_model

    ws = np.arange(4.0, 10.51, 0.5)
    model = default_model("iea_15MW_rosco")
    ours = np.asarray(farm_power([0.0], [0.0], 270.0, ws, 0.06, model=model), dtype=np.float64)[:, 0]
    # one source of turbine facts: the farm's table is the static solution of DISCON's controller
    static = spec_operating_points(load_turbine_spec("iea_15MW_rosco"), ws).power
    np.testing.assert_allclose(np.interp(ws, model.turbine.wind_speed, model.turbine.power), static, rtol=1e-5)
    fm = _floris_library_model("iea_15MW")
    fm.assign_hub_height_to_ref_height()
    fm.set(wind_speeds=ws, wind_directions=np.full(ws.size, 270.0), turbulence_intensities=np.full(ws.size, 0.06))
    fm.run()
    ratio = ours / fm.get_turbine_powers()[:, 0] - 1
    for u, r in zip(ws, ratio, strict=True):
        if float(u) in IEA_FLORIS_POWER_EXCEPTIONS:
            assert r == pytest.approx(IEA_FLORIS_POWER_EXCEPTIONS[float(u)], abs=5e-4), u
        else:
            assert abs(r) <= 0.02, f"{u} m/s: {r:+.4f}"


def test_floris_reference_height_must_be_the_hub_height():
    """Wind speeds are at hub height in twingym; FLORIS's are at its reference height (90 m in its
    defaults). With a 150 m hub and shear 0.12 the two differ by (150/90)^0.12: 20 % more power
    until ``assign_hub_height_to_ref_height()``, after which FLORIS matches ``farm_power`` with
    the same turbine."""
    import floris
    from twingym.envs.turbines import load_floris_turbine
    from twingym.envs.wind_farm.farm import FarmModel
    from twingym.envs.wind_farm.turbine import turbine_model

    curves = load_floris_turbine(floris_library_file("iea_15MW"))
    ours = float(np.asarray(farm_power([0.0], [0.0], 270.0, 8.0, 0.06,
                                       model=FarmModel(turbine=turbine_model(curves))))[0, 0])
    fm = _floris_library_model("iea_15MW")
    fm.set(wind_speeds=[8.0], wind_directions=[270.0], turbulence_intensities=[0.06])
    fm.run()
    before = float(fm.get_turbine_powers()[0, 0])
    fm.assign_hub_height_to_ref_height()
    fm.run()
    after = float(fm.get_turbine_powers()[0, 0])
    assert fm.core.flow_field.reference_wind_height == 150.0
    assert before / after == pytest.approx((150.0 / 90.0) ** (3 * 0.12), rel=0.02)
    assert ours == pytest.approx(after, rel=1e-4)
    assert floris.__version__


def floris_library_file(name: str):
    from pathlib import Path

    import floris

    return Path(floris.__file__).parent / "turbine_library" / f"{name}.yaml"
