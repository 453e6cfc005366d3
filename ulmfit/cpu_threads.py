"""CPU threads for the command-line tools on a shared machine.

torch starts one intra-op thread per core. When other jobs already keep those cores busy, its threads wait
on each other at every parallel region: on the project's 2-core machine ``ulmfit demo`` took 30 s alone with
2 threads, 51 s with 1, and 5 min 37 s with 2 threads beside one busy job (55 s with 1). So the commands
start with the cores that are free (at least one); the training commands say so on stderr.
``OMP_NUM_THREADS`` decides instead; the Python API itself is left alone.

"Free" is read from the 1-minute load average and, when that says busy, checked against what the CPUs do
now (half a second of ``/proc/stat`` on Linux): the load average still counts a job for a minute after it
ended, so right after ``pip install`` the demo would otherwise run on one thread of an idle machine
(95 s instead of 58 s).
"""

from __future__ import annotations

import os
import time

import torch

__all__ = ["threads_for_load", "busy_cpus", "choose_cpu_threads"]


def threads_for_load(available: int, logical_cpus: int, load: float) -> int:
    """Intra-op threads to use: the CPUs not already busy by ``load``, at least 1 and at most ``available``.

    threads_for_load(2, 2, 0.3) -> 2; (2, 2, 1.2) -> 1; (16, 16, 4.0) -> 12; (4, 8, 7.9) -> 1.
    """
    return max(1, min(available, logical_cpus - int(load + 0.5)))


def _cpu_times(stat_line: str) -> tuple[int, int]:
    """(all, idle) jiffies from the ``cpu`` line of ``/proc/stat``; idle includes iowait, busy includes steal."""
    fields = [int(x) for x in stat_line.split()[1:9]]
    return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)


def busy_cpus(interval: float = 0.5) -> float | None:
    """How many CPUs other processes keep busy during the next ``interval`` seconds (this one sleeps), from
    ``/proc/stat``; None where that cannot be read (not Linux)."""
    try:
        with open("/proc/stat") as f:
            total0, idle0 = _cpu_times(f.readline())
        time.sleep(interval)
        with open("/proc/stat") as f:
            total1, idle1 = _cpu_times(f.readline())
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (os.cpu_count() or 1) * (1.0 - (idle1 - idle0) / (total1 - total0))


def choose_cpu_threads() -> str | None:
    """Lower torch's intra-op threads when other jobs keep cores busy. Returns the line that says so, or None
    when nothing changed (``OMP_NUM_THREADS`` set, no load average on this platform, or cores free)."""
    if os.environ.get("OMP_NUM_THREADS") or not hasattr(os, "getloadavg"):
        return None
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    current = torch.get_num_threads()
    cpus = os.cpu_count() or current
    if threads_for_load(current, cpus, load) >= current:
        return None
    now = busy_cpus()
    busy = load if now is None else min(load, now)  # a job that ended still counts in the average
    n = threads_for_load(current, cpus, busy)
    if n >= current:
        return None
    torch.set_num_threads(n)
    return (f"using {n} of {current} CPU threads: other jobs keep {busy:.1f} CPUs busy (load average {load:.1f}); "
            "set OMP_NUM_THREADS to choose")
