"""The tuned baseline parameters of the assembly cell: ``tuned_baselines.json`` beside this module.

The file is written by ``twingym evaluate --tune-baselines`` (``twingym.policies.baseline_tuning``)
and holds ``{"values": {params field: value}, "tuning": {...}}``: the chosen periodic-maintenance
period and wear threshold, and the grid-search table, seeds and command that produced them.
:func:`tuned_values` is read by ``default_cell_params`` on every call, so a new tuning is picked up
by the next ``make`` (and so by ``evaluate``, ``validate`` and training).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TUNED_FILE = Path(__file__).with_name("tuned_baselines.json")

#: the params fields the file may set, with their types
_FIELDS = {"pm_period": int, "pm_wear_threshold": float}


def tuned_values(path: Path | None = None) -> dict[str, Any]:
    """The tuned ``{field: value}`` of the baselines in ``path`` (default :data:`TUNED_FILE`; empty when
    the file does not exist)."""
    path = Path(TUNED_FILE if path is None else path)
    if not path.is_file():
        return {}
    values = json.loads(path.read_text()).get("values", {})
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ValueError(f"{path}: unknown tuned baseline parameter {unknown[0]!r}; known: {', '.join(_FIELDS)}")
    return {name: _FIELDS[name](value) for name, value in values.items()}
