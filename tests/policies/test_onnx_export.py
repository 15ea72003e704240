"""policy.onnx against the numpy reference PolicySpec.act, for every head, activation and batch size."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from specs import random_spec
from twingym.agents.policy_spec import DenseLayer, PolicySpec
from twingym.policies.onnx_export import ExportError, build_model, export_bytes, load_spec, save_spec
from twingym.policies.runtime import OnnxPolicy

CASES = [
    ("clip", {"out": 4}),
    ("scale_clip", {"out": 3}),
    ("tanh_scale", {"out": 2}),
    ("argmax", {"nvec": (5,)}),
    ("multi_argmax", {"nvec": (3, 5, 2)}),
]


@pytest.mark.parametrize(("transform", "kw"), CASES)
@pytest.mark.parametrize("activation", ["tanh", "relu", "elu"])
def test_onnx_matches_reference(transform, kw, activation):
    spec = random_spec(7, transform, activation=activation, seed=hash((transform, activation)) % 1000, **kw)
    policy = OnnxPolicy(export_bytes(spec))
    rng = np.random.default_rng(1)
    obs = (rng.normal(size=(2000, 7)) * 4).astype(np.float32)  # wide enough to hit the obs and action clips
    got, want = policy.act(obs), spec.act(obs)
    assert got.shape == want.shape
    if transform in ("argmax", "multi_argmax"):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)
    else:
        span = spec.action_high - spec.action_low
        assert np.max(np.abs(got - want) / span) < 1e-5
        assert np.all((got >= spec.action_low) & (got <= spec.action_high))
        # the clips were exercised: some actions sit on a bound
        assert np.any(got == spec.action_low) or np.any(got == spec.action_high) or transform == "tanh_scale"


def test_batch_dimension_is_dynamic():
    spec = random_spec(5, "scale_clip", out=2)
    model = build_model(spec)
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param == "batch"
    policy = OnnxPolicy(export_bytes(spec))
    obs = np.random.default_rng(0).normal(size=(33, 5)).astype(np.float32)
    batched = policy.act(obs)
    for n in (1, 2, 33):
        np.testing.assert_array_equal(policy.act(obs[:n]), batched[:n])
    np.testing.assert_array_equal(policy.act(obs[3]), batched[3])  # a single unbatched observation


def test_normalisation_is_inside_the_graph():
    """A spec whose normalisation matters: the graph must give the same action as the reference, and a
    different one than the same MLP without normalisation."""
    spec = random_spec(4, "clip", out=1, hidden=())
    spec.obs_mean = np.array([10.0, -5.0, 100.0, 0.0], np.float32)
    spec.obs_var = np.array([4.0, 9.0, 400.0, 1.0], np.float32)
    spec.action_low, spec.action_high = np.array([-1e6], np.float32), np.array([1e6], np.float32)
    obs = np.array([[12.0, -2.0, 120.0, 1.0]], np.float32)
    got = OnnxPolicy(export_bytes(spec)).act(obs)
    np.testing.assert_allclose(got, spec.act(obs), rtol=1e-6)
    z = (obs - spec.obs_mean) / np.sqrt(spec.obs_var + spec.obs_epsilon)
    np.testing.assert_allclose(got, z @ spec.layers[0].weight + spec.layers[0].bias, rtol=1e-5)


def test_export_is_deterministic_and_valid_onnx():
    spec = random_spec(6, "tanh_scale", out=3)
    a, b = export_bytes(spec), export_bytes(spec)
    assert a == b
    onnx.checker.check_model(onnx.load_from_string(a), full_check=True)


def test_spec_npz_round_trip():
    for transform, kw in CASES:
        spec = random_spec(6, transform, **kw)
        back = load_spec(save_spec(spec))
        obs = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
        np.testing.assert_array_equal(back.act(obs), spec.act(obs))
        assert back.action_transform == spec.action_transform and back.nvec == spec.nvec


def test_unbounded_obs_clip_exports():
    spec = random_spec(3, "clip", out=2)
    spec.obs_clip = float("inf")
    obs = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32) * 50
    np.testing.assert_allclose(OnnxPolicy(export_bytes(spec)).act(obs), spec.act(obs), atol=1e-5)
    assert load_spec(save_spec(spec)).obs_clip == float("inf")


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda s: setattr(s, "obs_mean", np.zeros(2, np.float32)), "obs_mean has shape"),
    (lambda s: setattr(s, "layers", [DenseLayer(np.zeros((4, 2), np.float32), np.zeros(2, np.float32))]),
     "layer 0 weight"),
    (lambda s: setattr(s, "action_transform", "softmax"), "unknown action transform"),
    (lambda s: setattr(s, "action_high", s.action_low - 1), "action_low must be <= action_high"),
    (lambda s: s.layers[0].weight.__setitem__((0, 0), np.nan), "non-finite weights"),
])
def test_bad_specs_are_refused(mutate, message):
    spec = random_spec(3, "scale_clip", out=2)
    mutate(spec)
    with pytest.raises(ExportError, match=message):
        export_bytes(spec)


def test_multi_argmax_nvec_must_match_logits():
    spec = random_spec(3, "multi_argmax", nvec=(2, 3))
    spec.nvec = (2, 2)
    with pytest.raises(ExportError, match="nvec"):
        export_bytes(spec)
    assert isinstance(spec, PolicySpec)
