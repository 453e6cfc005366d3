"""CPU threads for the command-line tools on a shared machine.

torch starts one intra-op thread per core. When other jobs already keep those cores busy, its threads wait
on each other at every parallel region: on the project's 2-core machine ``ulmfit demo`` took 30 s alone with
2 threads, 51 s with 1, and 5 min 37 s with 2 threads beside one busy job (55 s with 1). So the commands
start with the cores that are free by the 1-minute load average (at least one); the training commands say
so on stderr. ``OMP_NUM_THREADS`` decides instead; the Python API itself is left alone.
"""

from __future__ import annotations

import os

import torch

__all__ = ["threads_for_load", "choose_cpu_threads"]


def threads_for_load(available: int, logical_cpus: int, load: float) -> int:
    """Intra-op threads to use: the CPUs not already busy by ``load``, at least 1 and at most ``available``.

    threads_for_load(2, 2, 0.3) -> 2; (2, 2, 1.2) -> 1; (16, 16, 4.0) -> 12; (4, 8, 7.9) -> 1.
    """
    return max(1, min(available, logical_cpus - int(load + 0.5)))


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
    n = threads_for_load(current, os.cpu_count() or current, load)
    if n >= current:
        return None
    torch.set_num_threads(n)
    return (f"using {n} of {current} CPU threads: the load average is {load:.1f}, other jobs are running "
            "(set OMP_NUM_THREADS to choose)")
