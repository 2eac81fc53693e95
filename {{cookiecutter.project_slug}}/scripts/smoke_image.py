"""`make smoke-image`: run the built image the way the cluster runs it and check it serves.

The container gets what k8s/base gives the pod: a read-only root filesystem, uid 10001, a
tmpfs at /tmp and a volume at /app/data (a fresh named volume here, for the prediction log).
The checks: /ready; the image's own HEALTHCHECK command reports healthy (run by the engine,
every 2 s instead of every 15 s); /health; /predict on the champion's input example answers
with the champion resolved into the build context (build/model/champion/REGISTRY_VERSION);
/feedback on that request; writing outside the volumes is refused; after `docker stop` (the
server drains its log) the request's row is in the volume's SQLite log, read back by the
same image. Container and volume are removed at the end, whatever happened.

Exit status: 0 all checks passed, 1 a check failed, 2 bad usage or no docker.
Standard library only (the project's virtualenv runs it, `make smoke-image`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

READY_TIMEOUT_S = 120.0
LOG_DB = "/app/data/predictions.db"
UID = "10001:10001"
# Reads the logged row back; the container's own Python, so no sqlite3 needed on the runner.
READ_ROW = (
    "import json, sqlite3, sys\n"
    "with sqlite3.connect(sys.argv[1]) as db:\n"
    "    rows = db.execute('SELECT model_version, label FROM predictions WHERE request_id = ?',"
    " (sys.argv[2],)).fetchall()\n"
    "print(json.dumps(rows))\n"
)


class SmokeError(Exception):
    """One check failed; the message is the line the user reads."""


def docker(
    *args: str, check: bool = True, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-500:]
        raise SmokeError(f"docker {args[0]} failed: {output}")
    return done


def call(url: str, payload: Any = None) -> tuple[int, dict[str, Any]]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 - an http URL we built
        url, data=data, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            body = response.read()
            is_json = response.headers.get_content_type() == "application/json"
            return int(response.status), json.loads(body) if is_json and body else {}
    except urllib.error.HTTPError as error:
        return int(error.code), {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_container(args: argparse.Namespace, name: str, volume: str, port: int) -> None:
    """Start the image detached, as the Deployment runs it."""
    prefix = args.env_prefix
    network = ["--network", args.network]
    if args.network == "host":  # no port mapping: listen on the address the checks use
        network += ["--env", f"{prefix}_SERVING__HOST={args.address}"]
    else:
        bind = "127.0.0.1:" if args.address in {"127.0.0.1", "localhost"} else ""
        network += ["--publish", f"{bind}{port}:{port}"]
    docker(
        "run", "--detach", "--name", name, "--read-only", "--user", UID,
        "--tmpfs", "/tmp",  # noqa: S108 - the container's own tmpfs, as in k8s/base
        "--volume", f"{volume}:/app/data", "--health-interval", "2s", *network,
        "--env", f"{prefix}_SERVING__PORT={port}", args.image,
    )  # fmt: skip


def state(name: str, field: str) -> str:
    """One field of `docker inspect` (a Go template; the braces are spelt out for Jinja)."""
    return docker("inspect", "--format", "{" * 2 + field + "}" * 2, name).stdout.strip()


def wait_ready_and_healthy(base: str, name: str) -> None:
    """/ready answers 200 and the engine's HEALTHCHECK of the image says healthy."""
    if state(name, "json .Config.Healthcheck") in {"null", ""}:
        raise SmokeError("the image has no HEALTHCHECK")
    ready = False
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if state(name, ".State.Status") != "running":
            raise SmokeError(f"the container stopped: exit {state(name, '.State.ExitCode')}")
        with contextlib.suppress(OSError):  # not listening yet
            ready = ready or call(f"{base}/ready")[0] == 200
        if ready and state(name, ".State.Health.Status") == "healthy":
            print(f"ok: /ready and the image's HEALTHCHECK ({base})")
            return
        time.sleep(1)
    what = "healthy" if ready else "ready"
    raise SmokeError(f"the container was not {what} within {READY_TIMEOUT_S:.0f} s")


