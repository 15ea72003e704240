"""Build the ONNX graph of a :class:`~twingym.agents.policy_spec.PolicySpec` with ``onnx.helper``.

The graph maps the raw, flattened observation to the deterministic action in the twin's units:

    observation (batch, obs_dim) float32
      -> (x - mean) / sqrt(var + eps) -> clip(-obs_clip, obs_clip)        normalisation
      -> [MatMul -> Add -> Tanh|Relu|Elu] x n_layers                      MLP
      -> head: clip | scale_clip | tanh_scale -> clip(low, high)          continuous, float32
               argmax | multi_argmax                                     discrete, int64
    action (batch, act_dim) float32  |  (batch,) int64  |  (batch, len(nvec)) int64

The batch dimension is symbolic (``"batch"``). Constants are computed in float32 numpy exactly as
:meth:`PolicySpec.act` computes them, so ONNX and the numpy reference agree to float rounding.
Continuous heads end with an element-wise clip to ``[low, high]`` so actions are inside the action
space even at the last ulp. No torch, no JAX: only ``onnx``.

:func:`save_spec` / :func:`load_spec` store a PolicySpec as a pickle-free ``.npz`` (the bundle keeps
one as the reference that validation's equivalence gate compares ``policy.onnx`` against).
"""

from __future__ import annotations

import io
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from twingym.agents.policy_spec import DenseLayer, PolicySpec

#: ONNX opset of exported graphs (onnxruntime >= 1.14 runs it).
OPSET = 17
INPUT_NAME = "observation"
OUTPUT_NAME = "action"
CONTINUOUS = ("clip", "scale_clip", "tanh_scale")
DISCRETE = ("argmax", "multi_argmax")


class ExportError(ValueError):
    """A PolicySpec that cannot be exported (inconsistent shapes, unknown head)."""


def action_dim(spec: PolicySpec) -> int:
    """Width of the MLP's last layer (the raw head output)."""
    return int(spec.layers[-1].weight.shape[1]) if spec.layers else int(spec.obs_dim)


def check_spec(spec: PolicySpec) -> None:
    """Raise :class:`ExportError` naming the first inconsistency of ``spec``."""
    if spec.obs_dim < 1:
        raise ExportError(f"obs_dim must be >= 1, got {spec.obs_dim}")
    for name in ("obs_mean", "obs_var"):
        arr = np.asarray(getattr(spec, name))
        if arr.shape != (spec.obs_dim,):
            raise ExportError(f"{name} has shape {arr.shape}, expected ({spec.obs_dim},)")
        if not np.all(np.isfinite(arr)):
            raise ExportError(f"{name} holds non-finite values")
    if np.any(np.asarray(spec.obs_var) + spec.obs_epsilon <= 0):
        raise ExportError("obs_var + obs_epsilon must be > 0 everywhere")
    width = spec.obs_dim
    for i, layer in enumerate(spec.layers):
        w, b = np.asarray(layer.weight), np.asarray(layer.bias)
        if w.ndim != 2 or w.shape[0] != width:
            raise ExportError(f"layer {i} weight has shape {w.shape}, expected ({width}, out)")
        if b.shape != (w.shape[1],):
            raise ExportError(f"layer {i} bias has shape {b.shape}, expected ({w.shape[1]},)")
        if layer.activation not in ("tanh", "relu", "elu", "none"):
            raise ExportError(f"layer {i} has unknown activation {layer.activation!r}")
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise ExportError(f"layer {i} holds non-finite weights")
        width = w.shape[1]
    t = spec.action_transform
    if t in CONTINUOUS:
        if spec.action_low is None or spec.action_high is None:
            raise ExportError(f"action transform {t!r} needs action_low and action_high")
        low, high = np.asarray(spec.action_low), np.asarray(spec.action_high)
        if low.shape != (width,) or high.shape != (width,):
            raise ExportError(f"action bounds have shapes {low.shape}/{high.shape}, expected ({width},)")
        if np.any(low > high):
            raise ExportError("action_low must be <= action_high")
        if t != "clip" and not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ExportError(f"action transform {t!r} needs finite action bounds")
    elif t == "argmax":
        if spec.nvec is not None and tuple(spec.nvec) != (width,):
            raise ExportError(f"argmax head has {width} logits but nvec={spec.nvec}")
    elif t == "multi_argmax":
        if not spec.nvec or sum(spec.nvec) != width:
            raise ExportError(f"multi_argmax head has {width} logits but nvec={spec.nvec}")
    else:
        raise ExportError(f"unknown action transform {t!r}")


def _const(nodes: list, inits: list, name: str, value: np.ndarray) -> str:
    inits.append(numpy_helper.from_array(np.asarray(value), name=name))
    return name


