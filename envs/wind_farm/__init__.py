"""WindFarm-v0: a wind farm twin with a FLORIS-grade Gaussian wake model in JAX."""

from twingym.envs.wind_farm.farm import FarmModel, default_model, farm_power, solve_condition

__all__ = ["FarmModel", "default_model", "farm_power", "solve_condition"]
