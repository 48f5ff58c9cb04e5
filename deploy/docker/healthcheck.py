"""The images' Docker HEALTHCHECK: GET this container's own liveness URL, exit 0 on 200, else 1.

Kubernetes ignores HEALTHCHECK (its probes are in deploy/k8s); Docker and Compose (deploy/compose.yaml) use it. The port comes
from the settings the service binds with (DOSEWISE_API_PORT, DOSEWISE_INFERENCE_PORT, DOSEWISE_TRAINER_METRICS_PORT), so a
changed port cannot leave the check behind. The trainer serves no HTTP but its metrics: that it answers says the process
is up, not that it is learning (its metrics say that).
"""

from __future__ import annotations

import sys
import urllib.request

from dosewise.settings import get_settings


def url(service: str) -> str:
    s = get_settings()
    return {"api": f"http://127.0.0.1:{s.api_port}/healthz",
            "inference": f"http://127.0.0.1:{s.inference_port}/healthz",
            "trainer": f"http://127.0.0.1:{s.trainer_metrics_port}/metrics"}[service]


def main(argv: list[str]) -> int:
    target = url(argv[1])
    try:
        with urllib.request.urlopen(target, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except Exception as e:  # unhealthy, and why, in `docker inspect`
        print(f"{target}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
