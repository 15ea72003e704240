"""State and params of the wind turbine twin (immutable pytrees; see env.py for the dynamics)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from flax import struct
from twingym.envs.wind_turbine.baselines import (
    ReferenceControllerParams,
)
from twingym.envs.wind_turbine.rosco_controller import RoscoControllerParams


@struct.dataclass
class WindTurbineParams:
    """Everything physical of the twin. Units SI unless named; HSS = generator side."""

    # --- turbine (ROSCO DISCON.IN and Cp_Ct_Cq surfaces; hub height from the FLORIS file)
    rotor_radius: float              # m
    hub_height: float                # m
    gearbox_ratio: float             # -
    inertia: float                   # kg m^2, drivetrain on the LSS
    air_density: float               # kg/m^3
    generator_efficiency: float      # 0..1
    rated_power: float               # W, electrical
    rated_gen_speed: float           # rad/s, HSS
    shutdown_gen_speed: float        # rad/s, HSS (SD_MaxGenSpd): overspeed shutdown, terminates
    min_gen_torque: float            # N m, HSS
    max_gen_torque: float            # N m, HSS
    max_torque_rate: float           # N m/s, HSS
    min_pitch: float                 # rad
    max_pitch: float                 # rad (physical limit)
    pitch_cmd_max: float             # rad, upper end of the pitch command range
    pitch_cmd_rate: float            # rad/s, largest pitch command change (rate actions; PC_MaxRat)
    pitch_rate_max: float            # rad/s, actuator rate limit (8 deg/s, Jonkman 2009)
    pitch_tau: float                 # s, actuator lag (1 / PA_CornerFreq)
    speed_filter_corner: float       # rad/s, low-pass of the measured speed (F_LPFCornerFreq)
    tsr_grid: jax.Array              # (n_tsr,) -
    pitch_grid: jax.Array            # (n_pitch,) rad
    coefficients: jax.Array          # (3, n_tsr, n_pitch): Cp, Ct, Cq
    cp_max: float                    # max of the Cp surface (unscaled)
    cp_scale: float                  # multiplies Cp and Cq (surface shift scenarios)
    ct_scale: float                  # multiplies Ct
    # --- steady operating points of the reference controller (episode start), and load scales
    ss_wind: jax.Array               # (m,) m/s
    ss_omega: jax.Array              # (m,) rad/s
    ss_pitch: jax.Array              # (m,) rad
    ss_torque: jax.Array             # (m,) N m, HSS
    rated_thrust: float              # N, steady thrust at rated wind
    rated_aero_torque: float         # N m, LSS, rated mechanical torque
    # --- wind
    wind_mean_min: float             # m/s
    wind_mean_max: float             # m/s
    turbulence_intensity: float      # sigma / U
    turbulence_length: float         # m, Kaimal L
    turbulence_time_factors: jax.Array  # (K,) T_k = c_k L / U
    turbulence_weights: jax.Array    # (K,) variance fractions
    gust_scale: float                # 0: no gust; 1: IEC extreme operating gust
    gust_iref: float                 # IEC reference turbulence intensity for the EOG
    gust_duration: float             # s
    ramp_delta: float                # m/s, change of the mean wind (0: none)
    ramp_duration: float             # s
    event_window: jax.Array          # (2,) fraction of the episode where gusts/ramps may start
    # --- sensors
    sensor_noise: float              # multiplier of the noise levels below
    noise_speed: float               # fraction of rated rotor speed
    noise_pitch_deg: float           # deg
    noise_torque: float              # fraction of max generator torque
    noise_power: float               # fraction of rated power
    # --- reward and cost
    w_power: float
    w_pitch: float
    w_torque_rate: float
    w_tower: float
    w_drivetrain: float
    w_cost: float                    # reward penalty per cost event
    fatigue_tau: float               # s
    shutdown_penalty: float
    overspeed_factor: float
    overpower_factor: float
    controller: ReferenceControllerParams | RoscoControllerParams
    # --- residual action mode: the largest correction on top of the reference controller
    residual_torque: float = 4000.0  # N m, HSS (half of VS_MaxRat * dt)
    residual_pitch: float = float(np.deg2rad(1.0))  # rad (half of PC_MaxRat * dt)
    # --- load signals: the generator's share of the drivetrain inertia splits the shaft torque
    generator_inertia: float = 0.0   # kg m^2, generator rotor referred to the LSS (N^2 x HSS inertia)
    dt: float = 0.2                  # s, control step
    max_steps: int = struct.field(pytree_node=False, default=600)
    action_mode: str = struct.field(pytree_node=False, default="rate")  # rate | absolute | residual
    n_substeps: int = struct.field(pytree_node=False, default=2)
    history_len: int = struct.field(pytree_node=False, default=60)
    history_every: int = struct.field(pytree_node=False, default=5)
    # observation bounds (8,), set from the turbine's rated figures (``observation_bounds``)
    obs_low: tuple = struct.field(pytree_node=False, default=(0.0, 0.0, -10.0, -5.0, -1.0, 0.0, 0.0, 0.0))
    obs_high: tuple = struct.field(pytree_node=False, default=(30.0, 30.0, 95.0, 60.0, 10.0, 60.0, 35.0, 1.0))


@struct.dataclass
class WindTurbineState:
    """State of one turbine episode (float32 scalars unless shaped)."""

    time: jax.Array                  # int32, steps since the episode began
    omega: jax.Array                 # rad/s, rotor speed (LSS)
    pitch: jax.Array                 # rad, collective pitch
    gen_torque: jax.Array            # N m, HSS
    torque_setpoint: jax.Array       # N m, HSS, generator torque command held
    pitch_setpoint: jax.Array        # rad, pitch command held
    speed_filtered: jax.Array        # rad/s, low-pass of the measured rotor speed
    turbulence: jax.Array            # (K,) m/s, AR components
    wind_mean: jax.Array             # m/s, episode mean wind before any ramp
    ramp_start: jax.Array            # s
    gust_start: jax.Array            # s
    gust_amplitude: jax.Array        # m/s
    wind: jax.Array                  # m/s, current hub wind
    power: jax.Array                 # W, electrical
    thrust_lp: jax.Array             # N, low-passed thrust
    torque_lp: jax.Array             # N m, low-passed low-speed shaft torque
    measured: jax.Array              # (4,) the last noisy sensor sample (rotor speed rad/s, pitch rad, torque N m, power W)
    ref_carry: Any                   # the reference controller's state (residual mode; pytree of float32)
    history: jax.Array               # (4, history_len): HISTORY_ROWS, one sample per history_every
