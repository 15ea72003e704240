"""The config schema: shipped configs validate, bad input fails with one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import twingym.envs as twin_envs
from twingym.training.config import (
    ConfigError,
    apply_overrides,
    load_config,
    packaged_configs,
    parse_config,
    parse_scalar,
    resolve_config_path,
)

from twingym.cli import app
from twingym.cli.errors import run_guarded

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"
BASE = {"twin": "ToyTank-v0", "total_steps": 100, "agent": {"backend": "jax_ppo"}}


def test_every_shipped_config_validates_and_names_a_builtin_twin():
    files = sorted(REPO_CONFIGS.glob("*/*.yaml"))
    folders = {f.parent.name for f in files}
    assert folders >= {"wind_farm", "wind_turbine", "power_grid", "assembly_cell"}
    for twin in ("wind_farm", "wind_turbine", "power_grid", "assembly_cell"):
        names = {f.name for f in files if f.parent.name == twin}
        assert names >= {"ppo_jax.yaml", "ppo_sb3.yaml", "ppo_rllib.yaml"}, twin
    assert (REPO_CONFIGS / "wind_farm" / "sac_sb3.yaml").is_file()
    known = set(twin_envs.BUILTIN_TWINS) | {"WindFarm-v0", "PowerGrid-v0", "WindTurbine-v0", "AssemblyCell-v0"}
    backend_of = {"ppo_jax": "jax_ppo", "ppo_sb3": "sb3_ppo", "ppo_rllib": "rllib_ppo", "sac_sb3": "sb3_sac"}
    for f in files:
        cfg = load_config(str(f))
        assert cfg.twin in known, f
        # a named scenario config (e.g. power_grid/congested.yaml) may use any backend
        assert cfg.backend == backend_of.get(f.stem, cfg.backend) and cfg.backend in backend_of.values(), f


def test_packaged_name_resolves_to_the_shipped_file():
    assert resolve_config_path("wind_farm/ppo_jax") == packaged_configs() / "wind_farm" / "ppo_jax.yaml"
    assert load_config("configs/wind_farm/ppo_jax.yaml").twin == "WindFarm-v0"
    with pytest.raises(FileNotFoundError, match="not found"):
        resolve_config_path("wind_farm/nope")


@pytest.mark.parametrize("data, needle", [
    ({**BASE, "totl_steps": 5}, "unknown config key 'totl_steps'"),
    ({**BASE, "agent": {"backend": "jax_ppo", "learning_rat": 1}}, "unknown config key 'agent.learning_rat'"),
    ({**BASE, "agent": {"backend": "jax_ppo", "num_envs": "many"}}, "config key 'agent.num_envs'"),
    ({**BASE, "agent": {"backend": "jax_ppo", "num_envs": -1}}, "greater than 0"),
    ({**BASE, "agent": {"backend": "tf_ppo"}}, "agent.backend must be one of jax_ppo"),
    ({"twin": "ToyTank-v0", "agent": {"backend": "sb3_ppo"}}, "missing config key 'total_steps'"),
    ({**BASE, "eval": {"episodes": 0}}, "config key 'eval.episodes'"),
])
def test_bad_config_fails_with_one_line_naming_the_key(data, needle):
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_set_overrides_parse_yaml_scalars():
    data = apply_overrides(BASE, ["agent.learning_rate=1e-3", "agent.hidden_sizes=[8, 8]", "seed=7",
                                  "agent.anneal_lr=false", "env_params.noise_std=0.05"])
    cfg = parse_config(data)
    assert cfg.agent.learning_rate == pytest.approx(1e-3)
    assert cfg.agent.hidden_sizes == [8, 8] and cfg.seed == 7 and cfg.agent.anneal_lr is False
    assert cfg.env_params == {"noise_std": 0.05}
    assert BASE["agent"] == {"backend": "jax_ppo"}  # the input is not mutated
    assert parse_scalar("3e-4") == pytest.approx(3e-4) and parse_scalar("abc") == "abc"
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(BASE, ["seed"])


@pytest.mark.parametrize("args, needle", [
    (["train", "configs/wind_farm/ppo_jax.yaml", "--set", "agent.lr=1"], "unknown config key 'agent.lr'"),
    (["train", "configs/wind_farm/ppo_jax.yaml", "--set", "total_steps=lots"], "config key 'total_steps'"),
    (["train", "no/such/config.yaml"], "not found"),
    (["train"], "give a CONFIG"),
    (["train", "--resume", "/nonexistent/run"], "does not exist"),
    (["evaluate", "baseline:p_control"], "needs --twin"),
    (["evaluate", "baseline:nope", "--twin", "ToyTank-v0"], "has no baseline 'nope'"),
])
def test_cli_user_errors_are_one_line_exit_2(args, needle, capsys, tmp_path):
    assert run_guarded(app, args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("config, needle", [
    ("twin: NoSuch-v0\ntotal_steps: 10\nagent: {backend: jax_ppo}\n", "unknown twin 'NoSuch-v0'"),
    ("twin: ToyTank-v0\ntotal_steps: 10\nagent: {backend: jax_ppo}\nenv_params: {bogus: 1}\n", "bogus"),
    ("twin: ToyTank-v0\ntotal_steps: 10\nagent: {backend: jax_ppo}\ntrain_scenarios: [nominal, windy]\n",
     "unknown scenario(s) windy"),
    ("twin: ToyTank-v0\ntotal_steps: 10\nagent: {backend: sb3_ppo}\ntrain_scenarios: [nominal]\n",
     "jax_ppo backend only"),
])
def test_bad_twin_params_or_scenarios_fail_before_training(config, needle, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config)
    assert run_guarded(app, ["train", str(cfg), "--set", f"run.root={tmp_path}"]) == 2
    assert needle in capsys.readouterr().err
    assert not list(tmp_path.glob("ToyTank*"))  # no run directory was created


def test_every_registered_backend_is_complete_and_an_unknown_one_is_one_line(tmp_path):
    """Each registry entry resolves: its hyperparameter model carries its name as the schema tag, its
    train loop is callable, its policy module has the export interface and its sweep space parses."""
    from twingym.agents import BACKENDS, UnknownBackendError, backend, run_backend
    from twingym.training.config import TrainConfig
    from twingym.training.sweep import trial_config

    for name, entry in BACKENDS.items():
        assert entry.params_model().model_fields["backend"].default == name
        assert callable(entry.train_function())
        module = entry.policy_module()
        assert all(callable(getattr(module, f)) for f in ("policy_spec", "load_actor", "deterministic_actions"))
        base = {**BASE, "agent": {"backend": name}}
        cfg = parse_config(base)
        assert isinstance(cfg, TrainConfig)
        (copies, _), (samples, _) = cfg.agent.batch_sizes()
        assert 0 < copies <= samples
        for key in entry.sweep_space:
            trial_config(base, {key: 0.5 if "rate" not in key else 1e-3}, str(tmp_path), "check")
    with pytest.raises(UnknownBackendError) as err:
        backend("tf_ppo")
    assert str(err.value) == "unknown agent.backend 'tf_ppo'; expected one of " + ", ".join(BACKENDS)
    (tmp_path / "config.yaml").write_text("agent: {backend: tf_ppo}\n")
    with pytest.raises(UnknownBackendError, match=r"config.yaml: unknown agent.backend 'tf_ppo'"):
        run_backend(tmp_path)
