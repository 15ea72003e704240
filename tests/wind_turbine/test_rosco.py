"""The ROSCO data loader: Cp/Ct/Cq surfaces and DISCON.IN."""

from __future__ import annotations

import numpy as np
import pytest
from twingym.envs.turbines import (
    RoscoFileError,
    available_rotor_surfaces,
    load_rosco_turbine,
    load_rotor_performance,
    parse_discon,
)


def test_bundled_surfaces_load_with_consistent_shapes():
    assert {"NREL5MW", "IEA15MW"} <= set(available_rotor_surfaces())
    for name in ("NREL5MW", "IEA15MW"):
        perf = load_rotor_performance(name)
        assert perf.cp.shape == perf.ct.shape == perf.cq.shape == (perf.tsr.size, perf.pitch_deg.size)
        assert np.all(np.diff(perf.tsr) > 0) and np.all(np.diff(perf.pitch_deg) > 0)


def test_nrel5mw_surface_physics():
    perf = load_rotor_performance("NREL5MW")
    # Cq = Cp / TSR (torque = power / speed); the file rounds to 6 digits
    np.testing.assert_allclose(perf.cq, perf.cp / perf.tsr[:, None], atol=1e-3)
    cp_max, tsr_opt, pitch_opt = perf.max_cp()
    assert cp_max < 16 / 27                       # below the Betz limit
    assert 0.44 < cp_max < 0.50 and 7.0 <= tsr_opt <= 8.0 and pitch_opt == 0.0
    assert perf.pitch_deg[0] == -5.0 and perf.pitch_deg[-1] == 30.0 and perf.tsr.size == 26


def test_discon_values_match_the_nrel5mw_design():
    d = parse_discon()
    assert d["WE_GearboxRatio"] == 97.0 and d["VS_RtPwr"] == 5.0e6 and d["WE_BladeRadius"] == 63.0
    assert d["PerfFileName"] == "Cp_Ct_Cq.NREL5MW.txt"
    n = int(d["PC_GS_n"])
    assert d["PC_GS_angles"].shape == d["PC_GS_KP"].shape == d["PC_GS_KI"].shape == (n,)
    assert np.all(d["PC_GS_KP"] < 0) and np.all(d["PC_GS_KI"] < 0)   # ROSCO sign convention
    turbine = load_rosco_turbine()
    # 12.1 rpm rated rotor speed (Jonkman et al. 2009, Table 1-1)
    assert turbine.rated_rotor_speed * 30 / np.pi == pytest.approx(12.1, rel=1e-4)
    # rated torque = rated power / (efficiency * rated generator speed)
    assert turbine.rated_gen_torque == pytest.approx(
        turbine.rated_power / (turbine.generator_efficiency * turbine.rated_gen_speed), rel=1e-4)


def test_any_file_in_the_format_loads(tmp_path):
    pitch, tsr = np.array([0.0, 5.0, 10.0]), np.array([4.0, 8.0])
    cp = np.array([[0.3, 0.2, 0.1], [0.45, 0.3, 0.15]])
    lines = ["# made up", "", "# Pitch angle vector, 3 entries - x axis (deg)", " ".join(map(str, pitch)),
             "# TSR vector, 2 entries - y axis (-)", " ".join(map(str, tsr)),
             "# Wind speed vector - z axis (m/s)", "10.0", ""]
    for title, table in (("Power", cp), ("Thrust", 2 * cp), ("Torque", cp / tsr[:, None])):
        lines += [f"# {title} coefficient", ""] + [" ".join(f"{v:.6f}" for v in row) for row in table] + [""]
    path = tmp_path / "Cp_Ct_Cq.Toy.txt"
    path.write_text("\n".join(lines))
    perf = load_rotor_performance(path)
    np.testing.assert_allclose(perf.ct, 2 * cp)
    assert perf.wind_speed == 10.0 and perf.max_cp() == (0.45, 8.0, 0.0)


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(RoscoFileError, match="unknown rotor performance"):
        load_rotor_performance("NoSuchTurbine")
    with pytest.raises(RoscoFileError, match="does not exist"):
        parse_discon(tmp_path / "missing.IN")
    broken = tmp_path / "broken.txt"
    broken.write_text("# Pitch angle vector\n0 1\n# TSR vector\n1 2\n# Wind speed vector\n5\n# Power coefficient\n0.1 0.2\n")
    with pytest.raises(RoscoFileError, match=r"not 2 x 2|no section"):
        load_rotor_performance(broken)


# --- steady-state curves derived from the ROSCO data (the wind farm's default turbine) ---------