def check_serving(base: str, champion: Path) -> tuple[str, Any]:
    """/health, /predict on the input example (served by the champion), /feedback."""
    if call(f"{base}/health")[0] != 200:
        raise SmokeError("GET /health did not answer 200")
    example = json.loads((champion / "input_example.json").read_text(encoding="utf-8"))
    row = dict(zip(example["columns"], example["data"][0], strict=True))
    status, body = call(f"{base}/predict", {"instances": [row]})
    if status != 200:
        raise SmokeError(f"POST /predict answered {status}")
    expected = (champion / "REGISTRY_VERSION").read_text(encoding="utf-8").strip()
    if body.get("model_version") != expected:
        served = body.get("model_version")
        raise SmokeError(f"the image served {served}, the build context holds {expected}")
    request_id = str(body["request_id"])
    # The prediction itself is a valid label for every task (a class, or a regression value).
    label = body["predictions"][0]
    if call(f"{base}/feedback", {"request_id": request_id, "label": label})[0] != 200:
        raise SmokeError("POST /feedback did not answer 200")
    print(f"ok: /health, /predict served by {expected}, /feedback")
    return request_id, label


def check_confined(name: str) -> None:
    """The server runs as uid 10001 and cannot write outside its volumes."""
    probe = "import os; print(os.getuid()); open('/app/written', 'w')"
    done = docker("exec", name, "python", "-c", probe, check=False)
    if done.stdout.strip() != UID.split(":")[0]:
        raise SmokeError(f"the container runs as uid {done.stdout.strip()}, not 10001")
    if done.returncode == 0 or "Read-only file system" not in done.stderr:
        raise SmokeError("the container could write to its root filesystem (want --read-only)")
    print("ok: uid 10001, read-only root filesystem")


def check_logged(args: argparse.Namespace, volume: str, request_id: str, label: Any) -> None:
    """The drained prediction log on the volume holds the request with its feedback."""
    done = docker(
        "run", "--rm", "--read-only", "--user", UID, "--network", "none",
        "--volume", f"{volume}:/app/data", "--entrypoint", "python", args.image,
        "-c", READ_ROW, LOG_DB, request_id,
    )  # fmt: skip
    rows = json.loads(done.stdout)
    # The log keeps the label as JSON text, so strings and numbers round-trip.
    if len(rows) != 1 or rows[0][1] is None or json.loads(rows[0][1]) != label:
        raise SmokeError(f"the prediction log on the volume has {rows} for the request")
    print(f"ok: the request and its feedback are in {LOG_DB} on the volume")


def smoke(args: argparse.Namespace, name: str, volume: str) -> None:
    port = free_port()
    base = f"http://{args.address}:{port}"
    docker("volume", "create", volume)
    run_container(args, name, volume, port)
    wait_ready_and_healthy(base, name)
    request_id, label = check_serving(base, args.champion)
    check_confined(name)
    docker("stop", "--time", "30", name, timeout=60)  # SIGTERM: the server drains its log
    if state(name, ".State.ExitCode") != "0":
        raise SmokeError(f"the server exited {state(name, '.State.ExitCode')} on SIGTERM")
    check_logged(args, volume, request_id, label)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="the image to run (REGISTRY/NAME:TAG)")
    parser.add_argument("--champion", type=Path, required=True, help="build/model/champion")
    parser.add_argument("--env-prefix", required=True, help="the settings prefix, e.g. PKG")
    parser.add_argument("--network", default="bridge", help="docker network (host: no mapping)")
    parser.add_argument("--address", default="127.0.0.1", help="where the port is reached")
    args = parser.parse_args(argv)
    if not (args.champion / "REGISTRY_VERSION").is_file():
        parser.error(f"{args.champion} holds no resolved model: run `make build` first")
    if shutil.which("docker") is None:
        parser.error("docker not found on PATH")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    name = f"{args.env_prefix.lower()}-smoke-{os.getpid()}"
    volume = f"{name}-data"
    try:
        smoke(args, name, volume)
    except (SmokeError, subprocess.TimeoutExpired) as failure:
        logs = docker("logs", "--tail", "40", name, check=False)
        print((logs.stdout + logs.stderr).rstrip(), file=sys.stderr)
        print(f"error: smoke-image {args.image}: {failure}", file=sys.stderr)
        return 1
    finally:
        docker("rm", "--force", name, check=False)
        docker("volume", "rm", "--force", volume, check=False)
    print(f"smoke-image passed: {args.image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
