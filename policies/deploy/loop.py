"""The deploy control loop: a validated bundle controls a live twin over OPC UA.

Per twin step (the loop polls the twin's step counter and acts once per new step):

1. read measurements, applied setpoints and twin status in one OPC UA Read;
2. assemble the observation in the bundle manifest's label order (the measurements *are* the twin's
   own observation components, published by the live twin's own observation code);
3. sanitise it with :class:`twingym.policies.sanitize.ObservationGuard` (the one definition of how
   non-finite readings are handled, shared with validation);
4. run ``policy.onnx`` with onnxruntime (:class:`twingym.policies.runtime.OnnxPolicy`);
5. pass the action through the :class:`SafetyLayer` (clip to the manifest's limits, rate limit);
6. the :class:`Watchdog` decides: policy in control -> write setpoints (and ``ControlMode=remote``);
   fallback -> write ``ControlMode=local``, so the live twin's own reference baseline controller
   drives it (computed by the twin's JAX baseline on the server; nothing JAX here);
7. log the decision (JSON lines).

Shadow mode (``shadow=True``) does 1-5 and logs the policy's action next to what the twin applied,
writing nothing. A lost connection is retried with exponential backoff; SIGINT/SIGTERM (or the end
of ``steps``/``duration``) hand the twin back to its local baseline controller (safe setpoints).

No JAX or torch is imported by this runtime (a test checks ``sys.modules``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from twingym.live.contract import Snapshot, TwinDescription, label_text, space_bounds
from twingym.policies.bundle import BundleError, load_bundle, require_validated, validation_problem
from twingym.policies.deploy.link import (
    CONNECTION_ERRORS,
    ClientSecurity,
    LinkError,
    TwinLink,
)
from twingym.policies.deploy.log import DecisionLog
from twingym.policies.deploy.safety import SafetyLayer
from twingym.policies.deploy.watchdog import Watchdog
from twingym.policies.runtime import OnnxPolicy
from twingym.policies.sanitize import DEFAULT_MAX_HOLD, ObservationGuard


class DeployError(ValueError):
    """The deployment cannot start (bad bundle, incompatible twin, refused login). One line."""


@dataclass
class DeployConfig:
    """Options of ``twingym deploy``.

    Attributes:
        bundle: bundle directory or ``.zip``; endpoint: ``opc.tcp://host:port/path``.
        shadow: compute and log actions without writing anything to the twin.
        steps, duration: stop after this many twin steps / wall seconds (``None``: until a signal).
        log: decision log path (default ``runs/deploy/<time>/deploy.jsonl``).
        max_rate: rate limit, fraction of each setpoint's range per step (``None``: off).
        recover_after: healthy steps before the policy gets control back after a fallback.
        max_hold: bad-reading steps bridged by holding the last value (the sanitiser's rule).
        stale_periods: twin periods without a new step before it counts as stale (each further
            period without one is a bad reading for the observation guard).
        backoff_initial, backoff_max: reconnect delays (doubling) in seconds.
        give_up_after: stop when no connection could be made for this long (``None``: never).
        security: how to log in (see :class:`ClientSecurity`).
        require_validation: refuse bundles without a passing validation (only tests turn it off).
        trust: a public key or trust file (:mod:`twingym.policies.signing`): refuse bundles whose
            validation is not signed by one of its keys (``None``: unsigned validation is accepted).
    """

    bundle: str
    endpoint: str
    shadow: bool = False
    steps: int | None = None
    duration: float | None = None
    log: str | None = None
    max_rate: float | None = 0.5
    recover_after: int = 3
    max_hold: int = DEFAULT_MAX_HOLD
    stale_periods: float = 3.0
    backoff_initial: float = 0.2
    backoff_max: float = 5.0
    give_up_after: float | None = None
    security: ClientSecurity = field(default_factory=ClientSecurity)
    require_validation: bool = True
    trust: str | None = None

    def log_path(self) -> Path:
        if self.log:
            return Path(self.log)
        return Path("runs") / "deploy" / time.strftime("%Y%m%d-%H%M%S") / "deploy.jsonl"


@dataclass
class DeploySummary:
    """What a deployment did.

    ``reward_sum``: sum of the twin's rewards over the steps between the first and the last step
    observed (all steps, including ones the loop missed); ``episode_returns``: returns of the
    episodes that ran entirely under this deployment; ``policy_steps``/``fallback_steps``: observed
    steps by controller; ``fallbacks``: switches to the baseline; ``missed_steps``: twin steps the
    loop did not see (it was busy or disconnected).
    """

    steps: int = 0
    policy_steps: int = 0
    fallback_steps: int = 0
    fallbacks: int = 0
    missed_steps: int = 0
    reconnects: int = 0
    reward_sum: float = 0.0
    episode_returns: list[float] = field(default_factory=list)
    episode_fallback_steps: list[int] = field(default_factory=list)
    safety_interventions: int = 0
    shadow: bool = False
    validation_warning: str | None = None   # shadow run of a bundle not cleared for control: why
    twin_id: str = ""
    endpoint: str = ""
    log_path: str = ""
    stopped_by: str = ""
    wall_seconds: float = 0.0

    @property
    def mean_episode_return(self) -> float:
        return float(np.mean(self.episode_returns)) if self.episode_returns else math.nan

    def failure(self) -> str | None:
        """Why this run did not do its job (one line), or None: it gave up on the connection, or
        the policy never controlled the twin (shadow: never observed a step)."""
        if self.stopped_by == "gave_up":
            return (f"gave up: no connection to {self.endpoint} could be made"
                    + (f" ({self.steps} steps observed before)" if self.steps else ""))
        if self.shadow and self.steps == 0:
            return f"never observed a step of the live twin at {self.endpoint}"
        if not self.shadow and self.policy_steps == 0:
            return (f"the policy never controlled the twin at {self.endpoint} "
                    + (f"({self.steps} steps, all on the fallback)" if self.steps else "(no step observed)"))
        return None


@dataclass
class LoopState:
    """What the control loop carries from one poll to the next.

    ``first_step``/``last_step``: first and last twin step acted on (``None`` before any);
    ``server_id``: the server run being followed; ``total_at``/``total_last``: the twin's
    ``TotalReward`` when this server segment began and at the last step; ``start_episode``: the
    episode running when this deployment first acted on the segment; ``last_seen_wall``: monotonic
    time of the last new step; ``bad_periods``: stale periods already fed to the observation guard.
    """

    first_step: int | None = None
    last_step: int | None = None
    server_id: str | None = None
    total_at: float | None = None
    total_last: float = 0.0
    start_episode: int | None = None
    last_seen_wall: float = field(default_factory=time.monotonic)
    bad_periods: int = 0

    def segment_reward(self) -> float:
        """Reward the twin collected during the current server segment (0 before any)."""
        return self.total_last - (self.total_at or 0.0) if self.total_at is not None else 0.0


class BundlePolicy:
    """The bundle side of deployment: checked bundle, ONNX policy, limits and labels from the manifest."""

    def __init__(self, path: str, require_validation: bool = True, shadow: bool = False,
                 trust: str | None = None) -> None:
        from twingym.policies.signing import SigningError, load_trusted_keys

        #: why the bundle could not take control (shadow runs of unvalidated or failed bundles)
        self.validation_warning: str | None = None
        try:
            trusted = load_trusted_keys(trust) if trust is not None else None
            self.bundle = load_bundle(path)  # integrity (sealed manifest, policy.onnx) always checked
            if require_validation and shadow:
                # shadow mode writes nothing, so a bundle that is not (yet) cleared for control may
                # still be watched against the live twin; the reason is logged and shown
                self.validation_warning = validation_problem(self.bundle, trusted)
                self.validation = None if self.validation_warning else self.bundle.validation()
            else:
                self.validation = require_validated(self.bundle, trusted) if require_validation else None
        except (BundleError, SigningError) as exc:
            raise DeployError(str(exc)) from None
        m = self.bundle.manifest
        self.twin_id = m.twin.id
        obs_desc = m.observation_space
        if obs_desc.get("type") != "Box":
            raise DeployError(f"deploy supports Box observations, the bundle has {obs_desc.get('type')}")
        try:
            obs, act = space_bounds(obs_desc), space_bounds(m.action_space)
        except ValueError as exc:
            raise DeployError(f"bundle {path}: {exc}") from None
        self.obs_low, self.obs_high = obs.low, obs.high
        self.act_low, self.act_high, self.kind, self.action_shape = act.low, act.high, act.kind, act.shape
        self.obs_labels = [label_text(*lb) for lb in m.observation_labels or []]
        self.act_labels = [label_text(*lb) for lb in m.action_labels or []]
        try:
            self.policy = OnnxPolicy(self.bundle.policy_bytes, action_shape=self.action_shape)
        except Exception as exc:  # onnxruntime refuses the graph
            raise DeployError(f"policy.onnx of bundle {path} cannot be loaded: {exc}") from None

    def match(self, desc: TwinDescription) -> tuple[np.ndarray, np.ndarray]:
        """Index maps ``(obs_index, act_index)`` from manifest order into the twin's order.

        Raises :class:`DeployError` when the twin is not the one the bundle was made for.
        """
        if desc.twin_id != self.twin_id:
            raise DeployError(f"bundle is for twin {self.twin_id} but the live twin is {desc.twin_id}")

        def index(ours: list[str], theirs: list[str], what: str, n: int) -> np.ndarray:
            if not ours:
                if len(theirs) != n:
                    raise DeployError(f"bundle expects {n} {what} components, the live twin has {len(theirs)}")
                return np.arange(n)
            missing = [lb for lb in ours if lb not in theirs]
            if missing or len(ours) != n:
                given = self.bundle.manifest.twin.param_overrides
                hint = ("; serve the twin with the bundle's parameters: "
                        + " ".join(f"--param {k}={v}" for k, v in given.items())) if given else ""
                raise DeployError(f"live twin lacks the bundle's {what} labels: {', '.join(missing[:3])}{hint}")
            return np.asarray([theirs.index(lb) for lb in ours])

        obs_index = index(self.obs_labels, desc.observation_labels, "observation", len(self.obs_low))
        act_index = index(self.act_labels, desc.action_labels, "action", len(self.act_low))
        if len(desc.action_labels) != len(self.act_low):
            raise DeployError(f"bundle writes {len(self.act_low)} setpoints, the live twin has "
                              f"{len(desc.action_labels)}")
        return obs_index, act_index


class Deployment:
    """One deployment run; :meth:`run` is the asyncio entry point, :meth:`stop` ends it cleanly."""

    def __init__(self, config: DeployConfig) -> None:
        self.config = config
        self.policy = BundlePolicy(config.bundle, config.require_validation, config.shadow, config.trust)
        self.safety = SafetyLayer(self.policy.act_low, self.policy.act_high, self.policy.kind,
                                  config.max_rate)
        self.guard = ObservationGuard(self.policy.obs_low, self.policy.obs_high, config.max_hold)
        self.watchdog = Watchdog(config.recover_after)
        self.link = TwinLink(config.endpoint, config.security)
        self.log_path = config.log_path()
        self.summary = DeploySummary(shadow=config.shadow, validation_warning=self.policy.validation_warning,
                                     twin_id=self.policy.twin_id,
                                     endpoint=config.endpoint, log_path=str(self.log_path))
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_reason = ""
        self._episode_fallback = 0
        self._episode_seen = 0
        self._last_raw: np.ndarray | None = None
        self._last_inference_error: str | None = None
        self._took_control = False     # wrote anything to the twin (only then hand back on exit)

    def stop(self, reason: str = "stop") -> None:
        """End the run at the next poll (thread-safe, signal-safe)."""
        self._stop_reason = self._stop_reason or reason
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):   # the loop closed in between: already stopped
                self._loop.call_soon_threadsafe(self._stop.set)

    async def _sleep(self, seconds: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), max(0.0, seconds))

    # ---- connection --------------------------------------------------------------------------------
    async def _connect(self, log: DecisionLog) -> bool:
        """Connect with exponential backoff until connected, stopped or given up."""
        cfg = self.config
        delay, attempt, since = cfg.backoff_initial, 0, time.monotonic()
        while not self._stop.is_set():
            attempt += 1
            try:
                desc = await self.link.connect()
            except LinkError as exc:
                raise DeployError(str(exc)) from None
            except CONNECTION_ERRORS as exc:
                await self.link.close()
                log.write("connect_failed", attempt=attempt, error=f"{type(exc).__name__}: {exc}",
                          retry_in=delay)
                if cfg.give_up_after is not None and time.monotonic() - since > cfg.give_up_after:
                    self._stop_reason = "gave_up"
                    return False
                await self._sleep(delay)
                delay = min(delay * 2.0, cfg.backoff_max)
                continue
            self.obs_index, self.act_index = self.policy.match(desc)
            self.desc = desc
            log.write("connected", attempt=attempt, server_id=desc.server_id, twin_id=desc.twin_id,
                      scenario=desc.scenario, dt=desc.dt, speed=desc.speed, baseline=desc.baseline_name)
            return True
        return False

    # ---- one step ----------------------------------------------------------------------------------
    def _decide(self, snap: Snapshot) -> dict[str, Any]:
        """Observation -> sanitised -> policy -> safety; returns the decision record."""
        raw = np.asarray(snap.measurements, dtype=np.float64)[self.obs_index]   # manifest order
        self._last_raw = raw
        clean, guard_fallback = self.guard.update(raw.astype(np.float32))
        problem = "non_finite_observation" if guard_fallback else None
        policy_action = safe = None
        safety_flags: dict[str, list[int]] = {}
        try:
            out = np.asarray(self.policy.policy.act(clean), dtype=np.float64).ravel()
            policy_action = out
            if not np.all(np.isfinite(out)):
                problem = problem or "inference_non_finite"
        except Exception as exc:  # onnxruntime failure of any kind
            problem = problem or "inference_failed"
            self._last_inference_error = f"{type(exc).__name__}: {exc}"
        applied = np.asarray(snap.applied, dtype=np.float64)[self.act_index]   # manifest order
        if policy_action is not None and problem is None:
            result = self.safety.apply(policy_action, applied)
            safe = result.action
            safety_flags = {k: v for k, v in (("clipped", result.clipped),
                                              ("rate_limited", result.rate_limited),
                                              ("non_finite", result.non_finite)) if v}
        return {"raw": raw, "clean": clean, "problem": problem, "policy_action": policy_action,
                "safe_action": safe, "safety": safety_flags, "applied": applied}

    async def _act(self, snap: Snapshot, log: DecisionLog, missed: int) -> None:
        cfg, s = self.config, self.summary
        d = self._decide(snap)
        transition = self.watchdog.update(d["problem"])
        if transition is not None:
            log.write("fallback" if transition.to == "fallback" else "recovered", step=snap.step,
                      reason=transition.reason, baseline=self.desc.baseline_name or "hold setpoints",
                      error=self._last_inference_error if transition.reason.startswith("inference")
                      else None)
        controller = self.watchdog.state
        wrote: str | None = None
        if not cfg.shadow:
            if controller == "policy" and d["safe_action"] is not None:
                values = np.empty_like(d["safe_action"])
                values[self.act_index] = d["safe_action"]
                self._took_control = True
                await self.link.write(setpoints=values.tolist(),
                                      mode="remote" if snap.mode != "remote" else None)
                wrote = "setpoints"
            elif controller == "fallback" and snap.mode != "local":
                self._took_control = True
                await self.link.write(mode="local")
                wrote = "mode=local"
        s.steps += 1
        s.missed_steps += missed
        if controller == "policy":
            s.policy_steps += 1
        else:
            s.fallback_steps += 1
            self._episode_fallback += 1
        if d["safety"]:
            s.safety_interventions += 1
        log.write("step", step=snap.step, sim_time=snap.sim_time, episode=snap.episode,
                  controller=controller, problem=d["problem"], twin_mode=snap.mode,
                  observation=d["raw"], sanitized=d["clean"], policy_action=d["policy_action"],
                  safe_action=d["safe_action"], safety=d["safety"] or None,
                  twin_applied=d["applied"], baseline_action=snap.baseline, reward=snap.last_reward,
                  cost=snap.last_cost, wrote=wrote, missed=missed or None, faults=snap.faults or None)

    # ---- the run: named steps ---------------------------------------------------------------------
    def _log_start(self, log: DecisionLog) -> None:
        cfg = self.config
        log.write("start", bundle=str(cfg.bundle), twin_id=self.policy.twin_id, endpoint=cfg.endpoint,
                  shadow=cfg.shadow, steps=cfg.steps, duration=cfg.duration, max_rate=cfg.max_rate,
                  recover_after=cfg.recover_after, max_hold=cfg.max_hold,
                  validation_digest=self.policy.validation.digest if self.policy.validation else None,
                  validation_warning=self.policy.validation_warning)

    async def _lose_connection(self, log: DecisionLog, step: int | None, exc: BaseException,
                               log_fallback: bool) -> None:
        """Log a dropped connection, close the link and tell the watchdog (the loop reconnects)."""
        log.write("connection_lost", step=step, error=f"{type(exc).__name__}: {exc}")
        await self.link.close()
        self.summary.reconnects += 1
        transition = self.watchdog.update("connection_lost")
        if log_fallback and transition is not None:
            log.write("fallback", step=step, reason="connection_lost",
                      baseline="the twin holds its last setpoints (or its failsafe)")

    async def _read(self, log: DecisionLog, st: LoopState) -> Snapshot | None:
        """One snapshot, or None when the connection dropped."""
        try:
            return await self.link.read()
        except CONNECTION_ERRORS as exc:
            await self._lose_connection(log, st.last_step, exc, log_fallback=True)
            return None

    def _new_server(self, snap: Snapshot, st: LoopState, log: DecisionLog) -> bool:
        """First snapshot of a server run (first connection or a restart): close the previous reward
        segment, start a new one. True when the server has not stepped yet (nothing to act on)."""
        if st.server_id is not None:
            log.write("server_restarted", old=st.server_id, new=snap.server_id, step=snap.step)
            self.summary.reward_sum += st.total_last - (st.total_at or 0.0)
            self.guard.reset()
        st.server_id, st.total_at, st.last_step, st.start_episode = snap.server_id, snap.total_reward, None, None
        if snap.step == 0:
            st.last_step = 0
            return True
        return False

    async def _idle(self, snap: Snapshot, st: LoopState, log: DecisionLog) -> None:
        """No new step: stale after ``stale_periods`` twin periods, then one bad reading per period;
        the guard's verdict may hand the twin to its local baseline."""
        cfg = self.config
        idle = time.monotonic() - st.last_seen_wall
        periods = int(idle / self.desc.period) - int(cfg.stale_periods) + 1
        if periods <= st.bad_periods:
            return
        st.bad_periods = periods
        last = self._last_raw if self._last_raw is not None else np.zeros(len(self.obs_index))
        _, guard_fallback = self.guard.update(last.astype(np.float32), force_bad=np.ones(len(last), dtype=bool))
        if not guard_fallback:
            return
        transition = self.watchdog.update("stale")
        if transition is None:
            return
        log.write("fallback", step=snap.step, reason="stale", idle_seconds=round(idle, 3),
                  baseline=self.desc.baseline_name or "hold setpoints")
        if not cfg.shadow and snap.mode != "local":
            self._took_control = True
            with contextlib.suppress(CONNECTION_ERRORS):
                await self.link.write(mode="local")

    async def _new_step(self, snap: Snapshot, st: LoopState, log: DecisionLog) -> bool:
        """Act on a step not seen before; False when the connection dropped while acting."""
        missed = 0 if st.last_step is None else max(0, snap.step - st.last_step - 1)
        st.last_step, st.last_seen_wall, st.bad_periods = snap.step, time.monotonic(), 0
        st.first_step = snap.step if st.first_step is None else st.first_step
        st.total_last = snap.total_reward
        try:
            await self._act(snap, log, missed)
        except CONNECTION_ERRORS as exc:
            await self._lose_connection(log, snap.step, exc, log_fallback=False)
            return False
        self._count_episode(snap, st)
        return True

    def _count_episode(self, snap: Snapshot, st: LoopState) -> None:
        """Record the return of an episode that ended, if it started under this deployment."""
        s = self.summary
        if st.start_episode is None:
            st.start_episode = snap.episode
            self._episode_fallback = 0
            self._episode_seen = snap.episode
        elif snap.episode != self._episode_seen:
            if self._episode_seen > st.start_episode and math.isfinite(snap.last_episode_return):
                s.episode_returns.append(snap.last_episode_return)
                s.episode_fallback_steps.append(self._episode_fallback)
            self._episode_seen = snap.episode
            self._episode_fallback = 0

    def _duration_over(self, start: float) -> bool:
        """The ``duration`` limit is reached (the stop reason is set)."""
        if self.config.duration is not None and time.monotonic() - start >= self.config.duration:
            self._stop_reason = "duration"
            return True
        return False

    def _steps_done(self) -> bool:
        """The ``steps`` limit is reached, missed steps included (the stop reason is set)."""
        s = self.summary
        if self.config.steps is not None and s.steps + s.missed_steps >= self.config.steps:
            self._stop_reason = "steps"
            return True
        return False

    async def _finish(self, log: DecisionLog, start: float) -> None:
        """Fill in the summary, hand a controlled twin back to its local baseline, close the log."""
        cfg, s = self.config, self.summary
        s.fallbacks = self.watchdog.fallbacks
        s.stopped_by = self._stop_reason or "stop"
        s.wall_seconds = time.monotonic() - start
        if self.link.connected and not cfg.shadow and self._took_control:
            try:
                await asyncio.wait_for(self.link.write(mode="local"), 3.0)
                log.write("handover", to="local", reason=s.stopped_by,
                          baseline=getattr(self, "desc", None) and (self.desc.baseline_name
                                                                    or "hold last setpoints"))
            except (*CONNECTION_ERRORS, AssertionError) as exc:
                log.write("handover_failed", error=f"{type(exc).__name__}: {exc}")
        await self.link.close()
        log.write("stop", summary=asdict(s))
        log.close()

    async def run(self) -> DeploySummary:
        """Poll the twin and act once per new step until stopped, a limit, or giving up reconnecting."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        log = DecisionLog(self.log_path)
        self._log_start(log)
        start = time.monotonic()
        st = LoopState()
        try:
            while not self._stop.is_set():
                if self._duration_over(start):
                    break
                if not self.link.connected:
                    if not await self._connect(log):
                        break
                    st.last_seen_wall = time.monotonic()
                poll = min(max(self.desc.period / 10.0, 0.001), 0.05)
                snap = await self._read(log, st)
                if snap is None:
                    continue
                if not snap.consistent:
                    await self._sleep(poll / 4)
                elif snap.server_id != st.server_id and self._new_server(snap, st, log):
                    await self._sleep(poll)
                elif st.last_step is not None and snap.step == st.last_step:
                    await self._idle(snap, st, log)
                    await self._sleep(poll)
                elif await self._new_step(snap, st, log) and self._steps_done():
                    break
            self.summary.reward_sum += st.segment_reward()
        finally:
            await self._finish(log, start)
        return self.summary


def deploy(config: DeployConfig, handle_signals: bool = True) -> DeploySummary:
    """Run a deployment to completion in this thread (its own event loop); return the summary.

    With ``handle_signals`` (and in the main thread), SIGINT and SIGTERM stop it cleanly: the twin is
    handed back to its local baseline controller before the runtime exits.
    """
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    deployment = Deployment(config)

    async def main() -> DeploySummary:
        if handle_signals and threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, deployment.stop, f"signal {signal.Signals(sig).name}")
        return await deployment.run()

    return asyncio.run(main())
