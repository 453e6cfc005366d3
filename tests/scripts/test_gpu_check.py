"""scripts/gpu_check.py: the whole ``--dry-run`` on CPU with spaCy and ``datasets`` unimportable (the GPU
machine has neither), and the one-line refusal without CUDA."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripts.conftest import script_fixture

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gpu_check.py"
SECTIONS = ["lm", "vision", "fp16", "ddp"]
NO_CUDA = "gpu_check: no CUDA GPU found; use --dry-run to exercise the script on CPU"


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_without_cuda_and_without_dry_run_exits_2_with_one_line(blocked_env, tmp_path):
    out = tmp_path / "report.json"
    proc = _run(["--json-out", str(out)], blocked_env, tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip() == NO_CUDA  # one line: the module imported without spaCy/datasets, no traceback
    assert proc.stdout == ""
    assert not out.exists()


gpu_check = script_fixture("gpu_check")


def test_unknown_section_is_rejected_with_the_valid_ones(gpu_check):
    with pytest.raises(argparse.ArgumentTypeError, match="choose from lm, vision, fp16, ddp"):
        gpu_check.parse_sections("lm,bogus")
    assert gpu_check.parse_sections(" fp16 , ddp ") == ["fp16", "ddp"]


def test_a_failing_section_is_recorded_and_the_others_still_run(gpu_check, monkeypatch, tmp_path, capsys):
    def broken(sizes, device):
        raise RuntimeError("boom")

    monkeypatch.setitem(gpu_check.SECTION_FUNCS, "lm", broken)
    monkeypatch.setitem(gpu_check.SECTION_FUNCS, "fp16", lambda sizes, device: {"passed": True, "figure": 1.5})
    out = tmp_path / "report.json"
    assert gpu_check.main(["--dry-run", "--sections", "lm,fp16", "--json-out", str(out)]) == 1
    sections = json.loads(out.read_text())["sections"]
    assert sections["lm"]["status"] == "failed" and sections["lm"]["error"] == "RuntimeError: boom"
    assert "Traceback" in sections["lm"]["traceback"]
    assert sections["fp16"]["status"] == "ok" and sections["fp16"]["figure"] == 1.5
    assert "FAILED: RuntimeError: boom" in capsys.readouterr().out


@pytest.mark.slow
def test_dry_run_runs_every_section_without_spacy_or_datasets(blocked_env, tmp_path):
    out = tmp_path / "report.json"
    proc = _run(["--dry-run", "--json-out", str(out)], blocked_env, tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["kind"] == "gpu_check" and report["dry_run"] is True and report["passed"] is True
    assert list(report["sections"]) == SECTIONS
    machine = report["machine"]
    assert machine["cpu_count"] >= 1 and machine["torch"] and machine["device_name"].startswith("CPU")
    assert {"cuda", "cudnn", "torchvision", "python"} <= set(machine)
    for name, section in report["sections"].items():
        assert section["status"] == "ok", (name, section)
        assert section["seconds"] >= 0
        assert "error" not in section
    assert "## Summary" in proc.stdout and "JSON written to" in proc.stdout

    lm = report["sections"]["lm"]["precisions"]
    for precision in ("fp32", "bf16"):  # bf16 autocast runs on any CPU
        assert lm[precision]["ours_tokens_per_s"] > 0 and lm[precision]["plain_tokens_per_s"] > 0
        assert lm[precision]["ours_vs_plain"] > 0
    assert lm["fp16"]["status"].startswith("skipped: needs CUDA")
    warning_check = report["sections"]["lm"]
    assert warning_check["noncontiguous_warning"] is False and warning_check["noncontiguous_warning_messages"] == []
    assert warning_check["warning_check_meaningful"] is False  # cuDNN alone emits it: no claim on a CPU

    vision = {(r["precision"], r["channels_last"]): r for r in report["sections"]["vision"]["results"]}
    assert vision[("fp32", False)]["images_per_s"] > 0 and vision[("fp32", False)]["ms_per_step"] > 0
    assert vision[("fp16", False)]["status"].startswith("skipped: needs CUDA")
    assert vision[("fp16", True)]["status"].startswith("skipped: needs CUDA")

    fp16 = report["sections"]["fp16"]
    if fp16["precision"] == "fp16":
        assert fp16["scale_drops"] >= fp16["injected_overflows"]
    else:  # a CPU: the honest skip, and the same run through the Learner's fp32 guard
        assert fp16["fp16"].startswith("skipped: needs CUDA")
    n_injected = len(report["sizes"]["run_inject_at"])
    assert fp16["injected_overflows"] == fp16["injected_skipped"] == n_injected
    assert fp16["learner_n_skipped"] >= n_injected
    assert all(e["skipped"] and e["weights_unchanged"] for e in fp16["injections"])
    assert math.isfinite(fp16["final_loss"]) and fp16["final_loss"] < 0.9 * fp16["initial_loss"]
    assert all(fp16["checks"].values()) and fp16["passed"] is True

    ddp = report["sections"]["ddp"]
    assert ddp["ok"] is True and ddp["backend"] == "gloo" and ddp["world_size"] == 1 and ddp["device"] == "cpu"
    assert ddp["all_reduce_ok"] is True and ddp["steps"] >= 1
    assert math.isfinite(ddp["first_loss"]) and math.isfinite(ddp["last_loss"]) and math.isfinite(ddp["train_loss"])
