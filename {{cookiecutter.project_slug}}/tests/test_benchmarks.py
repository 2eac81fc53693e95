"""`make bench-serve`'s machinery: wrk's output, the process-tree CPU reading, the table."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from {{ cookiecutter.package_name }}.benchmarks.load import Usage, WrkResult, measure, parse_wrk
from {{ cookiecutter.package_name }}.benchmarks.serve import LoadOptions, Result, print_table
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.errors import UserError

WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:8080/predict
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  300.00us   9.00ms   90.00%
    Req/Sec     3.50k   100.00     3.70k    70.00%
  Latency Distribution
     50%    1.02ms
     75%    1.20ms
     90%    1.40ms
     99%    2.50ms
  6990 requests in 2.00s, 1.20MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:   3495.00
Transfer/sec:    600.00KB
"""

# Burns 0.3 s of CPU (and so does its child when depth > 0), says so, stays alive until stdin
# closes: the measured window sees a live two-level tree.
BURNER = textwrap.dedent(
    """
    import subprocess, sys, time
    depth, source = int(sys.argv[1]), sys.argv[2]
    child = None
    if depth:
        command = [sys.executable, "-c", source, str(depth - 1), source]
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    start = time.process_time()
    while time.process_time() - start < 0.3:
        pass
    if child:
        child.stdout.readline()
    print("burnt", flush=True)
    sys.stdin.read()
    if child:
        child.stdin.close()
        child.wait()
    """
)


def test_parse_wrk_reads_rate_percentiles_and_every_error() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert result == WrkResult(requests_per_s=3495.0, p50_ms=1.02, p99_ms=2.5, errors=6)


def test_parse_wrk_refuses_output_it_cannot_read() -> None:
    with pytest.raises(UserError, match="could not read wrk's output"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_measure_counts_children_and_grandchildren() -> None:
    with measure(os.getpid()) as usage:
        burner = subprocess.Popen(
            [sys.executable, "-c", BURNER, "1", BURNER],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert burner.stdout is not None and burner.stdin is not None
        assert burner.stdout.readline().strip() == "burnt"
    burner.stdin.close()
    assert burner.wait(timeout=60) == 0
    assert usage.cpu_seconds >= 0.55  # 0.3 s each in the child and the grandchild
    assert usage.cores == pytest.approx(usage.cpu_seconds / usage.wall_seconds)
    assert usage.rss_mib > 0


def test_the_table_puts_cores_next_to_throughput(capsys: pytest.CaptureFixture[str]) -> None:
    args = LoadOptions(connections=4, threads=1, warmup=1, duration=2)
    measured = Result("this server (commit)", parse_wrk(WRK_OUTPUT), Usage(2.2, 2.0, 250))
    print_table([measured, Result("mlflow models serve", note="mlflow is not installed")], args)
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("| server"))
    assert [cell.strip() for cell in header.split("|")[1:4]] == ["server", "req/s", "cores used"]
    row = next(line for line in lines if line.startswith("| this server"))
    # 1.10 cores / 3495 req/s = 0.315 CPU ms per request
    assert [cell.strip() for cell in row.split("|")[2:6]] == ["3495", "1.10", "0.315", "250"]
    missing = next(line for line in lines if line.startswith("| mlflow"))
    cells = [cell.strip() for cell in missing.split("|")[2:-1]]
    assert cells == ["-"] * 7 + ["mlflow is not installed"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench-serve", "--duration", "0"], "--duration"),
        (["bench-serve", "--skip", "wrk"], "--skip wrk: use mlflow or lean"),
        (["bench-batch", "--rows", "0"], "--rows"),
        (["chaos", "--durability", "eventually"], "--durability eventually: use commit"),
        (
            ["chaos", "--fault", "disk-full", "--database-url", "postgresql://u@127.0.0.1:1/x"],
            "disk-full needs SQLite",
        ),
        (["chaos", "--fault", "database-stop"], "database-stop --database-url"),
    ],
)
def test_bad_flags_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
