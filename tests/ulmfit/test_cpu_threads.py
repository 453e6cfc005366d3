"""The command-line tools use the CPUs that are free: fewer torch threads beside other jobs, never fewer
than one, and nothing changes when the user chose (OMP_NUM_THREADS)."""

import os

import pytest
import torch

from ulmfit import cpu_threads
from ulmfit.cpu_threads import _cpu_times, busy_cpus, choose_cpu_threads, threads_for_load


@pytest.mark.parametrize("available, cpus, load, expected", [
    (2, 2, 0.0, 2), (2, 2, 0.3, 2), (2, 2, 0.6, 1), (2, 2, 1.2, 1), (2, 2, 7.0, 1),
    (16, 16, 4.0, 12), (4, 8, 7.9, 1), (4, 8, 2.0, 4),
])
def test_threads_for_load(available, cpus, load, expected):
    assert threads_for_load(available, cpus, load) == expected


@pytest.fixture
def two_threads(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads.os, "cpu_count", lambda: 2)
    yield
    torch.set_num_threads(before)


def test_busy_cores_lower_the_threads_and_say_so(two_threads, monkeypatch):
    monkeypatch.setattr(cpu_threads.os, "getloadavg", lambda: (1.3, 1.0, 0.8))
    monkeypatch.setattr(cpu_threads, "busy_cpus", lambda interval=0.5: 0.96)
    note = choose_cpu_threads()
    assert torch.get_num_threads() == 1
    assert note == ("using 1 of 2 CPU threads: other jobs keep 1.0 CPUs busy (load average 1.3); "
                    "set OMP_NUM_THREADS to choose")


def test_a_job_that_has_ended_does_not_count(two_threads, monkeypatch):
    """Right after pip install the load average is still ~1 on an idle machine: the sample of now wins."""
    monkeypatch.setattr(cpu_threads.os, "getloadavg", lambda: (1.1, 0.7, 0.3))
    monkeypatch.setattr(cpu_threads, "busy_cpus", lambda interval=0.5: 0.05)
    assert choose_cpu_threads() is None and torch.get_num_threads() == 2
    monkeypatch.setattr(cpu_threads, "busy_cpus", lambda interval=0.5: None)  # no /proc/stat: the average
    assert choose_cpu_threads().startswith("using 1 of 2") and torch.get_num_threads() == 1


def test_cpu_times_and_a_real_sample():
    line = "cpu  100 5 20 300 10 0 2 3 7 0"  # user nice system idle iowait irq softirq steal guest guest_nice
    assert _cpu_times(line) == (440, 310)  # guest is already inside user
    if os.path.exists("/proc/stat"):
        busy = busy_cpus(0.05)
        assert busy is None or 0.0 <= busy <= os.cpu_count() + 1e-6


def test_free_cores_or_the_users_choice_change_nothing(two_threads, monkeypatch):
    monkeypatch.setattr(cpu_threads.os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    assert choose_cpu_threads() is None and torch.get_num_threads() == 2
    monkeypatch.setattr(cpu_threads.os, "getloadavg", lambda: (5.0, 5.0, 5.0))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert choose_cpu_threads() is None and torch.get_num_threads() == 2


def test_training_commands_say_so_on_stderr_and_predict_stays_quiet(two_threads, monkeypatch, capsys):
    from ulmfit.cli import main

    monkeypatch.setattr(cpu_threads.os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    monkeypatch.setattr(cpu_threads, "busy_cpus", lambda interval=0.5: 2.0)
    with pytest.raises(SystemExit):
        main(["train-classifier", "--data", "/no/such/data", "--out", "/no/such/out"])
    err = capsys.readouterr().err
    assert err.startswith("using 1 of 2 CPU threads: other jobs keep 2.0 CPUs busy (load average 3.0)")
    assert torch.get_num_threads() == 1
    torch.set_num_threads(2)
    with pytest.raises(SystemExit):
        main(["predict", "/no/such/model", "text"])
    err = capsys.readouterr().err
    assert "CPU threads" not in err and err.count("\n") == 1 and torch.get_num_threads() == 1
