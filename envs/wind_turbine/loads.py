"""Structural load signals of the turbine twin, derived from its rotor and drivetrain states.

The twin has a rigid tower and a rigid one-mass drivetrain (``dynamics.py``), so the loads below are
the quasi-static internal loads those rigid bodies carry; what a flexible model would add is named
with each.

- **Tower-base fore-aft bending moment** (N m): the rotor thrust acting at hub height above the
  tower base, ``M_tb = T * z_hub``. The constant moment of the rotor-nacelle weight about the tower
  axis does not change a load range and is left out; the tower's own dynamics (first fore-aft mode
  0.32 Hz for the NREL 5-MW, Jonkman et al. 2009 Table 6-1) and the wind drag on the tower are not
  modelled, so the moment has no resonant part.
- **Low-speed shaft torque** (N m): the torque the shaft passes from the rotor to the gearbox. With
  the rotor (``J_r``) and the generator referred to the low-speed shaft (``J_g = N^2 J_gen,HSS``)
  turning together, ``J_r dw/dt = Q_aero - Q_shaft`` and ``J_g dw/dt = Q_shaft - N Q_gen`` give::

      Q_shaft = (J_g Q_aero + J_r N Q_gen) / (J_r + J_g),    J_r + J_g = J (the twin's inertia)

  i.e. the shaft torque is mostly the generator torque seen through the gearbox (NREL 5-MW: the
  generator holds 11.5 % of ``J``), with the rest of the aerodynamic torque's fluctuation. The
  shaft's torsional mode (drivetrain stiffness and damping) is not modelled.
- **Blade root bending moments**: not given. The twin has no blade, azimuth, wind shear or
  gravity model; the root moments' fatigue is driven by rotational sampling of turbulence and the
  once-per-revolution gravity and shear cycles, none of which a collective-rotor model produces.

Generator inertias (HSS) come from the turbine's published definition: NREL 5-MW 534.116 kg m^2
(Jonkman et al. 2009, Table 5-1). A turbine without a published figure gets ``generator_inertia =
0`` (the shaft then carries ``N Q_gen``); pass ``generator_inertia=`` (LSS-referred) to set one.
"""

from __future__ import annotations

from typing import Any

#: generator rotor inertia about the high-speed shaft (kg m^2) by turbine spec name.
GENERATOR_INERTIA_HSS: dict[str, float] = {
    "nrel_5MW_rosco": 534.116,        # Jonkman et al. 2009, NREL/TP-500-38060, Table 5-1
}


def generator_inertia_lss(turbine_name: str, gearbox_ratio: float) -> float:
    """Generator rotor inertia referred to the low-speed shaft (kg m^2): ``N^2 J_gen,HSS``, 0 for a
    turbine without a published figure (:data:`GENERATOR_INERTIA_HSS`)."""
    return float(GENERATOR_INERTIA_HSS.get(turbine_name, 0.0)) * float(gearbox_ratio) ** 2


def tower_base_moment(thrust: Any, params: Any) -> Any:
    """Quasi-static tower-base fore-aft bending moment (N m) from the rotor thrust ``thrust`` (N)."""
    return thrust * params.hub_height


def shaft_torque(aero_torque: Any, gen_torque: Any, params: Any) -> Any:
    """Low-speed shaft torque (N m) of the rigid two-inertia drivetrain, from the aerodynamic
    torque ``aero_torque`` (N m, LSS) and the generator torque ``gen_torque`` (N m, HSS)."""
    share = params.generator_inertia / params.inertia          # J_g / J, in [0, 1)
    return share * aero_torque + (1.0 - share) * params.gearbox_ratio * gen_torque
