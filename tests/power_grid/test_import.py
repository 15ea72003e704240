"""Bring-your-own pandapower nets: switches and several slacks against pandapower's own power flow,
and the do-nothing check ``make_params(net=...)`` runs on an imported case."""

from __future__ import annotations

import logging
import re
import warnings

import numpy as np
import pytest

pp = pytest.importorskip("pandapower")
import pandapower.networks as pn  # noqa: E402
import twingym.envs as te  # noqa: E402
from twingym.envs.power_grid import UnsupportedElementError, from_pandapower, runpp  # noqa: E402
from twingym.envs.power_grid.import_check import ImportedNetWarning, check_do_nothing  # noqa: E402

logging.getLogger("pandapower").setLevel(logging.ERROR)


def _quiet(make, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make(*args, **kwargs)


def _open_switch_elements(net, et: str) -> np.ndarray:
    sw = net.switch
    return sw[(sw["et"] == et) & ~sw["closed"].astype(bool)]["element"].to_numpy()


def _assert_matches_pandapower(net) -> None:
    """Bus voltages at every bus (fused ones included) to 1e-9 pu / 1e-7 deg, flows of every branch
    without an open switch to 1e-6 MW/Mvar."""
    ours = runpp(net)
    pp.runpp(net, tolerance_mva=1e-10)
    assert ours["converged"]
    np.testing.assert_allclose(ours["vm_pu"], net.res_bus.vm_pu.to_numpy(), atol=1e-9, rtol=0)
    dva = (ours["va_degree"] - net.res_bus.va_degree.to_numpy() + 180.0) % 360.0 - 180.0
    np.testing.assert_allclose(dva, 0.0, atol=1e-7)
    for table, key_p, key_q, ref_p, ref_q, et in (
            ("line", "line_p_from_mw", "line_q_from_mvar", "p_from_mw", "q_from_mvar", "l"),
            ("trafo", "trafo_p_hv_mw", "trafo_q_hv_mvar", "p_hv_mw", "q_hv_mvar", "t")):
        closed = ~net[table].index.isin(_open_switch_elements(net, et))
        res = net[f"res_{table}"]
        np.testing.assert_allclose(ours[key_p][closed], res[ref_p].to_numpy()[closed], atol=1e-6, err_msg=table)
        np.testing.assert_allclose(ours[key_q][closed], res[ref_q].to_numpy()[closed], atol=1e-6, err_msg=table)


def test_mv_oberrhein_solves_and_matches_pandapower():
    # two external grids with one set point (fused into one slack) and six open line switches
    net = _quiet(pn.mv_oberrhein)
    assert len(net.ext_grid) == 2 and len(_open_switch_elements(net, "l")) == 6
    network = from_pandapower(net)
    assert network.n_bus == len(net.bus) - 1
    assert int(np.sum(~network.br_in_service)) == 6
    _assert_matches_pandapower(net)


def _switched_net():
    """110 kV ring with a closed bus-bus switch (buses 1 and 2 fused), an open one (dropped), an
    open line switch and an open transformer switch on the hv side (only its magnetising branch
    stays, seen from the lv side)."""
    net = pp.create_empty_network(sn_mva=10.0)
    b = [pp.create_bus(net, vn_kv=110.0) for _ in range(4)] + [pp.create_bus(net, vn_kv=20.0)]
    pp.create_ext_grid(net, b[0], vm_pu=1.02)
    lines = [pp.create_line_from_parameters(net, f, t, 12.0, 0.06, 0.4, 10.0, 0.5)
             for f, t in ((b[0], b[1]), (b[0], b[3]), (b[2], b[3]), (b[1], b[3]))]
    pp.create_switch(net, b[1], b[2], et="b", closed=True)
    pp.create_switch(net, b[2], b[3], et="b", closed=False)
    pp.create_switch(net, b[3], lines[2], et="l", closed=False)
    pp.create_transformer_from_parameters(net, b[3], b[4], sn_mva=25, vn_hv_kv=110, vn_lv_kv=20,
                                          vkr_percent=0.4, vk_percent=12, pfe_kw=20, i0_percent=0.2)
    t1 = pp.create_transformer_from_parameters(net, b[1], b[4], sn_mva=25, vn_hv_kv=110, vn_lv_kv=20,
                                               vkr_percent=0.4, vk_percent=12, pfe_kw=20, i0_percent=0.2)
    pp.create_switch(net, b[1], t1, et="t", closed=False)
    pp.create_load(net, b[2], p_mw=12.0, q_mvar=3.0)
    pp.create_load(net, b[3], p_mw=8.0, q_mvar=2.0)
    pp.create_load(net, b[4], p_mw=6.0, q_mvar=1.5)
    pp.create_sgen(net, b[1], p_mw=4.0)
    return net


def test_bus_bus_switches_fuse_and_open_switches_drop():
    net = _switched_net()
    network = from_pandapower(net)
    assert network.n_bus == 4 and network.row_of(1) == network.row_of(2)
    assert network.br_in_service.tolist() == [True, True, False, True, True, False]
    assert np.abs(network.shunt_y).max() > 0, "open branch ends leave their charging/magnetising shunt"
    _assert_matches_pandapower(net)


def test_switch_and_slack_cases_we_cannot_model_are_refused():
    net = _switched_net()
    net.switch.loc[0, "z_ohm"] = 0.5
    with pytest.raises(UnsupportedElementError, match="z_ohm"):
        from_pandapower(net)
    net = _switched_net()
    pp.create_ext_grid(net, 3, vm_pu=1.0)
    with pytest.raises(UnsupportedElementError, match="different voltage set points"):
        from_pandapower(net)


def test_imported_case_failing_under_do_nothing_warns_and_derived_ratings_fix_it():
    env, _ = te.make("PowerGrid-v0")
    net = _quiet(pn.case89pegase)
    with pytest.warns(ImportedNetWarning) as caught:
        env.make_params(net=net)
    message = str(caught[0].message)
    assert re.search(r"(line|trafo) \d+ \(bus \d+-\d+\) trips on step 1 at \d+ % of its [\d.]+ MVA rating "
                     r"\(above the 150 % hard limit\)", message), message
    assert "blackout on step" in message and "ratings='derived'" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImportedNetWarning)
        params = env.make_params(net=net, ratings="derived")
    report = check_do_nothing(env, params, from_pandapower(net))
    assert report.ok and report.steps == params.max_steps
