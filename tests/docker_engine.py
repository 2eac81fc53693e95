"""A private Docker engine for the tests, and the local stand-in for the pinned base image.

`docker_engine()` starts `dockerd` on its own socket, data root and exec root (vfs storage,
no iptables, no bridge: containers use `--network host`), yields an environment whose
`DOCKER_HOST` points at it, and stops it by PID with bounded waits. The data root lives in
the cache directory outside the repository (`~/.cache/mlops-template/`, or
`$MLOPS_TEMPLATE_CACHE`), so image layers (and the pip downloads inside them) survive between
runs and fresh clones; one engine at a time per cache (a file lock), so xdist workers and
other checkouts on the machine take turns.

Base images cannot be pulled here: `ensure_base_image(env)` builds `local/python:3.11-bookworm`
with `debootstrap --variant=minbase` (mirror from the machine's apt sources), links
`/usr/local/bin/python`, copies the machine's CA bundle in with pip's `cert` setting and
SSL_CERT_FILE (pip and uv in the image build then trust what they trust on the machine),
caches the result as a tarball with its sha256, and imports it. Every failure is a
`pytest.fail` under CI=true, a skip locally.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CACHE_ROOT as CACHE
from tests.conftest import IN_CI, require_tool

BASE_IMAGE = "local/python:3.11-bookworm"
BASE_TARBALL = CACHE / "docker-base" / "python-3.11-bookworm.tar"
SUITE = "bookworm"
PACKAGES = "python3,python3-venv,ca-certificates"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# uv in the image build (the Dockerfile's `uv sync`) trusts that bundle as pip does (pip.conf).
TRUST_ENV = f"SSL_CERT_FILE={CA_BUNDLE}"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
DEBOOTSTRAP_TIMEOUT_S = 900


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def docker_cli() -> str:
    """The Debian docker client (matches the engine's API), else any `docker` on PATH."""
    debian = Path("/usr/bin/docker")
    return str(debian) if debian.is_file() else require_tool("docker", "apt-get install docker.io")


def apt_mirror() -> str:
    """The Debian mirror the machine's apt uses (sources.list or deb822 .sources files)."""
    candidates = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in candidates:
        if not path.is_file() or path.suffix not in {"", ".list", ".sources"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        one_line = re.search(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", text, re.M)
        deb822 = re.search(r"^URIs:\s*(\S+)\s*$(?:(?!^$).)*?^Suites:.*\b" + SUITE + r"\b", text,
                           re.M | re.S)  # fmt: skip
        for found in (one_line, deb822):
            if found and "security" not in found.group(1):
                return found.group(1)
    _unavailable("no Debian bookworm mirror in /etc/apt/sources.list{,.d}")
    raise AssertionError("unreachable")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tarball_valid() -> bool:
    """The cached base tarball is complete: its recorded sha256 matches."""
    recorded = BASE_TARBALL.with_suffix(".tar.sha256")
    if not (BASE_TARBALL.is_file() and recorded.is_file()):
        return False
    return recorded.read_text(encoding="utf-8").strip() == _sha256(BASE_TARBALL)


def _build_base_tarball() -> None:
    debootstrap = require_tool("debootstrap", "apt-get install debootstrap (.ci/install-tools.sh)")
    BASE_TARBALL.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BASE_TARBALL.parent) as scratch:
        root = Path(scratch) / "root"
        result = subprocess.run(
            [debootstrap, "--variant=minbase", f"--include={PACKAGES}", SUITE, str(root),
             apt_mirror()],
            capture_output=True, text=True, timeout=DEBOOTSTRAP_TIMEOUT_S, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            _unavailable(f"debootstrap failed: {result.stdout[-800:]}{result.stderr[-800:]}")
        for bulky in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                      "usr/share/locale"):  # fmt: skip
            shutil.rmtree(root / bulky, ignore_errors=True)
        (root / "usr/local/bin/python").symlink_to("/usr/bin/python3")
        if CA_BUNDLE.is_file():  # the machine's trust store (it may add a local CA)
            shutil.copy2(CA_BUNDLE, root / CA_BUNDLE.relative_to("/"))
        (root / "etc/pip.conf").write_text(f"[global]\ncert = {CA_BUNDLE}\n", encoding="utf-8")
        partial = BASE_TARBALL.with_suffix(".tar.partial")
        subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], check=True, timeout=300)
        partial.replace(BASE_TARBALL)
    BASE_TARBALL.with_suffix(".tar.sha256").write_text(_sha256(BASE_TARBALL) + "\n")


def ensure_base_image(env: dict[str, str]) -> str:
    """`local/python:3.11-bookworm` in the engine (imported from the cached tarball)."""
    docker = docker_cli()
    present = subprocess.run(
        [docker, "image", "inspect", "--format", "{{json .Config.Env}}", BASE_IMAGE],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if present.returncode == 0 and TRUST_ENV in present.stdout:
        return BASE_IMAGE
    if not _tarball_valid():
        _build_base_tarball()
    with BASE_TARBALL.open("rb") as tarball:
        subprocess.run(
            [docker, "import", "--change", f"ENV {TRUST_ENV}", "-", BASE_IMAGE], stdin=tarball,
            env=env, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    return BASE_IMAGE


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the engine by its PID, SIGKILL it after a bounded wait."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


def _start(dockerd: str, root: Path, run: Path, log: Path) -> subprocess.Popen[bytes]:
    socket = run / "docker.sock"
    command = [
        dockerd, "-H", f"unix://{socket}", "--data-root", str(root / "data"),
        "--exec-root", str(run / "exec"), "--pidfile", str(run / "docker.pid"),
        "--storage-driver", "vfs", "--iptables=false", "--ip-masq=false", "--bridge=none",
    ]  # fmt: skip
    with log.open("wb") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)


def _wait_ready(process: subprocess.Popen[bytes], env: dict[str, str]) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        info = subprocess.run(
            [docker_cli(), "version", "--format", "{{.Server.Version}}"], env=env,
            capture_output=True, check=False, timeout=10,
        )  # fmt: skip
        if info.returncode == 0:
            return True
        time.sleep(0.5)
    return False


@contextlib.contextmanager
def docker_engine() -> Iterator[dict[str, str]]:
    """A running private engine (environment with DOCKER_HOST); stopped on exit."""
    if os.geteuid() != 0:
        _unavailable("the Docker engine test needs root (dockerd)")
    dockerd = require_tool("dockerd", "apt-get install docker.io (.ci/install-tools.sh)")
    root = CACHE / "docker"
    root.mkdir(parents=True, exist_ok=True)
    with (root / "engine.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one engine per data root at a time
        run = Path(tempfile.mkdtemp(prefix="dockerd-", dir="/tmp"))  # short socket path
        env = {**os.environ, "DOCKER_HOST": f"unix://{run / 'docker.sock'}"}
        env.pop("DOCKER_CONTEXT", None)
        log = root / "dockerd.log"
        process = _start(dockerd, root, run, log)
        if not _wait_ready(process, env):
            _stop(process)
            # A data root left broken by a killed run: start once more from an empty one.
            shutil.rmtree(root / "data", ignore_errors=True)
            process = _start(dockerd, root, run, log)
            if not _wait_ready(process, env):
                _stop(process)
                tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
                _unavailable(f"dockerd did not start within {START_TIMEOUT_S}s: {tail}")
        try:
            yield env
        finally:
            _stop(process)
            shutil.rmtree(run, ignore_errors=True)
