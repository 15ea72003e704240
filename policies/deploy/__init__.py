"""Deploy a validated policy bundle to a live twin over OPC UA (``twingym deploy``).

``deploy(DeployConfig(bundle, endpoint, ...)) -> DeploySummary`` runs the control loop (see
:mod:`twingym.policies.deploy.loop`): measurements -> sanitised observation -> ``policy.onnx``
(onnxruntime) -> safety layer -> setpoints, with a watchdog that hands control to the twin's baseline
controller on stale or non-finite data, a failed inference or a lost connection, and back when
healthy. No JAX or torch is imported.
"""

from twingym.policies.deploy.link import ClientSecurity, LinkError, TwinLink
from twingym.policies.deploy.log import DecisionLog, read_log
from twingym.policies.deploy.loop import DeployConfig, DeployError, Deployment, DeploySummary, deploy
from twingym.policies.deploy.safety import SafetyLayer, SafetyResult
from twingym.policies.deploy.watchdog import Transition, Watchdog

__all__ = [
    "ClientSecurity",
    "DecisionLog",
    "DeployConfig",
    "DeployError",
    "DeploySummary",
    "Deployment",
    "LinkError",
    "SafetyLayer",
    "SafetyResult",
    "Transition",
    "TwinLink",
    "Watchdog",
    "deploy",
    "read_log",
]
