"""Release XLA's compiled programs between test groups.

XLA's CPU backend maps each compiled program's code into memory in hundreds of pieces. A test process
that compiles every twin keeps them all alive through JAX's caches, and past the kernel's limit of
65,530 mappings per process (``vm.max_map_count``) the next compile crashes with a segmentation
fault. Dropping the caches once a group of tests is done frees the mappings.
"""

from __future__ import annotations

import gc

import jax


def release_compiled_programs() -> None:
    """Clear every JAX compilation cache and collect the programs nothing else holds."""
    jax.clear_caches()
    gc.collect()
