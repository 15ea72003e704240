"""The wheel installs only under ``twingym/``: no bare envs/agents/training/policies/live/dashboard in
site-packages; the dashboard's page and vendored chart library ship with it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_only_the_twingym_namespace(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), "-q"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    wheels = list(tmp_path.glob("twingym-*.whl"))
    assert len(wheels) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level <= {"twingym", next(t for t in top_level if t.endswith(".dist-info"))}, top_level
    for bare in ("envs/", "agents/", "training/", "policies/", "live/", "configs/", "dashboard/"):
        assert not any(n.startswith(bare) for n in names), f"bare {bare} in the wheel"
    for module in ("twingym/envs/core.py", "twingym/envs/registry.py", "twingym/agents/__init__.py",
                   "twingym/training/__init__.py", "twingym/policies/__init__.py", "twingym/cli/__init__.py",
                   "twingym/live/__init__.py", "twingym/live/server.py",
                   "twingym/envs/turbines/data/Cp_Ct_Cq.NREL5MW.txt", "twingym/dashboard/app.py",
                   "twingym/dashboard/static/index.html", "twingym/dashboard/static/dashboard.js",
                   "twingym/dashboard/static/dashboard.css", "twingym/dashboard/static/vendor/uPlot.iife.min.js",
                   "twingym/dashboard/static/vendor/uPlot.min.css",
                   "twingym/dashboard/static/vendor/LICENSE.uPlot"):
        assert module in names, f"{module} missing from the wheel"
    assert any(n.startswith("twingym/configs/") and n.endswith(".yaml") for n in names) or \
        not list((ROOT / "configs").rglob("*.yaml")), "configs/*.yaml must ship in the wheel"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "twingym = twingym.cli:main" in zipfile.ZipFile(wheels[0]).read(entry_points).decode()
