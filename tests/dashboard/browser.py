"""Helpers of the dashboard tests: a live twin with its dashboard started from the CLI, and headless
Chromium driven by selenium (the Debian ``chromium`` and ``chromium-driver`` packages).

Every process started here is stopped by its own process id.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

URL_LINE = re.compile(r"dashboard: (https?://\S+)")
#: where screenshots land besides the test's temporary folder (kept out of git under runs/)
ARTEFACTS = Path(os.environ.get("TWINGYM_TEST_ARTEFACTS", "runs/test-artefacts"))


def chromium_paths() -> tuple[str, str] | None:
    """``(browser, driver)`` executables, or None when the browser is not installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def need_chromium() -> tuple[str, str]:
    paths = chromium_paths()
    if paths is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are required in CI (.ci/run installs them)")
        pytest.skip("chromium / chromedriver not installed (apt-get install -y chromium chromium-driver)")
    return paths


def open_browser(width: int = 1500, height: int = 1000):
    """A headless Chromium WebDriver that records the console (caller quits it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = need_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


class LiveTwinWithDashboard:
    """``twingym twin serve TWIN --dashboard 0`` in a child process; ``url`` once it is up."""

    def __init__(self, twin: str, folder: Path, speed: float, extra: list[str] | None = None) -> None:
        self.log_path = folder / "serve.log"
        from twingym.live import free_port

        cmd = [sys.executable, "-c", "from twingym.cli import main; main()", "twin", "serve", twin, "--speed", str(speed),
               "--port", str(free_port()), "--no-fsync", "--record", str(folder / "record.jsonl"),
               "--duration", "600", "--dashboard", "0", *(extra or [])]
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.url = self._wait_for_url(timeout=180)

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = URL_LINE.search(self.log_path.read_text())
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                raise RuntimeError(f"twin serve exited early:\n{self.log_path.read_text()}")
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"no dashboard URL within {timeout:g} s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


def save_screenshot(driver, folder: Path, name: str) -> Path:
    """Screenshot into the test's folder and a copy under :data:`ARTEFACTS`; returns the first."""
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, ARTEFACTS / path.name)
    return path


def severe_console_entries(driver) -> list[str]:
    """Console messages at level SEVERE (errors, failed loads, CSP violations)."""
    return [f"{e.get('level')}: {e.get('message')}" for e in driver.get_log("browser")
            if e.get("level") == "SEVERE"]
