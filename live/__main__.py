"""Child-process entry of :func:`twingym.live.spawn_server`: ``python -m twingym.live CONFIG READY``.

CONFIG is a JSON file ``{"config": ServerConfig.to_json(), "register": {id: "module:Class"},
"pythonpath": [...]}``, deleted once read (it may hold a password). READY is created, holding the
endpoint, once the server accepts connections. SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    cfg_path, ready_path = Path(argv[0]), Path(argv[1])
    data = json.loads(cfg_path.read_text())
    cfg_path.unlink(missing_ok=True)
    sys.path[:0] = data.get("pythonpath", [])

    from twingym.envs.registry import register, registered
    from twingym.live.server import ServerConfig, serve

    for twin_id, entry in data.get("register", {}).items():
        if twin_id not in registered():
            register(twin_id, entry)
    config = ServerConfig.from_json(data["config"])

    def ready(endpoint: str) -> None:
        tmp = ready_path.with_suffix(".tmp")
        tmp.write_text(endpoint)
        tmp.rename(ready_path)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    summary = serve(config, log=log, on_ready=ready)
    log(f"stopped ({summary.stopped_by}) after {summary.steps} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
