"""`make chaos`: faults under load; does a prediction the server acknowledged go missing?

For each durability mode and fault, this server (as `make serve` runs it, serving the
registered champion) starts on 127.0.0.1 with a scratch SQLite prediction log. Client threads
send `/predict` one row at a time on keep-alive connections (an answer 200 carries the
`request_id` the client now holds) and label every fourth prediction through `/feedback`. One
second in, the fault is injected; it is cleared `hold_s` later (a killed server is started
again at once, as a supervisor would), the load goes on until the server answers 200 again,
then everything is stopped and the log is read. A prediction is **lost** when it was answered
200 and its row is not in the log; a feedback when it was answered 200 and its label is not.

Faults: `server-kill` (kill -9 of the server), `writer-kill` (kill -9 of the log's writer
process), `disk-full` (writes that grow a file fail in the writer: RLIMIT_FSIZE 0; SQLite
only), `read-only` (PostgreSQL: `default_transaction_read_only`, as on a replica),
`replica-kill` (two replicas share the log, one is killed -9, clients move to the other),
`sigterm` (a rolling deploy: SIGTERM during load, the server drains, a new one starts),
`database-stop` (with `--database-url` and the commands that stop and start that
PostgreSQL). `--database-url` runs every fault against a PostgreSQL log (rows of this run are
counted, none deleted). Exit 1 when a row is lost in `commit` mode (`buffered` loses what it
held when the process dies: the table shows how much).
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.predlog.store import database_url, make_engine, metadata, predictions
from {{ cookiecutter.package_name }}.serving.smoke import call, example_row, free_port, stop, wait_ready
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX
from {{ cookiecutter.package_name }}.tables import render

FAULTS = (
    "server-kill", "writer-kill", "disk-full", "read-only", "replica-kill", "sigterm",
    "database-stop",
)  # fmt: skip
MODES = ("commit", "buffered")
FEEDBACK_EVERY = 4  # every fourth acknowledged prediction is labelled


@dataclass
class Tally:
    """What one client thread sent and was told (`merge` adds them up)."""

    sent: int = 0
    refused: int = 0  # 503
    failed: int = 0  # no answer (connection refused or reset) or another status
    acknowledged: list[str] = field(default_factory=list)
    labelled: dict[str, Any] = field(default_factory=dict)  # feedback answered 200
    last_ok: float = 0.0  # monotonic time of the latest 200


class Servers:
    """The replicas under test: started, killed and restarted on fixed ports."""

    def __init__(
        self, scratch: Path, durability: str, replicas: int, options: ChaosOptions
    ) -> None:
        self.scratch, self.options = scratch, options
        self.url = database_url(options.database_url, scratch / "predictions.db")  # SQLAlchemy
        self.env = {
            **os.environ,
            "DATABASE_URL": options.database_url or "",
            f"{ENV_PREFIX}SERVING__PREDICTION_LOG": str(scratch / "predictions.db"),
            f"{ENV_PREFIX}SERVING__DURABILITY": durability,
            f"{ENV_PREFIX}SERVING__ROUTING": "single",
            f"{ENV_PREFIX}LOG_LEVEL": "WARNING",
        }
        self.ports = [free_port() for _ in range(replicas)]
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * replicas
        self.stderr = (scratch / "servers.log").open("ab")

    def start(self, index: int) -> None:
        port = self.ports[index]
        self.processes[index] = process = subprocess.Popen(
            [sys.executable, "-m", "{{ cookiecutter.package_name }}", "serve",
             "--host", "127.0.0.1", "--port", str(port)],
            env=self.env, stdout=self.stderr, stderr=self.stderr,
        )  # fmt: skip
        try:
            wait_ready(f"http://127.0.0.1:{port}", process)
        except SystemExit as error:  # say why: the server's own last line
            said = (self.scratch / "servers.log").read_text(errors="replace").strip().splitlines()
            why = said[-1].removeprefix("error: ") if said else "no output"
            raise UserError(f"chaos: {str(error).removeprefix('error: ')}: {why}") from None

    def read_only(self, on: bool) -> None:
        """PostgreSQL: every new transaction read-only, as on a replica (needs a superuser)."""
        setting = (
            "SET default_transaction_read_only = on"
            if on
            else "RESET default_transaction_read_only"
        )
        engine = make_engine(self.url)
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text(f"ALTER SYSTEM {setting}"))
                connection.execute(text("SELECT pg_reload_conf()"))
        except SQLAlchemyError as error:
            raise UserError(
                f"chaos: read-only needs a superuser on the database: {error}"
            ) from None
        finally:
            engine.dispose()

    def database_command(self, command: str | None) -> None:
        assert command is not None, "checked by the command line"
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=120)
        if done.returncode:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
            raise UserError(f"chaos: `{command}` exited {done.returncode}: {said[0]}")

    def restart(self, index: int) -> None:
        """After a SIGTERM: wait for the drain, start a new server on the same port."""
        self.process(index).wait(timeout=60)
        self.start(index)

    def process(self, index: int = 0) -> subprocess.Popen[bytes]:
        process = self.processes[index]
        assert process is not None, "start() first"
        return process

    def writer_pid(self, index: int = 0) -> int:
        """The log writer: the server's only child process (Linux /proc)."""
        tasks = Path(f"/proc/{self.process(index).pid}/task")
        children = [
            pid for task in tasks.iterdir() for pid in (task / "children").read_text().split()
        ]
        if not children:
            raise UserError("chaos: the server has no log writer process (is it running?)")
        return int(children[0])

    def stop_all(self) -> None:
        for process in self.processes:
            if process is not None:
                stop(process)
        self.stderr.close()


