"""The generated model server: option checks, and its own tests against real PostgreSQL.

The slow test installs the default project (the bake's cached venv), starts a throwaway
PostgreSQL server on 127.0.0.1 (Debian package `postgresql`, .ci/install-tools.sh), runs the
generated serving tests with TEST_DATABASE_URL pointing at it, stops the server by PID, then
runs `make pipeline smoke` and a short `bench-serve`.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import VENV_CACHE, free_port, make, render, require_tool
from tests.hooks_loader import load_hook


def test_canary_or_shadow_rollout_excludes_an_online_experiment() -> None:
    hook = load_hook("pre_gen_project")
    base = {
        "project_name": "Churn Model", "project_slug": "churn-model",
        "package_name": "churn_model", "author_name": "A", "author_email": "a@example.com",
        "github_org": "my-org",
    }  # fmt: skip
    for rollout in ("canary", "shadow"):
        for experiment in ("ab-test", "bandit"):
            answers = {"rollout_strategy": rollout, "online_experiment": experiment}
            found = hook.problems(base | answers)
            assert len(found) == 1
            assert "rollout_strategy and online_experiment" in found[0]
            assert "\n" not in found[0]
    for rollout, experiment in (("rolling", "bandit"), ("canary", "none"), ("shadow", "none")):
        assert not hook.problems(
            base | {"rollout_strategy": rollout, "online_experiment": experiment}
        )


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if found:
        return found[-1].parent
    hint = "apt-get install postgresql (.ci/install-tools.sh)"
    return Path(require_tool("postgres", hint)).parent


class PostgresServer:
    """A throwaway PostgreSQL on 127.0.0.1 that can be stopped and started again (outages);
    `with PostgresServer() as pg:` runs it, stops it by PID and removes its data after."""

    def __init__(self) -> None:
        self.bindir = _postgres_bin()
        # PostgreSQL refuses to run as root: use the package's `postgres` account then.
        self.user = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="serving-pg-"))
        self.root.chmod(0o755)
        self.data, self.sockets = self.root / "data", self.root / "run"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PostgresServer:
        try:
            for directory in (self.data, self.sockets):
                directory.mkdir()
                if self.user is not None:
                    account = pwd.getpwnam(self.user)
                    os.chown(directory, account.pw_uid, account.pw_gid)
            subprocess.run(
                [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                 "--auth=trust", "-E", "UTF8", "--no-sync"],
                user=self.user, capture_output=True, check=True, timeout=120,
            )  # fmt: skip
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self) -> None:
        log = (self.root / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.data), "-h", "127.0.0.1",
             "-p", str(self.port), "-k", str(self.sockets), "-c", "fsync=off"],
            user=self.user, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True, check=False, timeout=10,
            )  # fmt: skip
            if ready.returncode == 0:
                return
            assert self.process.poll() is None, (self.root / "postgres.log").read_text()
            assert time.monotonic() < deadline, "PostgreSQL did not start within 60 s"
            time.sleep(0.25)

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.process = None
        if (self.data / "postmaster.pid").exists():  # started again by pg_ctl (`control`)
            subprocess.run(shlex.split(self.control("stop")), capture_output=True, check=False,
                           timeout=60)  # fmt: skip

    def control(self, action: str) -> str:
        """The shell command that stops or starts this server with pg_ctl (chaos's
        database-stop); `stop` afterwards still stops a server pg_ctl started."""
        prefix = f"runuser -u {self.user} -- " if self.user else ""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.sockets} -c fsync=off"
        pg_ctl = f"{prefix}{self.bindir / 'pg_ctl'} -D {self.data} -w"
        if action == "stop":
            return f"{pg_ctl} -m fast stop"
        return f"{pg_ctl} -l {self.data / 'restarted.log'} -o {shlex.quote(options)} start"

    def query(self, sql: str) -> list[str]:
        """The first column of `sql`'s rows (psql, unaligned)."""
        done = subprocess.run(
            [str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-At", "-c", sql],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        return done.stdout.split()


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL on 127.0.0.1; yields its URL, stops it by PID afterwards."""
    with PostgresServer() as server:
        yield server.url


@pytest.mark.slow
@pytest.mark.xdist_group("venv-default")
def test_generated_serving_tests_pass_against_postgresql(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    project = render(tmp_path_factory.mktemp("serving"))
    venv = VENV_CACHE / "bake-default"
    make(project, "install", venv=venv)
    python = str(venv / "bin" / "python")
    with postgres_server() as url:
        result = subprocess.run(
            [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
             "tests/test_serving.py", "tests/test_serving_log.py", "tests/test_serving_routing.py"],
            cwd=project, env=os.environ | {"TEST_DATABASE_URL": url},
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "skipped" not in output, output[-3000:]  # the PostgreSQL tests really ran

    # The real artifact: pipeline -> registry -> server, every route checked.
    smoke = make(project, "pipeline", "smoke", venv=venv)
    assert "smoke test passed" in smoke.stdout
    if shutil.which("wrk") is None:
        require_tool("wrk", "apt-get install wrk (.ci/install-tools.sh)")
    bench = make(
        project, "bench-serve", venv=venv,
        BENCH_SERVE_FLAGS="--duration 2 --warmup 1 --connections 4 --threads 1",
    )  # fmt: skip
    table = bench.stdout.split("bench-serve:")[1]
    rows = table_rows(table)
    assert rows[0][:4] == ["server", "req/s", "cores used", "CPU ms/req"], table
    measured = {row[0]: row[1:] for row in rows[1:]}
    servers = ("this server (commit)", "this server (buffered)", "mlflow models serve",
               "lean fastapi+onnxruntime")  # fmt: skip
    for name in servers:
        requests_per_s, cores_used = (float(value) for value in measured[name][:2])
        assert requests_per_s > 0 and 0 < cores_used <= (os.cpu_count() or 1), table

    # Faults under load (short): in commit mode no acknowledged prediction or label is lost,
    # on SQLite and on a PostgreSQL the replicas share (stopped and started again).
    flags = "--durability commit --hold 1 --clients 4"
    chaos = make(project, "chaos", venv=venv, CHAOS_FLAGS=flags)
    assert_nothing_lost(chaos.stdout, ["server-kill", "writer-kill", "disk-full", "replica-kill",
                                       "sigterm"])  # fmt: skip
    with PostgresServer() as pg:
        flags += (f" --database-url {pg.url} --database-stop {shlex.quote(pg.control('stop'))}"
                  f" --database-start {shlex.quote(pg.control('start'))}")  # fmt: skip
        chaos = make(project, "chaos", venv=venv, CHAOS_FLAGS=flags)
    assert_nothing_lost(chaos.stdout, ["server-kill", "writer-kill", "read-only", "replica-kill",
                                       "sigterm", "database-stop"])  # fmt: skip


def table_rows(text: str) -> list[list[str]]:
    """The cells of a Markdown table's rows (header first)."""
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ")
    ]


def assert_nothing_lost(output: str, faults: list[str]) -> None:
    """`make chaos`'s table: every fault ran, was answered, lost nothing and recovered."""
    header, *rows = table_rows(output.split("chaos:")[1])
    outcomes = [dict(zip(header, row, strict=True)) for row in rows]
    assert [outcome["fault"] for outcome in outcomes] == faults, output
    for outcome in outcomes:
        assert int(outcome["acknowledged"]) > 0 and outcome["recovery s"] != "-", output
        assert outcome["lost"] == "0" and outcome["feedback lost"] == "0", output
