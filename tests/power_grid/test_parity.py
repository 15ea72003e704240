"""Our AC and DC power flow against pandapower's runpp / rundcpp on its bundled cases.

Tolerances from the issue: voltage magnitude 1e-5 pu, angle 1e-3 degree, branch flows 1e-3 MW
(and Mvar), loadings 1e-3 percent.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

pp = pytest.importorskip("pandapower")
import pandapower.networks as pn  # noqa: E402
from twingym.envs.power_grid import UnsupportedElementError, from_pandapower, rundcpp, runpp  # noqa: E402

logging.getLogger("pandapower").setLevel(logging.ERROR)
CASES = ["case14", "case30", "case39", "case57", "case89pegase", "case118", "case300"]


def _compare(ours: dict, net, dc: bool) -> None:
    assert ours["converged"]
    np.testing.assert_allclose(ours["vm_pu"], net.res_bus.vm_pu.values, atol=1e-5, rtol=0)
    np.testing.assert_allclose(ours["va_degree"], net.res_bus.va_degree.values, atol=1e-3, rtol=0)
    pairs = [("line_p_from_mw", net.res_line.p_from_mw), ("line_q_from_mvar", net.res_line.q_from_mvar),
             ("line_loading_percent", net.res_line.loading_percent),
             ("trafo_p_hv_mw", net.res_trafo.p_hv_mw), ("trafo_q_hv_mvar", net.res_trafo.q_hv_mvar),
             ("trafo_loading_percent", net.res_trafo.loading_percent)]
    for key, ref in pairs:
        np.testing.assert_allclose(ours[key], ref.values, atol=1e-3, rtol=0, err_msg=key)


def _net(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(pn, name)()


def _ac_and_dc_parity(net) -> None:
    """Our AC and DC flows on ``net`` against pandapower's runpp and rundcpp on the same net."""
    ours = runpp(net)
    pp.runpp(net)
    _compare(ours, net, dc=False)
    ours = rundcpp(net)
    pp.rundcpp(net)
    _compare(ours, net, dc=True)


@pytest.mark.parametrize("case", CASES)
def test_ac_and_dc_parity_with_pandapower(case):
    _ac_and_dc_parity(_net(case))


def test_pi_trafo_model_matches_pandapower():
    net = _net("case118")   # its transformers have magnetising branches, where t and pi differ
    ours = runpp(net, trafo_model="pi")
    pp.runpp(net, trafo_model="pi")
    _compare(ours, net, dc=False)
    t_model = runpp(net)
    assert np.max(np.abs(t_model["trafo_q_hv_mvar"] - ours["trafo_q_hv_mvar"])) > 1e-3


def _custom_net():
    """Elements the bundled cases do not exercise: tap changers on both sides (ratio with an
    angle, ideal phase shifter), line conductance, parallel lines, sgens, shunt steps, scaled
    loads, an out-of-service line, iron losses."""
    net = pp.create_empty_network(sn_mva=50.0, f_hz=50.0)
    b = [pp.create_bus(net, vn_kv=v) for v in (110.0, 110.0, 110.0, 20.0, 20.0, 110.0)]
    pp.create_ext_grid(net, b[0], vm_pu=1.02, va_degree=5.0)
    pp.create_line_from_parameters(net, b[0], b[1], 30.0, 0.06, 0.4, 10.0, 0.3, g_us_per_km=0.5,
                                   parallel=2)
    pp.create_line_from_parameters(net, b[1], b[2], 20.0, 0.08, 0.38, 9.0, 0.4)
    pp.create_line_from_parameters(net, b[0], b[2], 25.0, 0.08, 0.38, 9.0, 0.4)
    pp.create_line_from_parameters(net, b[2], b[5], 10.0, 0.08, 0.38, 9.0, 0.4, in_service=False)
    pp.create_line_from_parameters(net, b[1], b[5], 12.0, 0.08, 0.38, 9.0, 0.4)
    pp.create_transformer_from_parameters(
        net, b[1], b[3], sn_mva=40, vn_hv_kv=110, vn_lv_kv=21, vkr_percent=0.4, vk_percent=12,
        pfe_kw=30, i0_percent=0.1, shift_degree=0, tap_side="lv", tap_neutral=0, tap_pos=2,
        tap_step_percent=1.5, tap_step_degree=1.0, tap_changer_type="Ratio", tap_min=-9,
        tap_max=9)
    pp.create_transformer_from_parameters(
        net, b[2], b[4], sn_mva=25, vn_hv_kv=110, vn_lv_kv=20, vkr_percent=0.5, vk_percent=10,
        pfe_kw=20, i0_percent=0.2, shift_degree=0, tap_side="hv", tap_neutral=0, tap_pos=-3,
        tap_step_degree=0.5, tap_changer_type="Ideal", tap_min=-9, tap_max=9, parallel=2)
    pp.create_line_from_parameters(net, b[3], b[4], 5.0, 0.2, 0.3, 200.0, 0.5)
    pp.create_load(net, b[3], p_mw=18.0, q_mvar=6.0, scaling=1.1)
    pp.create_load(net, b[4], p_mw=12.0, q_mvar=4.0)
    pp.create_load(net, b[5], p_mw=9.0, q_mvar=2.0)
    pp.create_sgen(net, b[4], p_mw=5.0, q_mvar=-1.0)
    pp.create_gen(net, b[2], p_mw=15.0, vm_pu=1.01)
    pp.create_shunt(net, b[3], q_mvar=-3.0, p_mw=0.1, step=2, max_step=3, vn_kv=20.5)
    return net


def test_custom_elements_match_pandapower():
    _ac_and_dc_parity(_custom_net())


def test_unsupported_elements_are_refused_by_name():
    net = _custom_net()
    pp.create_transformer3w(net, 0, 3, 4, std_type="63/25/38 MVA 110/20/10 kV")
    with pytest.raises(UnsupportedElementError, match="trafo3w"):
        from_pandapower(net)
    net = _custom_net()
    net.load.loc[0, "const_z_p_percent"] = 50.0
    with pytest.raises(UnsupportedElementError, match="load"):
        from_pandapower(net)
    net = _custom_net()
    pp.create_switch(net, 0, 1, et="b", closed=True, z_ohm=0.5)
    with pytest.raises(UnsupportedElementError, match="switch"):
        from_pandapower(net)
    net = _custom_net()
    pp.create_bus(net, vn_kv=110.0)      # isolated
    with pytest.raises(UnsupportedElementError, match="not connected"):
        from_pandapower(net)
    net = _custom_net()
    pp.create_ext_grid(net, 5, vm_pu=1.0)
    with pytest.raises(UnsupportedElementError, match="ext_grid"):
        from_pandapower(net)