def set_file_size_limit(pid: int, limits: tuple[int, int]) -> None:
    resource.prlimit(pid, resource.RLIMIT_FSIZE, limits)


def client(servers: Servers, row: dict[str, Any], tally: Tally, done: threading.Event) -> None:
    """One client: predict, label every FEEDBACK_EVERY-th answer; a dead connection moves to
    the other replica (if any)."""
    replica, connection = 0, None
    while not done.is_set():
        port = servers.ports[replica % len(servers.ports)]
        connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        tally.sent += 1
        try:
            status, body = post(connection, "/predict", {"instances": [row]})
            if status == 200:
                answer = json.loads(body)
                tally.acknowledged.append(answer["request_id"])
                tally.last_ok = time.monotonic()
                if len(tally.acknowledged) % FEEDBACK_EVERY == 0:
                    label = {"request_id": answer["request_id"], "label": answer["predictions"][0]}
                    if post(connection, "/feedback", label)[0] == 200:
                        tally.labelled[answer["request_id"]] = label["label"]
                continue
            tally.refused += status == 503
            tally.failed += status != 503
        except (OSError, http.client.HTTPException):
            tally.failed += 1
            connection.close()
            connection = None
            replica += 1  # the next connection goes to the other replica (if any)
        time.sleep(0.02)


def post(connection: http.client.HTTPConnection, path: str, payload: Any) -> tuple[int, bytes]:
    connection.request("POST", path, json.dumps(payload), {"content-type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def inject(fault: str, servers: Servers) -> Callable[[], None]:
    """Inject `fault`; return what clears it."""
    if fault == "server-kill":
        servers.process(0).kill()
        servers.process(0).wait()
        return lambda: servers.start(0)
    if fault == "writer-kill":
        os.kill(servers.writer_pid(0), signal.SIGKILL)
        return lambda: None  # the server restarts its writer itself
    if fault == "disk-full":
        pid = servers.writer_pid(0)
        limits = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, limits[1]))
        return lambda: set_file_size_limit(pid, limits)
    if fault == "replica-kill":
        servers.process(1).kill()
        return lambda: None  # the other replica carries the load
    if fault == "read-only":
        servers.read_only(True)
        return lambda: servers.read_only(False)
    if fault == "database-stop":
        servers.database_command(servers.options.database_stop)
        return lambda: servers.database_command(servers.options.database_start)
    servers.process(0).send_signal(signal.SIGTERM)  # sigterm: drain, then a new server
    return lambda: servers.restart(0)


@dataclass(frozen=True)
class ChaosOptions:
    """The `chaos` command's options."""

    faults: tuple[str, ...] = FAULTS
    modes: tuple[str, ...] = MODES
    clients: int = 8
    hold_s: float = 2.0  # how long a fault lasts
    recover_s: float = 60.0  # how long the load waits for a 200 after the fault cleared
    database_url: str | None = None  # a PostgreSQL log instead of a scratch SQLite file
    database_stop: str | None = None  # the commands `database-stop` runs
    database_start: str | None = None


@dataclass
class Outcome:
    fault: str
    mode: str
    tally: Tally
    stored: int
    lost: int
    feedback_lost: int
    recovery_s: float | None  # fault cleared -> next 200 (None: none within recover_s)


