"""Shared helpers of the benchmarks: paths, machine record, timing, worker subprocesses.

Every measurement that depends on thread pools runs in its own subprocess (TensorFlow's and
PyTorch's pools are fixed once their runtime starts), started through `run_worker`, which
passes a JSON job on the command line and reads one JSON result from the last line of stdout.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SPECS = BENCH_DIR / "specs"


def shared_data() -> Path:
    """`../shared/data` beside the repository, overridable by env `MODELSPEC_SHARED_DATA`."""
    env = os.environ.get("MODELSPEC_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def median(values) -> float:
    """The median of a non-empty sequence of numbers."""
    return float(statistics.median(list(values)))


def timed(func, *args, **kwargs) -> float:
    """Seconds of wall time taken by `func(*args, **kwargs)` (perf_counter)."""
    start = time.perf_counter()
    func(*args, **kwargs)
    return time.perf_counter() - start


def alternate(sides: dict, rounds: int) -> dict:
    """Times each side `rounds` times, alternating the order each round (ABBA...).

    Args:
        sides: Name → zero-argument callable returning seconds (or None to time the call).
        rounds: How many times each side runs.

    Returns:
        Name → list of seconds, one per round.
    """
    names = list(sides)
    out = {n: [] for n in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            start = time.perf_counter()
            value = sides[n]()
            out[n].append(value if value is not None else time.perf_counter() - start)
    return out


def machine() -> dict:
    """The machine and software versions the figures were measured with."""
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    for env in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        if os.environ.get(env):
            info[env] = os.environ[env]
    info.update(versions())
    return info


def versions() -> dict:
    """Versions of the libraries measured (without importing TensorFlow or PyTorch)."""
    from importlib import metadata
    out = {}
    for pkg in ("tensorflow", "keras", "numpy", "torch"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def quiet_env(extra: dict | None = None) -> dict:
    """The environment for worker subprocesses: TensorFlow's start-up logging silenced.

    The XLA flags `import modelspec` adds to this process's environment are not passed on:
    workers that measure `modelspec train`'s defaults import modelspec themselves, the plain
    Keras and PyTorch workers run with the environment they would have without it.
    """
    env = dict(os.environ)
    from modelspec import tfenv as xla_flags
    if env.get("TF_XLA_FLAGS", "").split() == list(xla_flags.FLAGS):
        del env["TF_XLA_FLAGS"]
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def run_worker(module: str, job: dict, timeout: float = 600, env: dict | None = None) -> dict:
    """Runs `python -m <module> '<job json>'` and returns the JSON on its last stdout line.

    Raises:
        RuntimeError: The worker failed or printed no JSON result (its stderr tail is quoted).
    """
    cmd = [sys.executable, "-m", module, json.dumps(job)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=quiet_env(env), cwd=str(REPO))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{module} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1])


def worker_main(handlers: dict) -> None:
    """Entry point of a worker module: dispatches `argv[1]` (a JSON job) on its `kind`."""
    job = json.loads(sys.argv[1])
    result = handlers[job["kind"]](job)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
