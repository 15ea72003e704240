"""Bernoulli lines: the assembly cell reduced to Li & Meerkov's Bernoulli machine model, and the
analytic references (numpy, float64) it is tested against.

Model (J. Li and S.M. Meerkov, *Production Systems Engineering*, Springer 2009, chapter 4, serial
Bernoulli lines):

* machine ``m_i`` is up during a cycle with probability ``p_i`` and down with ``1 - p_i``,
  independently of everything else; an up machine that is neither starved nor blocked processes
  exactly one part in that cycle;
* buffer ``b_i`` (between ``m_i`` and ``m_{i+1}``) holds ``0..N_i`` parts, ``N_i >= 1``; machines hold
  no parts of their own, so the WIP is the buffer content (some texts count a part held by the
  machine, which corresponds to our ``N_i + 1``);
* machine status is determined at the beginning of a cycle, buffer levels at the end;
* ``m_i`` (i > 1) is starved when ``b_{i-1}`` is empty at the beginning of the cycle; ``m_1`` is never
  starved;
* ``m_i`` (i < M) is blocked when it is up, ``b_i`` is full at the beginning of the cycle and ``m_{i+1}``
  does not take a part from ``b_i`` during the cycle (blocked before service); ``m_M`` is never blocked.

Two-machine line, exact (the closed form of the book). With ``alpha = p1 (1 - p2) / (p2 (1 - p1))``::

    Q(p1, p2, N) = (1 - p1)(1 - alpha) / (1 - (p1 / p2) alpha**N)   if p1 != p2
                 = (1 - p) / (N + 1 - p)                           if p1 == p2 == p
    PR = p2 (1 - Q(p1, p2, N)) = p1 (1 - Q(p2, p1, N))

``Q(p1, p2, N)`` is the stationary probability that the buffer is empty (so ``m2`` is starved).

M > 2 machines: the book's recursive aggregation procedure iterates backward
(``p^b``) and forward (``p^f``) aggregated machines::

    p_i^b(s+1) = p_i [1 - Q(p_{i+1}^b(s+1), p_i^f(s), N_i)],  i = M-1..1,  p_M^b(s+1) = p_M
    p_i^f(s+1) = p_i [1 - Q(p_{i-1}^f(s+1), p_i^b(s+1), N_{i-1})],  i = 2..M,  p_1^f(s+1) = p_1

from ``p_i^f(0) = p_i`` until convergence; the throughput estimate is ``p_M^f = p_1^b``.

:func:`markov_throughput` also solves the exact Markov chain of buffer levels for short lines (a
third, independent reference used by the tests).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from twingym.envs.assembly_cell.dynamics import NOMINAL, default_cell_params, speed_table
from twingym.envs.assembly_cell.env import AssemblyCell
from twingym.envs.assembly_cell.types import AssemblyCellParams

_EQUAL_TOL = 1e-9


def _check_p(p: np.ndarray) -> None:
    if np.any(p <= 0.0) or np.any(p >= 1.0):
        raise ValueError(f"Bernoulli machine probabilities must lie in (0, 1), got {p.tolist()}")


def q_empty(p1: float, p2: float, n: int) -> float:
    """Li & Meerkov ``Q(p1, p2, N)``: stationary probability that the buffer of the two-machine
    Bernoulli line ``(p1, N, p2)`` is empty (blocked-before-service). ``0 < p1, p2 < 1``, ``N >= 1``."""
    p1, p2, n = float(p1), float(p2), int(n)
    _check_p(np.array([p1, p2]))
    if n < 1:
        raise ValueError(f"buffer capacity must be >= 1, got {n}")
    if abs(p1 - p2) < _EQUAL_TOL:
        p = 0.5 * (p1 + p2)
        return (1.0 - p) / (n + 1.0 - p)
    alpha = p1 * (1.0 - p2) / (p2 * (1.0 - p1))
    return (1.0 - p1) * (1.0 - alpha) / (1.0 - (p1 / p2) * alpha ** n)


def two_machine_throughput(p1: float, p2: float, n: int) -> float:
    """Exact throughput [parts/cycle] of the two-machine Bernoulli line: ``p2 (1 - Q(p1, p2, N))``."""
    return float(p2) * (1.0 - q_empty(p1, p2, n))


def aggregation(p: Sequence[float], buffers: Sequence[int], tol: float = 1e-12,
                max_iter: int = 10_000) -> tuple[float, np.ndarray, np.ndarray]:
    """Li & Meerkov recursive aggregation for an M-machine Bernoulli line.

    Args:
        p: (M,) machine up probabilities in (0, 1).
        buffers: (M-1,) buffer capacities >= 1.

    Returns:
        ``(PR, p_f, p_b)``: throughput estimate [parts/cycle] and the converged forward and backward
        aggregated machine probabilities, (M,) each.
    """
    p = np.asarray(p, dtype=np.float64)
    n = np.asarray(buffers, dtype=np.int64)
    _check_p(p)
    m = p.size
    if n.shape != (m - 1,):
        raise ValueError(f"need {m - 1} buffer capacities for {m} machines, got {n.tolist()}")
    if m == 2:
        pr = two_machine_throughput(p[0], p[1], n[0])
        return pr, np.array([p[0], pr]), np.array([pr, p[1]])
    pf = p.copy()
    pb = p.copy()
    for _ in range(max_iter):
        pb_new = pb.copy()
        pb_new[m - 1] = p[m - 1]
        for i in range(m - 2, -1, -1):
            pb_new[i] = p[i] * (1.0 - q_empty(pb_new[i + 1], pf[i], n[i]))
        pf_new = pf.copy()
        pf_new[0] = p[0]
        for i in range(1, m):
            pf_new[i] = p[i] * (1.0 - q_empty(pf_new[i - 1], pb_new[i], n[i - 1]))
        change = max(np.max(np.abs(pf_new - pf)), np.max(np.abs(pb_new - pb)))
        pf, pb = pf_new, pb_new
        if change < tol:
            break
    return float(pf[m - 1]), pf, pb


def markov_throughput(p: Sequence[float], buffers: Sequence[int]) -> float:
    """Exact throughput of a short Bernoulli line from the stationary distribution of its buffer
    levels (state space ``prod(N_i + 1)``, so keep it small: M <= 4, N_i <= 5)."""
    p = np.asarray(p, dtype=np.float64)
    caps = [int(c) for c in buffers]
    _check_p(p)
    m = p.size
    states = list(itertools.product(*[range(c + 1) for c in caps]))
    index = {s: k for k, s in enumerate(states)}
    size = len(states)
    trans = np.zeros((size, size))
    out_rate = np.zeros(size)
    for s in states:
        for ups in itertools.product((0, 1), repeat=m):
            prob = float(np.prod([p[i] if ups[i] else 1.0 - p[i] for i in range(m)]))
            # decide from the last machine upstream who works this cycle
            works = [False] * m
            for i in reversed(range(m)):
                if not ups[i]:
                    continue
                if i > 0 and s[i - 1] == 0:          # starved
                    continue
                if i < m - 1 and s[i] == caps[i] and not works[i + 1]:   # blocked
                    continue
                works[i] = True
            nxt = tuple(s[j] + int(works[j]) - int(works[j + 1]) for j in range(m - 1))
            trans[index[s], index[nxt]] += prob
            out_rate[index[s]] += prob * works[m - 1]
    # stationary distribution: pi (T - I) = 0, sum pi = 1
    a = np.vstack([(trans - np.eye(size)).T, np.ones((1, size))])
    b = np.zeros(size + 1)
    b[-1] = 1.0
    pi = np.linalg.lstsq(a, b, rcond=None)[0]
    return float(pi @ out_rate)


def bernoulli_params(p: Sequence[float], buffers: Sequence[int], max_steps: int = 100_000) -> AssemblyCellParams:
    """Cell params reducing the twin to a Bernoulli line: station ``i`` processes with probability
    ``p[i]`` at nominal speed, buffer capacities ``buffers``; no wear, failures or maintenance effects,
    empty buffers and no sensor noise at reset."""
    p_arr = np.asarray(p, dtype=np.float32)
    caps = np.asarray(buffers, dtype=np.int32)
    _check_p(p_arr.astype(np.float64))
    m = p_arr.size
    if caps.shape != (m - 1,) or np.any(caps < 1):
        raise ValueError(f"need {m - 1} buffer capacities >= 1 for {m} stations, got {caps.tolist()}")
    params = default_cell_params(m, max_steps)
    return params.replace(
        buffer_capacity=jnp.asarray(caps),
        proc_prob=jnp.asarray(speed_table(p_arr)),
        wear_rate=jnp.zeros((m, 4), jnp.float32),
        hazard_base=jnp.zeros((m,), jnp.float32),
        hazard_wear=jnp.zeros((m,), jnp.float32),
        forced_breakdown_prob=0.0,
        initial_wear_max=0.0,
        initial_buffer_fill=0.0,
        initial_backlog_max=0,
        sensor_noise_std=0.0,
    )


def nominal_action(m: int) -> jnp.ndarray:
    """Action (2M,) int32 running every station at nominal speed with no maintenance."""
    return jnp.tile(jnp.array([NOMINAL, 0], jnp.int32), m)


def bernoulli_line(p: Sequence[float], buffers: Sequence[int],
                   max_steps: int = 100_000) -> tuple[AssemblyCell, AssemblyCellParams]:
    """``(env, params)`` of a Bernoulli line with up probabilities ``p`` (M,) and buffer capacities
    ``buffers`` (M-1,). Step it with :func:`nominal_action`; ``info["parts_out"]`` counts finished
    parts per cycle, whose long-run mean is the line's throughput."""
    env = AssemblyCell()
    env.id = "AssemblyCell-v0"
    return env, bernoulli_params(p, buffers, max_steps)