def test_torque_law_agrees_with_the_twins_reference_controller():
    """Two independent codings of the 2009 torque law (static derivation, JAX controller)."""
    from twingym.envs.turbines import TorqueLaw
    from twingym.envs.wind_turbine.baselines import reference_controller_params, torque_law

    turbine = load_rosco_turbine()
    law, ctrl = TorqueLaw.from_rosco(turbine), reference_controller_params(turbine)
    w = np.linspace(0.0, 1.3 * turbine.rated_gen_speed, 2001)
    np.testing.assert_allclose(law.torque(w), np.asarray(torque_law(ctrl, w, 0.0, xp=np)), rtol=1e-9, atol=1e-6)
    assert law.trans_gen_speed == pytest.approx(ctrl.trans_speed, rel=1e-12)
    # continuous at every region boundary
    for edge in (law.cut_in_gen_speed, law.rgn2_start_gen_speed, law.trans_gen_speed, law.rgn3_gen_speed):
        lo, hi = law.torque(np.array([edge * (1 - 1e-9), edge * (1 + 1e-9)]))
        assert hi == pytest.approx(lo, rel=1e-6, abs=1e-3)


def test_steady_operating_points_balance_the_torques():
    from twingym.envs.turbines import TorqueLaw, steady_operating_points
    from twingym.envs.turbines.steady_state import rotor_coefficients

    turbine = load_rosco_turbine()
    law = TorqueLaw.from_rosco(turbine)
    ws = np.arange(3.0, 25.5, 0.5)
    pts = steady_operating_points(turbine, ws, law)
    n, r, rho = turbine.gearbox_ratio, turbine.rotor_radius, turbine.air_density
    _, _, cq = rotor_coefficients(turbine.performance, pts.tsr, pts.pitch_deg)
    q_aero = 0.5 * rho * np.pi * r**3 * ws**2 * cq
    q_gen = law.torque(n * pts.rotor_speed)
    np.testing.assert_allclose(q_aero, n * q_gen, rtol=1e-6)                    # steady: no acceleration
    np.testing.assert_allclose(pts.power, turbine.generator_efficiency * q_gen * n * pts.rotor_speed)
    # regions: 1.5 up to 7 m/s, 2 at the optimal TSR 7.5 and fine pitch, 2.5 near rated, 3 pitching
    assert set(pts.region[ws <= 7.5]) == {1.5} and set(pts.region[(ws >= 8) & (ws <= 10)]) == {2.0}
    assert set(pts.region[ws == 11.0]) == {2.5} and set(pts.region[ws >= 12]) == {3.0}
    np.testing.assert_allclose(pts.tsr[pts.region == 2.0], 7.5, rtol=1e-3)   # VS_Rgn2K fits Cp max
    assert np.all(pts.pitch_deg[ws <= 11] == 0.0) and np.all(np.diff(pts.pitch_deg[ws >= 12]) > 0)
    np.testing.assert_allclose(pts.power[ws >= 12], turbine.rated_power, rtol=1e-9)
    np.testing.assert_allclose(pts.rotor_speed[ws >= 12] * 30 / np.pi, 12.1, rtol=1e-4)
    assert np.all(np.diff(pts.power[ws <= 11]) > 0) and np.all(pts.thrust_coefficient > 0)


def test_turbine_spec_derives_a_floris_table(tmp_path):
    """A spec file with a ``rosco:`` section loads like any FLORIS turbine and round-trips through
    the FLORIS dictionary writer; its files may sit next to it."""
    import shutil

    import yaml
    from twingym.envs.turbines import TurbineFileError, floris_turbine_dict, load_floris_turbine
    from twingym.envs.turbines.floris_yaml import DATA_DIR, parse_floris_turbine

    for name in ("DISCON.IN", "Cp_Ct_Cq.NREL5MW.txt"):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    spec = {"turbine_type": "toy", "hub_height": 100.0, "operation_model": "cosine-loss",
            "rosco": {"discon": "DISCON.IN", "controller": "jonkman_2009", "cut_in_wind_speed": 4.0,
                      "cut_out_wind_speed": 20.0, "wind_speed_step": 1.0}}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(spec))
    c = load_floris_turbine(path)
    assert c.name == "toy" and c.hub_height == 100.0 and c.rotor_diameter == pytest.approx(126.0)
    assert c.cut_in_wind_speed == 4.0 and c.cut_out_wind_speed == 20.0
    assert c.rated_power == pytest.approx(5e6) and 11.3 < c.rated_wind_speed < 11.5
    assert np.all(c.power[(c.wind_speed < 4) | (c.wind_speed > 20)] == 0.0)
    again = parse_floris_turbine(floris_turbine_dict(c))
    for field in ("wind_speed", "power", "thrust_coefficient"):
        np.testing.assert_allclose(getattr(again, field), getattr(c, field), rtol=1e-12)
    assert again.rotor_diameter == c.rotor_diameter and again.ref_air_density == c.ref_air_density
    with pytest.raises(TurbineFileError, match="rotor_diameter"):
        parse_floris_turbine({**spec, "rotor_diameter": 120.0}, base_dir=tmp_path)
    with pytest.raises(TurbineFileError, match="needs at least 'discon'"):
        parse_floris_turbine({**spec, "rosco": {}}, base_dir=tmp_path)
    with pytest.raises(TurbineFileError, match="torque_law"):
        parse_floris_turbine({**spec, "rosco": {"discon": "DISCON.IN", "torque_law": {"bogus": 1}}},
                             base_dir=tmp_path)


