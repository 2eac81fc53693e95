"""`make smoke`: start the server as users run it, exercise every route, stop it.

Needs a registered champion (`make pipeline`). Exits 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

READY_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(url: str, payload: Any = None, timeout: float = 10.0) -> tuple[int, bytes]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 - a loopback http URL we built
        url, data=data, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


def start_server(port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`<pkg> serve` on 127.0.0.1:port (the command `make serve` runs)."""
    return subprocess.Popen(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **(env or {})},
    )


def wait_ready(
    base: str, process: subprocess.Popen[bytes], timeout: float = READY_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: the server exited with code {process.returncode} on startup")
        try:
            if call(f"{base}/ready", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"error: the server was not ready within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def example_row(champion: dict[str, Any]) -> dict[str, Any]:
    """A valid row from GET /model's `inputs`: 0.0 per numeric feature, the first known
    category per categorical, a date per date column."""
    categories = champion.get("categories") or {}
    example = {"numeric": 0.0, "date": "2024-05-31"}
    return {
        name: example[kind] if kind in example else (categories.get(name) or [""])[0]
        for name, kind in champion["inputs"].items()
    }


def main() -> int:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_server(port)
    failures: list[str] = []
    try:
        wait_ready(base, process)
        status, body = call(f"{base}/model")
        champion = json.loads(body)["champion"]
        checks: list[tuple[str, int, int]] = [("GET /health", call(f"{base}/health")[0], 200)]
        status, body = call(f"{base}/predict", {"instances": [example_row(champion)]})
        checks.append(("POST /predict", status, 200))
        answer = json.loads(body) if status == 200 else {}
        # The label is the prediction itself: a valid label of any task (class or value).
        label = {
            "request_id": answer.get("request_id", ""),
            "label": (answer.get("predictions") or [None])[0],
        }
        checks.append(("POST /feedback", call(f"{base}/feedback", label)[0], 200))
        checks.append(("POST /predict (bad)", call(f"{base}/predict", {"instances": []})[0], 422))
        status, body = call(f"{base}/metrics")
        checks.append(("GET /metrics", status, 200))
        if b"model_requests_total" not in body:
            failures.append("/metrics has no model_requests_total")
        for name, got, want in checks:
            print(f"{name:22} {got} {'ok' if got == want else f'FAILED (want {want})'}")
            if got != want:
                failures.append(name)
    finally:
        stop(process)
    if failures:
        print(f"smoke test failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    print(f"smoke test passed ({Path.cwd().name} on {base})")
    return 0
