"""The dashboard in a real browser: headless Chromium opens the page of a live twin started from the CLI."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from browser import LiveTwinWithDashboard, open_browser, save_screenshot, severe_console_entries

STATIC = Path(__file__).resolve().parents[2] / "dashboard" / "static"


def _step(driver) -> int | None:
    text = driver.find_element("id", "step").text.strip()
    return int(text) if text.isdigit() else None


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def test_wind_farm_dashboard_in_chromium(tmp_path: Path) -> None:
    """Step counter advances, one picture element per turbine, a clean console, a screenshot."""
    from twingym.envs import make

    _, params = make("WindFarm-v0")
    twin = LiveTwinWithDashboard("WindFarm-v0", tmp_path, speed=120.0)   # dt 30 s: 4 steps per second
    driver = None
    try:
        driver = open_browser()
        driver.get(twin.url)
        first = _wait(lambda: _step(driver), 60, "a first step on the page")
        later = _wait(lambda: (s := _step(driver)) is not None and s >= first + 3 and s, 60,
                      "the step counter to advance")
        assert later >= first + 3
        turbines = driver.find_elements("css selector", "#picture .turbine")
        assert len(turbines) == params.n_turbines
        wakes = driver.find_elements("css selector", "#picture .wakes polygon")
        assert len(wakes) == params.n_turbines
        assert all(w.get_attribute("points") for w in wakes)       # drawn from live data
        rows = driver.find_elements("css selector", "#setpoints tbody tr")
        assert len(rows) == params.n_turbines
        assert "MW" in driver.find_element("id", "picture").text
        assert driver.find_elements("css selector", "#charts .chart canvas")   # uPlot drew its charts
        origin = urlparse(twin.url).netloc
        loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(urlparse(u).netloc == origin for u in loaded if not u.startswith("data:")), loaded
        time.sleep(1.0)
        assert severe_console_entries(driver) == []
        shot = save_screenshot(driver, tmp_path, "dashboard-WindFarm-v0")
        assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        if driver is not None:
            driver.quit()
        twin.stop()


#: what the page may reference: its own paths and data URLs only
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)|@import\s+["']([^"']+)""", re.I)
ABSOLUTE = re.compile(r"""["'`(]\s*(?:[a-z][a-z0-9+.-]*:)?//[^\s"'`)]+""", re.I)
COMMENT = re.compile(r"/\*.*?\*/|(?<![:\"'\\])//[^\n]*|<!--.*?-->", re.S)
NAMESPACES = {"http://www.w3.org/2000/svg"}


def test_page_references_no_external_url() -> None:
    """No file of the page (HTML, script, style, vendored library) loads anything from another host."""
    files = [p for p in STATIC.rglob("*") if p.suffix in (".html", ".js", ".css")]
    assert {p.name for p in files} >= {"index.html", "dashboard.js", "dashboard.css", "uPlot.iife.min.js"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for match in REFERENCE.finditer(text):
            target = next(g for g in match.groups() if g)
            local = not target.startswith("//") and "://" not in target
            assert local or target.startswith("data:"), f"{path.name} references {target}"
        code = COMMENT.sub("", text)
        for match in ABSOLUTE.finditer(code):
            url = match.group(0).lstrip("\"'`( ").strip()
            assert url in NAMESPACES, f"{path.name} contains an absolute URL: {url}"
    licence = STATIC / "vendor" / "LICENSE.uPlot"
    assert "MIT License" in licence.read_text()


#: twin -> (CSS selector of its picture's per-asset elements, how many the twin's schematic implies)
PICTURES = {
    "PowerGrid-v0": ("#picture .line", lambda s: len(s["lines"])),
    "AssemblyCell-v0": ("#picture .station", lambda s: s["stations"]),
    "WindTurbine-v0": ("#picture .turbine", lambda s: 1),
}


@pytest.mark.parametrize("twin_id", sorted(PICTURES))
def test_every_twin_is_drawn_in_chromium(twin_id: str, tmp_path: Path) -> None:
    """The other twins: their picture has one element per asset and the console stays clean."""
    from twingym.envs import make

    env, params = make(twin_id)
    selector, expected = PICTURES[twin_id]
    speed = float(getattr(params, "dt", 1.0)) * 4.0
    twin = LiveTwinWithDashboard(twin_id, tmp_path, speed=speed)
    driver = None
    try:
        driver = open_browser()
        driver.get(twin.url)
        first = _wait(lambda: _step(driver), 60, "a first step on the page")
        _wait(lambda: (s := _step(driver)) is not None and s > first, 60, "the step counter to advance")
        assert len(driver.find_elements("css selector", selector)) == expected(env.schematic(params))
        time.sleep(1.0)
        assert severe_console_entries(driver) == []
        save_screenshot(driver, tmp_path, f"dashboard-{twin_id}")
    finally:
        if driver is not None:
            driver.quit()
        twin.stop()
