"""JAX PPO across processes (hosts): ``jax.distributed`` set up before any JAX computation.

Every process runs the same program on its own local devices; the env batch is sharded over the
devices of *all* processes (``jax.devices()``), and XLA's collectives (gloo on CPU, NCCL on GPU)
combine the gradients and statistics inside each compiled chunk. So N processes of ``num_envs``
copies train exactly the run one process would, to float tolerance.

Sources of the process layout, first match wins:

- explicit: ``--coordinator HOST:PORT --num-processes N --process-id I`` (:func:`from_flags`);
- Slurm: inside an ``srun`` step with more than one task, ``jax.distributed.initialize()`` reads
  ``SLURM_*`` itself (:func:`slurm_tasks`);
- one process otherwise (nothing is initialised).

Process 0 alone writes the run directory (config, metrics, TensorBoard, checkpoints, final policy,
summary); the others compute with it and write nothing. The run directory (and so the checkpoints
that resume reads) must be on a file system every process reaches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

#: bytes of a broadcast string (run names are short).
_TEXT_BYTES = 512


@dataclass(frozen=True)
class ProcessLayout:
    """Where this process sits: ``coordinator`` ``HOST:PORT`` of process 0, ``num_processes`` >= 2,
    ``process_id`` in ``[0, num_processes)``. ``coordinator`` None: read from Slurm."""

    coordinator: str | None
    num_processes: int | None
    process_id: int | None


def from_flags(coordinator: str | None, num_processes: int | None, process_id: int | None
               ) -> ProcessLayout | None:
    """The layout given on the command line (None when no flag is given); ``ValueError`` when incomplete."""
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if not any(given):
        return None
    if not all(given):
        raise ValueError("multi-process training needs all of --coordinator HOST:PORT, --num-processes N "
                         "and --process-id I")
    host, sep, port = coordinator.rpartition(":")  # type: ignore[union-attr]
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--coordinator expects HOST:PORT, got {coordinator!r}")
    if num_processes < 1 or not 0 <= process_id < num_processes:  # type: ignore[operator]
        raise ValueError(f"--process-id must be in [0, {num_processes}) and --num-processes >= 1, got "
                         f"--process-id {process_id} --num-processes {num_processes}")
    return ProcessLayout(coordinator, num_processes, process_id)


def slurm_tasks() -> int:
    """Tasks of the enclosing Slurm step (0 outside Slurm)."""
    if "SLURM_JOB_ID" not in os.environ:
        return 0
    return int(os.environ.get("SLURM_STEP_NUM_TASKS") or os.environ.get("SLURM_NTASKS") or 0)


def initialize(layout: ProcessLayout | None) -> bool:
    """Start ``jax.distributed`` for ``layout`` (or from Slurm when it has several tasks).

    Returns True when this process is one of several. Must run before JAX computes anything.
    """
    import jax

    if layout is None and slurm_tasks() <= 1:
        return False
    if layout is not None and layout.num_processes == 1:
        return False
    # CPU collectives across processes (ignored by GPU backends, which use NCCL); asking for the
    # backend here would initialise it too early
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if layout is None:
        jax.distributed.initialize()
    else:
        jax.distributed.initialize(layout.coordinator, num_processes=layout.num_processes,
                                   process_id=layout.process_id)
    return jax.process_count() > 1


def process_count() -> int:
    import jax

    return jax.process_count()


def process_index() -> int:
    import jax

    return jax.process_index()


def is_main() -> bool:
    """True in process 0 (the one process that writes)."""
    import jax

    return jax.process_index() == 0


def broadcast_text(text: str) -> str:
    """Process 0's ``text`` in every process (identity with one process)."""
    if process_count() == 1:
        return text
    from jax.experimental import multihost_utils

    raw = text.encode()
    if len(raw) > _TEXT_BYTES:
        raise ValueError(f"text of {len(raw)} bytes exceeds {_TEXT_BYTES}")
    buf = np.zeros(_TEXT_BYTES, np.uint8)
    buf[: len(raw)] = np.frombuffer(raw, np.uint8)
    out = np.asarray(multihost_utils.broadcast_one_to_all(buf))
    return bytes(out[out != 0].astype(np.uint8)).decode()


def to_host(tree: Any) -> Any:
    """``tree`` as numpy arrays, each gathered whole from every process (a collective: all call it)."""
    import jax

    if process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))
