"""What authentication costs per request: ``experiments/get`` with STUDIO_AUTH off, on with a token, on with Basic.

In-process, on a fresh SQLite file: migrates, creates a user, a personal access token and an experiment the user
owns (MANAGE, as its creator would), then sends ``GET /api/2.0/mlflow/experiments/get?experiment_id=…`` through
Django's test client (the whole middleware stack, URL resolution, the access rule and the view) ``--requests``
times in each mode after a warm-up. The modes take turns request by request, so a load change on a shared machine
touches all three alike. Basic is timed after its first verification, which the middleware caches (the password hash
is deliberately slow: about 0.3 s with Django's PBKDF2). The number the issue asks for is token - off (< 1 ms).

    .venv/bin/python bench/auth.py                  # 2,000 requests per mode
    .venv/bin/python bench/auth.py --requests 200   # a smoke run
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-1"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def setup() -> tuple[str, str, str]:
    """Migrate, and create the user, their token and their experiment; the experiment id, token and Basic header."""
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from studio.auth.tokens import create_token
    from tracking.store import experiments

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password=PASSWORD)
    _, secret = create_token(user=user, name="bench")
    experiment_id = str(experiments.create_experiment(name="auth-bench", owner=user))  # MANAGE for its creator
    basic = base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
    return experiment_id, f"Bearer {secret}", f"Basic {basic}"


def measure(requests: int, warmup: int) -> dict[str, list[float]]:
    """Latencies in ms of each mode, the modes taking turns."""
    from django.conf import settings
    from django.test import Client

    experiment_id, bearer, basic = setup()
    url = f"/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}"
    client = Client()
    modes: dict[str, tuple[bool, dict[str, str]]] = {
        "off": (False, {}),
        "on, token (Bearer)": (True, {"HTTP_AUTHORIZATION": bearer}),
        "on, Basic (cached)": (True, {"HTTP_AUTHORIZATION": basic}),
    }

    def one(auth: bool, headers: dict[str, str]) -> float:
        settings.STUDIO_AUTH = auth  # read by the middleware at request time
        start = time.perf_counter()
        response = client.get(url, **headers)
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{response.status_code} {response.content[:300]!r}")
        return elapsed

    for auth, headers in modes.values():  # the first Basic request verifies the password and fills the cache
        for _ in range(warmup):
            one(auth, headers)
    samples: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(requests):
        for name, (auth, headers) in modes.items():
            samples[name].append(one(auth, headers))
    return samples


def table(samples: dict[str, list[float]]) -> str:
    off = statistics.median(samples["off"])
    lines = ["| mode | p50 ms | p95 ms | p50 - off |", "|---|---|---|---|"]
    for name, values in samples.items():
        p50 = statistics.median(values)
        extra = "" if name == "off" else f"{p50 - off:+.3f} ms"
        lines.append(f"| {name} | {p50:.3f} | {percentile(values, 0.95):.3f} | {extra} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per mode")
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="studio-auth-bench-"))
    os.environ["STUDIO_DATA_DIR"] = str(data_dir)
    os.environ.pop("DATABASE_URL", None)
    try:
        samples = measure(args.requests, args.warmup)
        token = statistics.median(samples["on, token (Bearer)"]) - statistics.median(samples["off"])
        print(f"\n{args.requests} requests per mode, {platform.python_version()}, {os.cpu_count()} cores\n")
        print(table(samples))
        print(f"\nauthentication with a token costs {token:.3f} ms per request (target < 1 ms): "
              f"{'met' if token < 1 else 'NOT met'}")  # fmt: skip
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
