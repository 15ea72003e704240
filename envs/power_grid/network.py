"""Convert a pandapower network into fixed-shape numpy arrays (``Network``).

The conversion follows pandapower 3's documented element models so that our power flow solves the
same equations as ``pandapower.runpp`` / ``rundcpp``:

* buses: ``vn_kv`` is the voltage base; every bus must be in service and reachable from the slack.
* lines: pi model, ``r/x = ohm_per_km * length / parallel``, shunt ``b = 2*pi*f*c*length*parallel``
  and ``g = g_us_per_km*length*parallel``, per unit on the from-bus voltage and ``net.sn_mva``.
* two-winding transformers: short-circuit impedance from ``vk_percent``/``vkr_percent`` referred to
  the low-voltage side, magnetising branch from ``pfe_kw``/``i0_percent``, tap changers of type
  ``Ratio``/``Symmetrical`` (voltage magnitude and angle) or ``Ideal`` (pure phase shift) on either
  side, ``shift_degree``; the T equivalent (pandapower's default ``trafo_model="t"``) is turned into
  an asymmetric pi branch, or the pi model is used directly with ``trafo_model="pi"``.
* loads (constant power only), static generators (PQ), generators (PV with ``vm_pu``), one
  external grid (slack with ``vm_pu``/``va_degree``), shunts (``p_mw``/``q_mvar * step`` scaled by
  ``(vn_bus / vn_shunt)**2``).

* switches: a closed bus-bus switch fuses its two buses into one (they share a row; their
  elements all connect there), an open one is dropped. An open line or transformer switch
  disconnects that branch end: the branch is out of service and what it still draws from its
  other end (the line's charging, the transformer's magnetising current), ``Yff - Yft Ytf / Ytt``
  of the two-port with the open end floating, becomes a shunt at that bus, exactly as pandapower's
  auxiliary bus at the open end gives. Both ends open: the branch is simply out.
* several external grids with the same voltage set point (magnitude and angle) are one slack: their
  buses are fused, which leaves the power flow unchanged (both voltages are fixed and equal).

Anything else that would change the power flow (three-winding transformers, impedances, wards,
DC lines, storage, FACTS devices, bus-bus switches with an impedance, voltage-dependent loads,
characteristic tables, generators acting as slack, slacks with different set points, isolated
buses) raises :class:`UnsupportedElementError` naming the element; nothing is dropped silently.

Branch order everywhere in this package: all ``net.line`` rows, then all ``net.trafo`` rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: element tables that change the power flow and that we do not model
UNSUPPORTED_TABLES = ("trafo3w", "impedance", "ward", "xward", "dcline", "storage", "svc", "tcsc",
                      "ssc", "vsc", "motor", "asymmetric_load", "asymmetric_sgen", "line_dc",
                      "bus_dc", "load_dc", "source_dc", "b2b_vsc", "bi_vsc", "vsc_stacked",
                      "vsc_bipolar")

#: a branch rating above this apparent power (MVA) is treated as "no rating" (MATPOWER rate 0)
NO_RATING_MVA = 9000.0


class UnsupportedElementError(ValueError):
    """A pandapower element that ``from_pandapower`` cannot represent (the message names it)."""


@dataclass(frozen=True)
class Network:
    """A pandapower network as fixed-shape float64 numpy arrays (host side).

    Sizes: ``n_bus`` buses, ``n_branch = n_line + n_trafo`` branches (lines first), ``n_gen``
    voltage-controlling generators (``net.gen`` in service), ``n_load`` loads, ``n_sgen`` static
    generators. Per-unit values are on ``sn_mva`` and each bus's ``vn_kv``.
    """

    name: str
    sn_mva: float
    f_hz: float
    bus_ids: np.ndarray          # (n_bus,) pandapower bus index of each row
    bus_vn_kv: np.ndarray        # (n_bus,) kV
    bus_xy: np.ndarray           # (n_bus, 2) plotting coordinates (geodata or a layout)
    # branches (lines then trafos)
    br_from: np.ndarray          # (n_branch,) int, from (hv) bus row
    br_to: np.ndarray            # (n_branch,) int, to (lv) bus row
    br_r: np.ndarray             # (n_branch,) pu series resistance
    br_x: np.ndarray             # (n_branch,) pu series reactance
    br_g: np.ndarray             # (n_branch,) pu total shunt conductance (from-side half is g/2)
    br_b: np.ndarray             # (n_branch,) pu total shunt susceptance
    br_g_asym: np.ndarray        # (n_branch,) pu extra to-side shunt conductance (x2)
    br_b_asym: np.ndarray        # (n_branch,) pu extra to-side shunt susceptance (x2)
    br_tap: np.ndarray           # (n_branch,) off-nominal ratio (1 for lines)
    br_shift_deg: np.ndarray     # (n_branch,) phase shift, degrees
    br_in_service: np.ndarray    # (n_branch,) bool
    br_is_trafo: np.ndarray      # (n_branch,) bool
    br_ids: np.ndarray           # (n_branch,) pandapower index within its table
    # ratings: lines in kA (max_i_ka*df*parallel), trafos as sn_mva*df*parallel with vn_hv/lv
    line_imax_ka: np.ndarray     # (n_line,)
    trafo_sn_mva: np.ndarray     # (n_trafo,) sn_mva * df * parallel
    trafo_vn_kv: np.ndarray      # (n_trafo, 2) rated hv/lv voltages
    br_rating_mva: np.ndarray    # (n_branch,) apparent power rating at nominal voltage (inf if none)
    # bus injections
    shunt_y: np.ndarray          # (n_bus,) complex pu shunt admittance (g + jb)
    load_bus: np.ndarray         # (n_load,) bus row of each in-service load
    load_p_mw: np.ndarray        # (n_load,)
    load_q_mvar: np.ndarray      # (n_load,)
    sgen_bus: np.ndarray         # (n_sgen,)
    sgen_p_mw: np.ndarray        # (n_sgen,)
    sgen_q_mvar: np.ndarray      # (n_sgen,)
    gen_bus: np.ndarray          # (n_gen,)
    gen_p_mw: np.ndarray         # (n_gen,)
    gen_vm_pu: np.ndarray        # (n_gen,)
    gen_min_p_mw: np.ndarray     # (n_gen,)
    gen_max_p_mw: np.ndarray     # (n_gen,)
    gen_cost: np.ndarray         # (n_gen, 2) [$/MWh, $/MW^2h] linear and quadratic cost
    slack_bus: int
    slack_vm_pu: float
    slack_va_deg: float
    slack_min_p_mw: float
    slack_max_p_mw: float
    slack_cost: np.ndarray       # (2,) like gen_cost
    #: (len(net.bus),) pandapower index and row of every bus of the net, fused ones included
    net_bus_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    net_bus_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    extra: dict = field(default_factory=dict)

    # ---- sizes ----------------------------------------------------------------------------------
    @property
    def n_bus(self) -> int:
        return len(self.bus_ids)

    @property
    def n_branch(self) -> int:
        return len(self.br_from)

    @property
    def n_line(self) -> int:
        return int(np.sum(~self.br_is_trafo))

    @property
    def n_trafo(self) -> int:
        return int(np.sum(self.br_is_trafo))

    @property
    def n_gen(self) -> int:
        return len(self.gen_bus)

    def row_of(self, bus_id: int) -> int:
        """Row of pandapower bus ``bus_id`` (a fused bus gives its group's row); KeyError if absent."""
        ids = self.net_bus_ids if len(self.net_bus_ids) else self.bus_ids
        rows = self.net_bus_rows if len(self.net_bus_rows) else np.arange(len(self.bus_ids))
        hit = np.flatnonzero(ids == int(bus_id))
        if not len(hit):
            raise KeyError(f"bus {bus_id} not in the network")
        return int(rows[hit[0]])

    def per_net_bus(self, values: np.ndarray) -> np.ndarray:
        """Per-row bus values ``(n_bus, ...)`` expanded to every bus of the net, ``net.bus`` order."""
        return values[self.net_bus_rows] if len(self.net_bus_rows) else values

    def two_port(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(yff, yft, ytf, ytt)`` of every branch, complex128 pu (zero when out of service)."""
        return two_port(self.br_r, self.br_x, self.br_g, self.br_b, self.br_g_asym, self.br_b_asym,
                        self.br_tap, self.br_shift_deg, self.br_in_service)

    # ---- per-bus views ----------------------------------------------------------------------------
    def bus_type(self) -> np.ndarray:
        """(n_bus,) int: 0 PQ, 1 PV, 2 slack."""
        kind = np.zeros(self.n_bus, dtype=np.int32)
        kind[self.gen_bus] = 1
        kind[self.slack_bus] = 2
        return kind

    def vm_setpoint(self) -> np.ndarray:
        """(n_bus,) voltage magnitude set points (1.0 at PQ buses), pu."""
        vm = np.ones(self.n_bus)
        vm[self.gen_bus] = self.gen_vm_pu
        vm[self.slack_bus] = self.slack_vm_pu
        return vm

    def bus_injection_mw(self) -> tuple[np.ndarray, np.ndarray]:
        """Specified net injections per bus ``(p_mw, q_mvar)``: gens + sgens - loads (the slack's
        and PV buses' unknown parts excluded)."""
        p = np.zeros(self.n_bus)
        q = np.zeros(self.n_bus)
        np.add.at(p, self.gen_bus, self.gen_p_mw)
        np.add.at(p, self.sgen_bus, self.sgen_p_mw)
        np.add.at(q, self.sgen_bus, self.sgen_q_mvar)
        np.add.at(p, self.load_bus, -self.load_p_mw)
        np.add.at(q, self.load_bus, -self.load_q_mvar)
        return p, q


# ---------------------------------------------------------------------------------------------------
def two_port(r, x, g, b, g_asym, b_asym, tap, shift_deg, on) -> tuple[np.ndarray, ...]:
    """Numpy (float64) ``(yff, yft, ytf, ytt)`` of branches, the model of ``ybus.branch_admittance``."""
    on = np.asarray(on, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ys = np.where(on > 0, on / (np.asarray(r) + 1j * np.asarray(x)), 0.0)
    ratio = np.where(np.asarray(tap) == 0, 1.0, tap) * np.exp(1j * np.deg2rad(shift_deg))
    yff = (ys + on * (g + 1j * b) / 2) / np.abs(ratio) ** 2
    ytt = ys + on * (g + g_asym + 1j * (b + b_asym)) / 2
    return yff, -ys / np.conj(ratio), -ys / ratio, ytt


def _open_end_shunt(yff, yft, ytf, ytt, open_from: np.ndarray, open_to: np.ndarray) -> np.ndarray:
    """Admittance a branch still presents at its connected end when the other end floats.

    ``open_to``: seen from the from bus, ``Yff - Yft Ytf / Ytt``; ``open_from``: seen from the to bus,
    ``Ytt - Ytf Yft / Yff``. Zero where neither or both ends are open.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        at_from = np.where(ytt != 0, yff - yft * ytf / ytt, 0.0)
        at_to = np.where(yff != 0, ytt - ytf * yft / yff, 0.0)
    return np.where(open_to & ~open_from, at_from, 0.0) + np.where(open_from & ~open_to, at_to, 0.0)


class _Groups:
    """Union-find over bus indices (pandapower ids); the representative is the first in bus order."""

    def __init__(self, ids: np.ndarray) -> None:
        self.order = {int(b): i for i, b in enumerate(ids)}
        self.parent = {int(b): int(b) for b in ids}

    def find(self, b: int) -> int:
        while self.parent[b] != b:
            self.parent[b] = self.parent[self.parent[b]]
            b = self.parent[b]
        return b

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(int(a)), self.find(int(b))
        if ra != rb:
            keep, drop = (ra, rb) if self.order[ra] < self.order[rb] else (rb, ra)
            self.parent[drop] = keep


def _fused_bus_rows(net, eg: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Representative bus ids (the Network's rows) and every net bus's row.

    Closed bus-bus switches fuse buses; so do external grids with one voltage set point.
    """
    ids = net.bus.index.to_numpy()
    groups = _Groups(ids)
    vn = dict(zip(ids.tolist(), net.bus["vn_kv"].to_numpy(dtype=float).tolist(), strict=True))
    sw = _has_rows(net, "switch")
    if sw is not None:
        bb = sw[(sw["et"] == "b") & sw["closed"].astype(bool)]
        z = np.nan_to_num(_col(bb, "z_ohm", 0.0))
        if np.any(z > 0):
            raise UnsupportedElementError(
                f"switch {list(bb.index[z > 0][:5])}: closed bus-bus switches with an impedance "
                "(z_ohm > 0) are not supported (set z_ohm=0 or model them as lines)")
        for idx, a, b in zip(bb.index, bb["bus"], bb["element"], strict=True):
            if not math.isclose(vn[int(a)], vn[int(b)], rel_tol=1e-9):
                raise UnsupportedElementError(
                    f"switch {idx}: closed bus-bus switch between {vn[int(a)]} kV and {vn[int(b)]} kV buses")
            groups.union(a, b)
    if len(eg) > 1:
        setpoints = eg[["vm_pu", "va_degree"]].to_numpy(dtype=float)
        if np.ptp(setpoints, axis=0).max() > 1e-12:
            raise UnsupportedElementError(
                f"ext_grid {list(eg.index)}: several slacks with different voltage set points are not "
                "supported (one slack, or several with the same vm_pu and va_degree)")
        first = int(eg["bus"].iloc[0])
        for b in eg["bus"].iloc[1:]:
            if not math.isclose(vn[first], vn[int(b)], rel_tol=1e-9):
                raise UnsupportedElementError(f"ext_grid {list(eg.index)}: slacks at different voltage levels")
            groups.union(first, b)
    reps = [int(b) for b in ids if groups.find(int(b)) == int(b)]
    rep_row = {b: i for i, b in enumerate(reps)}
    return np.array(reps, dtype=np.int64), np.array([rep_row[groups.find(int(b))] for b in ids], dtype=np.int64)


def _open_branch_ends(net, table: str, et: str, ends: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """``(open_from, open_to)`` bool per row of ``net[table]``: an open switch sits at that end."""
    df = net[table]
    open_from = np.zeros(len(df), dtype=bool)
    open_to = np.zeros(len(df), dtype=bool)
    sw = _has_rows(net, "switch")
    if sw is None or not len(df):
        return open_from, open_to
    sw = sw[(sw["et"] == et) & ~sw["closed"].astype(bool)]
    pos = {int(e): i for i, e in enumerate(df.index)}
    for idx, bus, element in zip(sw.index, sw["bus"], sw["element"], strict=True):
        i = pos.get(int(element))
        if i is None:
            raise UnsupportedElementError(f"switch {idx}: {table} {element} does not exist")
        if int(bus) == int(df[ends[0]].iloc[i]):
            open_from[i] = True
        elif int(bus) == int(df[ends[1]].iloc[i]):
            open_to[i] = True
        else:
            raise UnsupportedElementError(f"switch {idx}: bus {bus} is not an end of {table} {element}")
    return open_from, open_to


def _has_rows(net, table: str) -> pd.DataFrame | None:
    if table not in net or not isinstance(net[table], pd.DataFrame) or len(net[table]) == 0:
        return None
    df = net[table]
    if "in_service" in df:
        df = df[df["in_service"].astype(bool)]
    return df if len(df) else None


def _refuse_unsupported(net) -> None:
    for table in UNSUPPORTED_TABLES:
        df = _has_rows(net, table)
        if df is not None:
            raise UnsupportedElementError(
                f"{table} {list(df.index[:5])} in service: element type '{table}' is not supported "
                "by twingym.envs.power_grid (take it out of service or model it differently)")
    bus_out = net.bus.index[~net.bus["in_service"].astype(bool)]
    if len(bus_out):
        raise UnsupportedElementError(f"bus {list(bus_out[:5])} out of service: not supported")
    load = _has_rows(net, "load")
    if load is not None:
        for col in ("const_z_p_percent", "const_i_p_percent", "const_z_q_percent",
                    "const_i_q_percent", "const_z_percent", "const_i_percent"):
            if col in load and np.any(load[col].fillna(0).to_numpy() != 0):
                idx = load.index[load[col].fillna(0).to_numpy() != 0][:5]
                raise UnsupportedElementError(
                    f"load {list(idx)}: voltage-dependent load ({col}) is not supported")
    gen = _has_rows(net, "gen")
    if gen is not None and "slack" in gen and gen["slack"].fillna(False).astype(bool).any():
        idx = gen.index[gen["slack"].fillna(False).astype(bool)][:5]
        raise UnsupportedElementError(f"gen {list(idx)} with slack=True: only ext_grid slacks")
    shunt = _has_rows(net, "shunt")
    if shunt is not None and "step_dependency_table" in shunt and \
            shunt["step_dependency_table"].fillna(False).astype(bool).any():
        raise UnsupportedElementError("shunt with step_dependency_table=True is not supported")
    trafo = _has_rows(net, "trafo")
    if trafo is not None and "tap_dependency_table" in trafo and \
            trafo["tap_dependency_table"].fillna(False).astype(bool).any():
        idx = trafo.index[trafo["tap_dependency_table"].fillna(False).astype(bool)][:5]
        raise UnsupportedElementError(f"trafo {list(idx)}: tap_dependency_table is not supported")


def _col(df: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name not in df:
        return np.full(len(df), default, dtype=np.float64)
    return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)


def _str_col(df: pd.DataFrame, name: str) -> np.ndarray:
    if name not in df:
        return np.full(len(df), "", dtype=object)
    return df[name].astype(object).where(df[name].notna(), "").to_numpy()


def _trafo_taps(trafo: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tap-adjusted rated voltages (hv, lv) in kV and total phase shift in degrees."""
    vnh = _col(trafo, "vn_hv_kv", np.nan).copy()
    vnl = _col(trafo, "vn_lv_kv", np.nan).copy()
    shift = np.nan_to_num(_col(trafo, "shift_degree", 0.0))
    for suffix in ("", "2"):
        if f"tap{suffix}_pos" not in trafo:
            continue
        pos = _col(trafo, f"tap{suffix}_pos", np.nan)
        neutral = _col(trafo, f"tap{suffix}_neutral", np.nan)
        step_pct = np.nan_to_num(_col(trafo, f"tap{suffix}_step_percent", np.nan))
        step_deg = np.nan_to_num(_col(trafo, f"tap{suffix}_step_degree", np.nan))
        side = _str_col(trafo, f"tap{suffix}_side")
        kind = _str_col(trafo, f"tap{suffix}_changer_type")
        if f"tap{suffix}_changer_type" not in trafo and f"tap{suffix}_phase_shifter" in trafo:
            raise UnsupportedElementError("trafo: pre-3.0 tap_phase_shifter data; convert the net "
                                          "with pandapower 3 first")
        diff = np.nan_to_num(pos - neutral)
        for i in range(len(trafo)):
            if diff[i] == 0 or side[i] not in ("hv", "lv") or kind[i] == "":
                continue
            direction = 1.0 if side[i] == "hv" else -1.0
            vn = vnh if side[i] == "hv" else vnl
            if kind[i] == "Ideal":
                if step_deg[i] != 0:
                    shift[i] += direction * diff[i] * step_deg[i]
                else:
                    shift[i] += direction * 2 * math.degrees(math.asin(diff[i] * step_pct[i] / 200))
            elif kind[i] in ("Ratio", "Symmetrical"):
                du = vn[i] * diff[i] * step_pct[i] / 100
                ang = math.radians(step_deg[i])
                re, im = vn[i] + du * math.cos(ang), du * math.sin(ang)
                shift[i] += math.degrees(math.atan(direction * im / re))
                vn[i] = math.hypot(re, im)
            else:
                raise UnsupportedElementError(
                    f"trafo {trafo.index[i]}: tap changer type {kind[i]!r} is not supported")
    return vnh, vnl, shift


def _trafo_branches(net, trafo: pd.DataFrame, bus_row: dict, vn_bus: np.ndarray,
                    trafo_model: str) -> dict[str, np.ndarray]:
    sn = float(net.sn_mva)
    hv = np.array([bus_row[b] for b in trafo["hv_bus"]], dtype=np.int64)
    lv = np.array([bus_row[b] for b in trafo["lv_bus"]], dtype=np.int64)
    vnh, vnl, shift = _trafo_taps(trafo)
    vn_lv_rated = _col(trafo, "vn_lv_kv", np.nan)
    parallel = _col(trafo, "parallel", 1.0)
    sn_t = _col(trafo, "sn_mva", np.nan)
    vk, vkr = _col(trafo, "vk_percent", np.nan), _col(trafo, "vkr_percent", 0.0)
    # short-circuit impedance referred to the lv side, in pu of the lv bus voltage and sn_mva
    ref = (vnl / vn_bus[lv]) ** 2 * sn
    z = vk / 100.0 / sn_t * ref
    r = vkr / 100.0 / sn_t * ref
    x = np.sign(z) * np.sqrt(z ** 2 - r ** 2)
    r, x = r / parallel, x / parallel
    # magnetising admittance (negative b: inductive)
    base_z = vn_bus[lv] ** 2 / sn
    pfe = _col(trafo, "pfe_kw", 0.0) * 1e-3
    ym = _col(trafo, "i0_percent", 0.0) / 100.0 * sn_t
    b_mag = -np.sqrt(np.maximum(ym ** 2 - pfe ** 2, 0.0))
    scale = base_z * parallel / vn_lv_rated ** 2 / (vnl / vn_lv_rated) ** 2
    g, b = pfe * scale, b_mag * scale
    g_asym, b_asym = np.zeros_like(g), np.zeros_like(b)
    if trafo_model == "t":
        rr = np.nan_to_num(_col(trafo, "leakage_resistance_ratio_hv", 0.5), nan=0.5)
        xr = np.nan_to_num(_col(trafo, "leakage_reactance_ratio_hv", 0.5), nan=0.5)
        has = (g != 0) | (b != 0)
        za = r * rr + 1j * x * xr
        zb = r * (1 - rr) + 1j * x * (1 - xr)
        with np.errstate(divide="ignore", invalid="ignore"):
            zc = 1.0 / (g + 1j * b)
            zsum = za * zb + za * zc + zb * zc
            z_ab, z_ac, z_bc = zsum / zc, zsum / zb, zsum / za
            y_f, y_t = 1.0 / z_ac, 1.0 / z_bc
        r = np.where(has, z_ab.real, r)
        x = np.where(has, z_ab.imag, x)
        g_new, b_new = np.where(has, 2 * y_f.real, g), np.where(has, 2 * y_f.imag, b)
        g_asym = np.where(has, 2 * y_t.real - g_new, 0.0)
        b_asym = np.where(has, 2 * y_t.imag - b_new, 0.0)
        g, b = g_new, b_new
    elif trafo_model != "pi":
        raise ValueError(f"trafo_model must be 't' or 'pi', got {trafo_model!r}")
    ratio = (vnh / vnl) / (vn_bus[hv] / vn_bus[lv])
    return dict(f=hv, t=lv, r=r, x=x, g=g, b=b, g_asym=g_asym, b_asym=b_asym, tap=ratio,
                shift=shift)


def _costs(net, table: str, ids: np.ndarray, default: float) -> np.ndarray:
    cost = np.zeros((len(ids), 2))
    cost[:, 0] = default
    pc = net.get("poly_cost")
    if isinstance(pc, pd.DataFrame) and len(pc):
        rows = pc[pc["et"] == table]
        lookup = {int(e): (float(c1), float(c2)) for e, c1, c2 in
                  zip(rows["element"], rows["cp1_eur_per_mw"], rows["cp2_eur_per_mw2"], strict=True)}
        for i, e in enumerate(ids):
            if int(e) in lookup:
                cost[i] = lookup[int(e)]
    return cost


def _bus_xy(net, bus_ids: np.ndarray) -> np.ndarray:
    xy = np.full((len(bus_ids), 2), np.nan)
    if "geo" in net.bus:
        import json
        for i, g in enumerate(net.bus["geo"].loc[bus_ids].to_numpy()):
            if isinstance(g, str) and g:
                try:
                    c = json.loads(g).get("coordinates")
                    xy[i] = c[:2]
                except (ValueError, TypeError, AttributeError):
                    pass
    return xy


def _check_connected(n: int, f: np.ndarray, t: np.ndarray, on: np.ndarray, slack: int,
                     bus_ids: np.ndarray) -> None:
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b, s in zip(f, t, on, strict=True):
        if s:
            adj[a].append(b)
            adj[b].append(a)
    seen = np.zeros(n, dtype=bool)
    seen[slack] = True
    stack = [slack]
    while stack:
        for nb in adj[stack.pop()]:
            if not seen[nb]:
                seen[nb] = True
                stack.append(nb)
    if not seen.all():
        raise UnsupportedElementError(
            f"bus {list(bus_ids[~seen][:5])} not connected to the ext_grid: isolated buses are not "
            "supported (take them out of the net)")


def from_pandapower(net, trafo_model: str = "t", name: str = "") -> Network:
    """Convert ``net`` (a ``pandapowerNet``) into a :class:`Network`.

    Args:
        net: the pandapower network; only its input tables are read (no power flow is run).
        trafo_model: ``"t"`` (pandapower's default) or ``"pi"`` transformer equivalent circuit.
        name: label kept on the result.

    Raises:
        UnsupportedElementError: for any in-service element the model cannot represent.
    """
    _refuse_unsupported(net)
    sn = float(net.sn_mva)
    eg = _has_rows(net, "ext_grid")
    if eg is None:
        raise UnsupportedElementError("ext_grid: one in-service external grid (the slack) is required, found 0")
    bus_ids, net_rows = _fused_bus_rows(net, eg)
    bus_row = {int(b): int(r) for b, r in zip(net.bus.index, net_rows, strict=True)}
    vn_bus = net.bus["vn_kv"].loc[bus_ids].to_numpy(dtype=np.float64)
    n = len(bus_ids)

    # --- lines
    line = net.line if len(net.line) else net.line.iloc[:0]
    lf = np.array([bus_row[b] for b in line["from_bus"]], dtype=np.int64)
    lt = np.array([bus_row[b] for b in line["to_bus"]], dtype=np.int64)
    length = _col(line, "length_km", 1.0)
    par = _col(line, "parallel", 1.0)
    base_r = vn_bus[lf] ** 2 / sn
    l_r = _col(line, "r_ohm_per_km", 0.0) * length / base_r / par
    l_x = _col(line, "x_ohm_per_km", 0.0) * length / base_r / par
    l_b = 2 * math.pi * float(net.f_hz) * _col(line, "c_nf_per_km", 0.0) * 1e-9 * base_r * length * par
    l_g = np.nan_to_num(_col(line, "g_us_per_km", 0.0)) * 1e-6 * base_r * length * par
    line_imax = _col(line, "max_i_ka", np.inf) * _col(line, "df", 1.0) * par
    line_on = line["in_service"].to_numpy(dtype=bool) if len(line) else np.zeros(0, bool)
    line_open = _open_branch_ends(net, "line", "l", ("from_bus", "to_bus"))

    # --- trafos
    trafo = net.trafo if len(net.trafo) else net.trafo.iloc[:0]
    if len(trafo):
        tb = _trafo_branches(net, trafo, bus_row, vn_bus, trafo_model)
        trafo_on = trafo["in_service"].to_numpy(dtype=bool)
        trafo_open = _open_branch_ends(net, "trafo", "t", ("hv_bus", "lv_bus"))
        trafo_sn = _col(trafo, "sn_mva", np.nan) * _col(trafo, "df", 1.0) * _col(trafo, "parallel", 1.0)
        trafo_vn = np.stack([_col(trafo, "vn_hv_kv", np.nan), _col(trafo, "vn_lv_kv", np.nan)], 1)
    else:
        z = np.zeros(0)
        tb = dict(f=z.astype(np.int64), t=z.astype(np.int64), r=z, x=z, g=z, b=z, g_asym=z,
                  b_asym=z, tap=z, shift=z)
        trafo_on, trafo_sn, trafo_vn = np.zeros(0, bool), z, np.zeros((0, 2))
        trafo_open = (np.zeros(0, bool), np.zeros(0, bool))
    nl, nt = len(lf), len(tb["f"])
    cat = np.concatenate
    br_on = cat([line_on, trafo_on])
    rating = cat([line_imax * vn_bus[lf] * math.sqrt(3), trafo_sn])
    rating = np.where(np.isfinite(rating) & (rating > 0) & (rating < NO_RATING_MVA), rating, np.inf)

    # --- slack (several external grids with one set point were fused into one bus above)
    slack = bus_row[int(eg["bus"].iloc[0])]

    # --- gens
    gen = _has_rows(net, "gen")
    gen = gen if gen is not None else net.gen.iloc[:0]
    g_bus = np.array([bus_row[b] for b in gen["bus"]], dtype=np.int64)
    g_vm = _col(gen, "vm_pu", 1.0)
    if np.any(g_bus == slack):
        raise UnsupportedElementError(
            f"gen {list(gen.index[g_bus == slack][:5])} at the ext_grid bus: not supported")
    for b in np.unique(g_bus):
        vms = g_vm[g_bus == b]
        if np.ptp(vms) > 1e-12:
            raise UnsupportedElementError(f"gen {list(gen.index[g_bus == b])}: different vm_pu "
                                          f"set points at bus {bus_ids[b]}")
    g_scale = np.nan_to_num(_col(gen, "scaling", 1.0), nan=1.0)

    # --- loads, sgens, shunts
    load = _has_rows(net, "load")
    load = load if load is not None else net.load.iloc[:0]
    ld_scale = np.nan_to_num(_col(load, "scaling", 1.0), nan=1.0)
    sgen = _has_rows(net, "sgen")
    sgen = sgen if sgen is not None else net.sgen.iloc[:0]
    sg_scale = np.nan_to_num(_col(sgen, "scaling", 1.0), nan=1.0)
    shunt_y = np.zeros(n, dtype=np.complex128)
    sh = _has_rows(net, "shunt")
    if sh is not None:
        sb = np.array([bus_row[b] for b in sh["bus"]], dtype=np.int64)
        sh_vn = _col(sh, "vn_kv", np.nan)
        sh_vn = np.where(np.isfinite(sh_vn), sh_vn, vn_bus[sb])
        k = np.nan_to_num(_col(sh, "step", 1.0), nan=1.0) * (vn_bus[sb] / sh_vn) ** 2
        np.add.at(shunt_y, sb, (_col(sh, "p_mw", 0.0) * k - 1j * _col(sh, "q_mvar", 0.0) * k) / sn)

    br_f, br_t = cat([lf, tb["f"]]), cat([lt, tb["t"]])
    br_r, br_x = cat([l_r, tb["r"]]), cat([l_x, tb["x"]])
    br_g, br_b = cat([l_g, tb["g"]]), cat([l_b, tb["b"]])
    br_g_asym, br_b_asym = cat([np.zeros(nl), tb["g_asym"]]), cat([np.zeros(nl), tb["b_asym"]])
    br_tap, br_shift = cat([np.ones(nl), tb["tap"]]), cat([np.zeros(nl), tb["shift"]])
    # open switches: the branch leaves the flow, what its connected end still draws stays as a shunt
    open_from = cat([line_open[0], trafo_open[0]]) & br_on
    open_to = cat([line_open[1], trafo_open[1]]) & br_on
    ports = two_port(br_r, br_x, br_g, br_b, br_g_asym, br_b_asym, br_tap, br_shift, br_on)
    stray = _open_end_shunt(*ports, open_from, open_to)
    np.add.at(shunt_y, np.where(open_to, br_f, br_t), stray)
    br_on = br_on & ~(open_from | open_to)
    _check_connected(n, br_f, br_t, br_on, slack, bus_ids)
    xy = _bus_xy(net, bus_ids)
    gen_ids = gen.index.to_numpy()
    return Network(
        name=name or str(getattr(net, "name", "") or "net"), sn_mva=sn, f_hz=float(net.f_hz),
        bus_ids=bus_ids, bus_vn_kv=vn_bus, bus_xy=xy,
        br_from=br_f, br_to=br_t, br_r=br_r, br_x=br_x, br_g=br_g, br_b=br_b,
        br_g_asym=br_g_asym, br_b_asym=br_b_asym, br_tap=br_tap, br_shift_deg=br_shift,
        br_in_service=br_on, br_is_trafo=cat([np.zeros(nl, bool), np.ones(nt, bool)]),
        br_ids=cat([line.index.to_numpy(), trafo.index.to_numpy()]).astype(np.int64),
        line_imax_ka=line_imax, trafo_sn_mva=trafo_sn, trafo_vn_kv=trafo_vn,
        br_rating_mva=rating, shunt_y=shunt_y,
        load_bus=np.array([bus_row[b] for b in load["bus"]], dtype=np.int64),
        load_p_mw=_col(load, "p_mw", 0.0) * ld_scale, load_q_mvar=_col(load, "q_mvar", 0.0) * ld_scale,
        sgen_bus=np.array([bus_row[b] for b in sgen["bus"]], dtype=np.int64),
        sgen_p_mw=_col(sgen, "p_mw", 0.0) * sg_scale, sgen_q_mvar=_col(sgen, "q_mvar", 0.0) * sg_scale,
        gen_bus=g_bus, gen_p_mw=_col(gen, "p_mw", 0.0) * g_scale, gen_vm_pu=g_vm,
        gen_min_p_mw=np.nan_to_num(_col(gen, "min_p_mw", 0.0)),
        gen_max_p_mw=np.nan_to_num(_col(gen, "max_p_mw", np.nan), nan=np.inf),
        gen_cost=_costs(net, "gen", gen_ids, 30.0),
        slack_bus=slack, slack_vm_pu=float(eg["vm_pu"].iloc[0]),
        slack_va_deg=float(np.nan_to_num(eg["va_degree"].iloc[0])),
        slack_min_p_mw=float(np.sum(np.nan_to_num(_col(eg, "min_p_mw", np.nan), nan=-np.inf))),
        slack_max_p_mw=float(np.sum(np.nan_to_num(_col(eg, "max_p_mw", np.nan), nan=np.inf))),
        slack_cost=_costs(net, "ext_grid", eg.index.to_numpy(), 30.0)[0],
        net_bus_ids=net.bus.index.to_numpy().astype(np.int64), net_bus_rows=net_rows,
    )