# --- any ROSCO turbine by its DISCON file ------------------------------------------------------

def _discon_folder(tmp_path, yaml_text: str | None, yaml_name: str = "DISCON.yaml"):
    """A user's turbine folder: the IEA 15-MW DISCON as ``DISCON.IN``, its surface in a sibling
    folder named by PerfFileName (as in the IEA-15-240-RWT repository), and a geometry YAML."""
    from twingym.envs.turbines.rosco import DATA_DIR

    (tmp_path / "IEA-15-240-RWT").mkdir()
    (tmp_path / "IEA-15-240-RWT" / "Cp_Ct_Cq.IEA15MW.txt").write_bytes(
        (DATA_DIR / "Cp_Ct_Cq.IEA15MW.txt").read_bytes())
    folder = tmp_path / "monopile"
    folder.mkdir()
    (folder / "DISCON.IN").write_text((DATA_DIR / "DISCON.IEA15MW.IN").read_text())
    if yaml_text is not None:
        (folder / yaml_name).write_text(yaml_text)
    return folder / "DISCON.IN"


def test_a_discon_path_flies_like_the_bundled_turbine(tmp_path):
    """``turbine="path/to/DISCON.IN"``: settings from DISCON, the surface from its PerfFileName
    (relative to the DISCON file), hub height from the YAML beside it; the same twin params and
    wind farm table as the bundled ``iea_15MW_rosco``."""
    import jax
    from twingym.envs import make
    from twingym.envs.turbines import load_floris_turbine

    discon = _discon_folder(tmp_path, "hub_height: 150.0\nrosco: {precone_deg: 4.0, pitch_rate_max_deg_s: 2.0}\n")
    _, mine = make("WindTurbine-v0", turbine=str(discon))
    _, bundled = make("WindTurbine-v0", turbine="iea_15MW")
    for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(bundled), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    ours, ref = load_floris_turbine(discon), load_floris_turbine("iea_15MW_rosco")
    np.testing.assert_allclose(ours.power, ref.power)
    assert ours.rotor_diameter == ref.rotor_diameter and ours.hub_height == 150.0


def test_a_discon_path_names_what_is_missing(tmp_path):
    from twingym.envs import make
    from twingym.envs.turbines import TurbineFileError, load_turbine_spec

    discon = _discon_folder(tmp_path, None)
    with pytest.raises(TurbineFileError, match=r"DISCON\.yaml, turbine\.yaml"):
        load_turbine_spec(discon)
    (discon.parent / "turbine.yaml").write_text("rosco: {precone_deg: 4.0}\n")
    with pytest.raises(TurbineFileError, match=r"turbine\.yaml: missing field 'hub_height'"):
        make("WindTurbine-v0", turbine=str(discon))
    (discon.parent / "turbine.yaml").write_text("hub_height: 150.0\n")
    text = discon.read_text()
    discon.write_text("\n".join(line for line in text.splitlines() if "! VS_RtPwr" not in line))
    with pytest.raises(TurbineFileError, match=r"lacks the numeric setting 'VS_RtPwr'.*rated_power"):
        load_turbine_spec(discon)
    (discon.parent / "turbine.yaml").write_text("hub_height: 150.0\nrated_power: 15.0e6\n")
    assert load_turbine_spec(discon).turbine.rated_power == 15.0e6
    discon.write_text(text.replace("../IEA-15-240-RWT/Cp_Ct_Cq.IEA15MW.txt", "missing/Cp.txt"))
    with pytest.raises(TurbineFileError, match=r"PerfFileName 'missing/Cp\.txt' does not exist"):
        load_turbine_spec(discon)
    with pytest.raises(TurbineFileError, match="unknown turbine 'nope'"):
        make("WindTurbine-v0", turbine="nope")
