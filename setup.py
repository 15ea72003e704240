"""Package layout for twingym.

The repository keeps the top-level folders named in DESIGN.md (``envs/``, ``agents/``, ``training/``,
``policies/``, ``live/``, ``configs/``); they install as ``twingym.envs`` and so on. The mapping is computed here
so a new subpackage (a new twin folder) is picked up without editing a list.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

FOLDERS = {
    "twingym": "twingym",
    "twingym.envs": "envs",
    "twingym.agents": "agents",
    "twingym.training": "training",
    "twingym.policies": "policies",
    "twingym.live": "live",
    "twingym.configs": "configs",
    "twingym.dashboard": "dashboard",
}

packages: list[str] = []
package_dir: dict[str, str] = {}
for name, folder in FOLDERS.items():
    if not Path(folder).is_dir():
        continue
    packages.append(name)
    package_dir[name] = folder
    for sub in find_namespace_packages(where=folder, exclude=["*__pycache__*"]):
        packages.append(f"{name}.{sub}")
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"": ["*.yaml", "*.yml", "*.txt", "*.json", "*.csv", "*.IN", "LICENSE*", "*.md", "*.html", "*.js",
                      "*.css"]},
)
