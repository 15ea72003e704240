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
