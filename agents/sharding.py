"""Single-process data parallelism: a batch of env copies split over the local devices.

Every batched twin and the PPO rollout are independent per copy along one axis, so splitting that
axis over the devices of this process (GPUs, or the CPU host devices of
``--xla_force_host_platform_device_count``, see ``twingym.host_devices``) lets XLA run the
parts side by side with no communication except where the program reduces over the batch.

``batch_mesh(batch)`` uses the largest number of devices that divides ``batch``, so any batch
size works on one host (a prime batch runs on one device).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "batch"


def batch_mesh(batch: int) -> Mesh:
    """1-D mesh (axis ``"batch"``) over the first ``gcd(batch, devices)`` devices.

    Under ``jax.distributed`` (several processes) the mesh spans every process's devices, and
    ``batch`` must divide evenly over them (callers check).
    """
    devices = jax.devices()
    count = len(devices) if jax.process_count() > 1 else (math.gcd(batch, len(devices)) or 1)
    return Mesh(np.asarray(devices[:count]), (AXIS,))


def batch_sharding(mesh: Mesh, axis: int = 0) -> NamedSharding:
    """Sharding that splits array axis ``axis`` over ``mesh`` and replicates the others."""
    return NamedSharding(mesh, PartitionSpec(*([None] * axis), AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """Sharding that keeps a full copy on every device of ``mesh``."""
    return NamedSharding(mesh, PartitionSpec())


def constrain_batch(tree: Any, mesh: Mesh, axis: int = 0) -> Any:
    """Inside ``jit``: ask XLA to split axis ``axis`` of every leaf of ``tree`` over ``mesh``.

    A no-op on a one-device mesh.
    """
    if mesh.size == 1:
        return tree
    return jax.lax.with_sharding_constraint(tree, batch_sharding(mesh, axis))
