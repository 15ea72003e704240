"""Client writes as an HMI expects them: numbers of any numeric type, and status codes that say why.

The gate sits in front of asyncua's attribute service (:meth:`WriteGate.install`) and answers
every client Write of a ``Value``:

- a setpoint accepts Double, Float and every integer type, converted to Double; NaN or infinity is
  refused with ``BadOutOfRange``, so is a value outside the setpoint's range (the action bounds,
  with a float32 round-off margin inside which it is clipped to the bound) and, for a discrete
  setpoint, a value that is not a whole number; anything else (a string, an array) gets
  ``BadTypeMismatch``;
- an enumerated string variable (``ControlMode``) accepts only its values, else ``BadOutOfRange``;
- a variable whose AccessLevel does not allow writing (every measurement, applied value, baseline
  suggestion and twin-level status) gets ``BadNotWritable``.

Accepted writes then go through asyncua unchanged (its access checks, the PostWrite hook), with the
converted Double in place of what the client sent. Server-side writes (publishing) do not pass here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from asyncua import ua

#: variant types a setpoint accepts (converted to Double)
NUMERIC_TYPES = frozenset({
    ua.VariantType.Double, ua.VariantType.Float, ua.VariantType.SByte, ua.VariantType.Byte,
    ua.VariantType.Int16, ua.VariantType.UInt16, ua.VariantType.Int32, ua.VariantType.UInt32,
    ua.VariantType.Int64, ua.VariantType.UInt64,
})
#: relative margin inside which a value just outside a bound is float32 round-off, clipped to it
ROUND_OFF = 1e-6


@dataclass(frozen=True)
class SetpointRule:
    """Range of one setpoint: ``low``/``high`` (inclusive), ``integer`` for discrete actions."""

    low: float
    high: float
    integer: bool = False

    def check(self, value: Any, vtype: ua.VariantType) -> tuple[ua.StatusCode, float | None]:
        """``(status, converted value)``; the value is None unless the status is Good."""
        if vtype not in NUMERIC_TYPES or isinstance(value, list | tuple | bool):
            return ua.StatusCode(ua.StatusCodes.BadTypeMismatch), None
        number = float(value)
        if not math.isfinite(number):
            return ua.StatusCode(ua.StatusCodes.BadOutOfRange), None
        margin_low = ROUND_OFF * max(1.0, abs(self.low))
        margin_high = ROUND_OFF * max(1.0, abs(self.high))
        if number < self.low - margin_low or number > self.high + margin_high:
            return ua.StatusCode(ua.StatusCodes.BadOutOfRange), None
        number = min(max(number, self.low), self.high)
        if self.integer and number != round(number):
            return ua.StatusCode(ua.StatusCodes.BadOutOfRange), None
        return ua.StatusCode(ua.StatusCodes.Good), number


class WriteGate:
    """Checks and converts client writes before asyncua's attribute service handles them.

    Args:
        setpoints: node id -> :class:`SetpointRule`.
        choices: node id -> allowed string values.
        namespace: index of the twin's namespace; writes to other namespaces (the server's own
            nodes, which asyncua itself writes at start-up) pass unchecked.
    """

    def __init__(self, setpoints: dict[ua.NodeId, SetpointRule],
                 choices: dict[ua.NodeId, tuple[str, ...]], namespace: int) -> None:
        self.setpoints = setpoints
        self.choices = choices
        self.namespace = namespace
        self._aspace: Any = None
        self._forward: Any = None

    def install(self, server: Any) -> None:
        """Wrap ``server``'s attribute service (an ``asyncua.Server`` after ``init``)."""
        service = server.iserver.attribute_service
        self._aspace = server.iserver.aspace
        self._forward = service.write
        service.write = self.write

    def _writable(self, node_id: ua.NodeId) -> bool:
        level = self._aspace.read_attribute_value(node_id, ua.AttributeIds.AccessLevel)
        if level.StatusCode is not None and not level.StatusCode.is_good():
            return True     # not a variable (or unknown): asyncua answers
        return bool(level.Value is not None and level.Value.Value is not None
                    and ua.ua_binary.test_bit(level.Value.Value, ua.AccessLevel.CurrentWrite))

    def verdict(self, wv: ua.WriteValue) -> tuple[ua.StatusCode | None, ua.WriteValue]:
        """``(refusal or None, the write to forward)`` for one WriteValue."""
        if wv.AttributeId != ua.AttributeIds.Value or wv.NodeId.NamespaceIndex != self.namespace:
            return None, wv
        variant = wv.Value.Value if wv.Value is not None else None
        value = variant.Value if variant is not None else None
        vtype = variant.VariantType if variant is not None else ua.VariantType.Null
        if wv.NodeId in self.setpoints:
            status, number = self.setpoints[wv.NodeId].check(value, vtype)
            if not status.is_good():
                return status, wv
            dv = replace(wv.Value, Value=ua.Variant(number, ua.VariantType.Double))
            return None, replace(wv, Value=dv)
        if wv.NodeId in self.choices:
            if vtype != ua.VariantType.String:
                return ua.StatusCode(ua.StatusCodes.BadTypeMismatch), wv
            if value not in self.choices[wv.NodeId]:
                return ua.StatusCode(ua.StatusCodes.BadOutOfRange), wv
            return None, wv
        if not self._writable(wv.NodeId):
            return ua.StatusCode(ua.StatusCodes.BadNotWritable), wv
        return None, wv

    async def write(self, params: ua.WriteParameters, user: Any = None, **kwargs: Any) -> list[ua.StatusCode]:
        results: list[ua.StatusCode | None] = []
        forward: list[ua.WriteValue] = []
        for i, wv in enumerate(params.NodesToWrite):
            refusal, checked = self.verdict(wv)
            results.append(refusal)
            params.NodesToWrite[i] = checked       # the PostWrite hook reads the converted value
            if refusal is None:
                forward.append(checked)
        if forward:
            sub = ua.WriteParameters(NodesToWrite=forward)
            done = iter(await (self._forward(sub, user=user, **kwargs) if user is not None
                               else self._forward(sub, **kwargs)))
            results = [next(done) if r is None else r for r in results]
        return [r for r in results if r is not None]