def run_fault(fault: str, mode: str, options: ChaosOptions) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        servers = Servers(Path(tmp), mode, 2 if fault == "replica-kill" else 1, options)
        before = count_rows(servers.url)
        tallies = [Tally() for _ in range(options.clients)]
        done = threading.Event()
        try:
            for index in range(len(servers.ports)):
                servers.start(index)
            model = json.loads(call(f"http://127.0.0.1:{servers.ports[0]}/model")[1])
            row = example_row(model["champion"])
            threads = [
                threading.Thread(target=client, args=(servers, row, t, done), daemon=True)
                for t in tallies
            ]
            for thread in threads:
                thread.start()
            recovery = load_through(fault, servers, tallies, options)
        finally:
            done.set()
            servers.stop_all()
        tally = merge(tallies)
        stored = stored_labels(servers.url, tally.acknowledged)
        written = count_rows(servers.url) - before
    lost = sum(request_id not in stored for request_id in tally.acknowledged)
    feedback_lost = sum(stored.get(rid) is None for rid in tally.labelled)
    return Outcome(fault, mode, tally, written, lost, feedback_lost, recovery)


def load_through(
    fault: str, servers: Servers, tallies: list[Tally], options: ChaosOptions
) -> float | None:
    """A second of load, the fault for `hold_s`, then load until a 200 after it cleared (at
    most `recover_s`). Returns the seconds from clearing (a killed server's restart included)
    to that 200 (within 0.05 s), or None."""
    time.sleep(1.0)
    clear = inject(fault, servers)
    time.sleep(options.hold_s)
    cleared = time.monotonic()
    clear()
    deadline = cleared + options.recover_s
    recovery = None
    while recovery is None and time.monotonic() < deadline:
        last_ok = max(t.last_ok for t in tallies)
        recovery = last_ok - cleared if last_ok > cleared else None
        time.sleep(0.05)
    time.sleep(0.5)  # some load after the recovery
    return recovery


def merge(tallies: list[Tally]) -> Tally:
    total = Tally()
    for tally in tallies:
        total.sent, total.refused = total.sent + tally.sent, total.refused + tally.refused
        total.failed += tally.failed
        total.acknowledged += tally.acknowledged
        total.labelled |= tally.labelled
    return total


def count_rows(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            metadata.create_all(connection)  # a fresh SQLite file: the server creates it too
            return int(
                connection.execute(select(func.count()).select_from(predictions)).scalar_one()
            )
    finally:
        engine.dispose()


def stored_labels(url: str, request_ids: list[str]) -> dict[str, Any]:
    """{request_id: label JSON or None} of the rows of `request_ids` in the log."""
    engine = make_engine(url)
    stored: dict[str, Any] = {}
    try:
        with engine.connect() as connection:
            for start in range(0, len(request_ids), 1000):
                chunk = request_ids[start : start + 1000]
                query = select(predictions.c.request_id, predictions.c.label).where(
                    predictions.c.request_id.in_(chunk)
                )
                stored |= dict(connection.execute(query).tuples().all())
    finally:
        engine.dispose()
    return stored


def print_table(outcomes: list[Outcome], options: ChaosOptions) -> None:
    print(
        f"\nchaos: {options.clients} clients, one row per request, fault held {options.hold_s:g} s,"
        f" {'PostgreSQL' if options.database_url else 'SQLite'} prediction log\n"
    )
    numbers = ("sent", "acknowledged", "stored", "lost", "503", "no answer", "recovery s",
               "feedback acked", "feedback lost")  # fmt: skip
    rows = [
        [o.fault, o.mode, o.tally.sent, len(o.tally.acknowledged), o.stored, o.lost,
         o.tally.refused, o.tally.failed,
         "-" if o.recovery_s is None else f"{o.recovery_s:.2f}",
         len(o.tally.labelled), o.feedback_lost]
        for o in outcomes
    ]  # fmt: skip
    print(render(["fault", "durability", *numbers], rows, right=numbers))
    print(
        "\nlost: answered 200 with a request_id, not in the log; recovery: from the fault's end"
        " (a killed server started again) to the next 200."
    )


def applicable(options: ChaosOptions) -> tuple[str, ...]:
    """The faults this log can take: `disk-full` needs SQLite, `read-only` a PostgreSQL (a
    running SQLite writer's open file cannot be made read-only), `database-stop` a PostgreSQL
    and the commands that stop and start it."""
    postgres = options.database_url is not None
    stoppable = postgres and bool(options.database_stop and options.database_start)
    return tuple(
        fault
        for fault in FAULTS
        if (fault != "disk-full" or not postgres)
        and (fault != "read-only" or postgres)
        and (fault != "database-stop" or stoppable)
    )


def run(options: ChaosOptions) -> int:
    faults = [fault for fault in options.faults if fault in applicable(options)]
    outcomes = []
    for mode in options.modes:
        for fault in faults:
            print(f"[{mode}] {fault} ...", flush=True)
            outcomes.append(run_fault(fault, mode, options))
    print_table(outcomes, options)
    return 1 if any(o.lost or o.feedback_lost for o in outcomes if o.mode == "commit") else 0