def build_model(spec: PolicySpec, *, doc: str = "", metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """The ONNX model of ``spec`` (checked with ``onnx.checker``)."""
    check_spec(spec)
    f32 = np.float32
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def node(op: str, inputs: list[str], out: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    mean = np.asarray(spec.obs_mean, dtype=f32)
    std = np.sqrt(np.asarray(spec.obs_var, dtype=f32) + spec.obs_epsilon).astype(f32)
    x = node("Sub", [INPUT_NAME, _const(nodes, inits, "obs_mean", mean)], "obs_centred")
    x = node("Div", [x, _const(nodes, inits, "obs_std", std)], "obs_scaled")
    if np.isfinite(spec.obs_clip):
        c = f32(spec.obs_clip)
        x = node("Clip", [x, _const(nodes, inits, "obs_clip_lo", np.array(-c, dtype=f32)),
                          _const(nodes, inits, "obs_clip_hi", np.array(c, dtype=f32))], "obs_norm")
    for i, layer in enumerate(spec.layers):
        w = _const(nodes, inits, f"l{i}_weight", np.asarray(layer.weight, dtype=f32))
        b = _const(nodes, inits, f"l{i}_bias", np.asarray(layer.bias, dtype=f32))
        x = node("MatMul", [x, w], f"l{i}_matmul")
        x = node("Add", [x, b], f"l{i}_linear")
        if layer.activation == "tanh":
            x = node("Tanh", [x], f"l{i}_tanh")
        elif layer.activation == "relu":
            x = node("Relu", [x], f"l{i}_relu")
        elif layer.activation == "elu":
            x = node("Elu", [x], f"l{i}_elu", alpha=1.0)

    t = spec.action_transform
    width = action_dim(spec)
    if t in CONTINUOUS:
        low = np.asarray(spec.action_low, dtype=f32)
        high = np.asarray(spec.action_high, dtype=f32)
        lo, hi = _const(nodes, inits, "action_low", low), _const(nodes, inits, "action_high", high)
        if t in ("scale_clip", "tanh_scale"):
            if t == "scale_clip":
                x = node("Clip", [x, _const(nodes, inits, "unit_lo", np.array(-1.0, dtype=f32)),
                                  _const(nodes, inits, "unit_hi", np.array(1.0, dtype=f32))], "head_unit")
            else:
                x = node("Tanh", [x], "head_unit")
            one = _const(nodes, inits, "one", np.array(1.0, dtype=f32))
            half = _const(nodes, inits, "half", np.array(0.5, dtype=f32))
            span = _const(nodes, inits, "action_span", (high - low).astype(f32))
            x = node("Add", [x, one], "head_shift")
            x = node("Mul", [x, half], "head_frac")
            x = node("Mul", [x, span], "head_offset")
            x = node("Add", [lo, x], "head_scaled")
        x = node("Min", [x, hi], "head_min")
        node("Max", [x, lo], OUTPUT_NAME)
        out_type, out_shape = TensorProto.FLOAT, ["batch", width]
    elif t == "argmax":
        node("ArgMax", [x], OUTPUT_NAME, axis=1, keepdims=0)
        out_type, out_shape = TensorProto.INT64, ["batch"]
    else:
        nvec = [int(n) for n in spec.nvec]
        split = _const(nodes, inits, "nvec", np.asarray(nvec, dtype=np.int64))
        groups = [f"logits_{i}" for i in range(len(nvec))]
        nodes.append(helper.make_node("Split", [x, split], groups, name="split_logits", axis=1))
        picks = [node("ArgMax", [g], f"pick_{i}", axis=1, keepdims=1) for i, g in enumerate(groups)]
        node("Concat", picks, OUTPUT_NAME, axis=1)
        out_type, out_shape = TensorProto.INT64, ["batch", len(nvec)]

    graph = helper.make_graph(
        nodes, "twingym_policy",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", spec.obs_dim])],
        [helper.make_tensor_value_info(OUTPUT_NAME, out_type, out_shape)],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="twingym", doc_string=doc)
    model.ir_version = 8  # readable by every onnxruntime that supports opset 17
    for key, value in sorted((metadata or {}).items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model, full_check=True)
    return model


def export_bytes(spec: PolicySpec, **kwargs) -> bytes:
    """Serialised ONNX model of ``spec`` (deterministic: the same spec gives the same bytes)."""
    return build_model(spec, **kwargs).SerializeToString(deterministic=True)


# ---- PolicySpec <-> npz (pickle-free) ---------------------------------------------------------------
def save_spec(spec: PolicySpec) -> bytes:
    """``spec`` as ``.npz`` bytes: arrays plus a JSON ``meta`` entry; no pickles."""
    meta = {"obs_dim": int(spec.obs_dim), "action_transform": spec.action_transform,
            "nvec": None if spec.nvec is None else [int(n) for n in spec.nvec],
            "obs_epsilon": float(spec.obs_epsilon), "obs_clip": float(spec.obs_clip)
            if np.isfinite(spec.obs_clip) else "inf", "backend": spec.backend,
            "activations": [layer.activation for layer in spec.layers]}
    arrays = {"meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
              "obs_mean": np.asarray(spec.obs_mean, np.float32), "obs_var": np.asarray(spec.obs_var, np.float32)}
    for i, layer in enumerate(spec.layers):
        arrays[f"l{i}_weight"] = np.asarray(layer.weight, np.float32)
        arrays[f"l{i}_bias"] = np.asarray(layer.bias, np.float32)
    if spec.action_low is not None:
        arrays["action_low"] = np.asarray(spec.action_low, np.float32)
        arrays["action_high"] = np.asarray(spec.action_high, np.float32)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def load_spec(data: bytes) -> PolicySpec:
    """Inverse of :func:`save_spec`."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        layers = [DenseLayer(z[f"l{i}_weight"], z[f"l{i}_bias"], act)
                  for i, act in enumerate(meta["activations"])]
        return PolicySpec(
            obs_dim=meta["obs_dim"], obs_mean=z["obs_mean"], obs_var=z["obs_var"], layers=layers,
            action_transform=meta["action_transform"],
            action_low=z.get("action_low", None),
            action_high=z.get("action_high", None),
            nvec=None if meta["nvec"] is None else tuple(meta["nvec"]),
            obs_epsilon=meta["obs_epsilon"],
            obs_clip=float("inf") if meta["obs_clip"] == "inf" else meta["obs_clip"],
            backend=meta["backend"])
