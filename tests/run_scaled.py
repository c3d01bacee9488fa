"""Run the suite again on the scaled deployment's stores: PostgreSQL and Redis.

    python -m tests.run_scaled [pytest arguments]

When they do not answer, this says so and exits 0 on a developer's machine; with CI=true
it fails, because CI must run these tests.
"""

import os
import socket
import subprocess
import sys
from urllib.parse import urlsplit

DATABASE_URL = os.environ.get("SCALED_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SCALED_REDIS_URL", "redis://127.0.0.1:6379/1")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unreachable(url: str, default_port: int) -> str | None:
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or default_port)
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError as exc:
        return f"{parts.scheme} at {address[0]}:{address[1]} does not answer ({exc})"
    return None


def main(args: list[str]) -> int:
    problems = [p for p in (unreachable(DATABASE_URL, 5432), unreachable(REDIS_URL, 6379)) if p]
    if problems:
        print("Scaled-mode run skipped: " + "; ".join(problems), file=sys.stderr)
        print("Set SCALED_DATABASE_URL / SCALED_REDIS_URL to point at them.", file=sys.stderr)
        return 1 if IN_CI else 0
    print(f"Scaled-mode run: DATABASE_URL={DATABASE_URL} REDIS_URL={REDIS_URL}")
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL}
    command = [sys.executable, "-m", "pytest", "-m", "not browser", *args]
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
