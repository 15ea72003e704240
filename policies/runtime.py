"""Run ``policy.onnx`` with onnxruntime: the one inference path of validation and deployment.

``OnnxPolicy(onnx_bytes).act(obs)`` maps raw (already sanitised, see
:mod:`twingym.policies.sanitize`) observations ``(batch, obs_dim)`` or ``(obs_dim,)`` float32 to
actions in the twin's units. No torch or JAX is imported here.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from twingym.policies.onnx_export import INPUT_NAME, OUTPUT_NAME


def make_session(onnx_bytes: bytes, threads: int = 1) -> ort.InferenceSession:
    """A CPU inference session; ``threads`` intra-op threads (1 is fastest for small MLPs)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(onnx_bytes, sess_options=opts, providers=["CPUExecutionProvider"])


class OnnxPolicy:
    """A loaded policy graph.

    Args:
        onnx_bytes: serialised ``policy.onnx``.
        action_shape: element shape of one action (the twin's action space shape); outputs are
            reshaped to ``(batch, *action_shape)`` when given.
        threads: onnxruntime intra-op threads.
    """

    def __init__(self, onnx_bytes: bytes, action_shape: tuple[int, ...] | None = None, threads: int = 1):
        self.session = make_session(onnx_bytes, threads)
        shape = self.session.get_inputs()[0].shape
        self.obs_dim = int(shape[1])
        self.action_shape = None if action_shape is None else tuple(action_shape)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions for ``obs`` ``(batch, obs_dim)`` (or one ``(obs_dim,)`` -> one action)."""
        x = np.asarray(obs, dtype=np.float32)
        single = x.ndim == 1
        x = np.ascontiguousarray(x.reshape(-1, self.obs_dim))
        out = self.session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
        if self.action_shape is not None:
            out = out.reshape((x.shape[0], *self.action_shape))
        return out[0] if single else out
