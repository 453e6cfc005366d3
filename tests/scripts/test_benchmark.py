"""scripts/benchmark.py: the quick run's JSON and table, the skip reasons, the table's layout.

The quick run (about a minute on 2 cores) is deliberately in the default suite, not marked ``slow``: it is
the only check that every benchmark script still runs end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripts.conftest import script_fixture

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "benchmark.py"
SECTIONS = ("tokenize", "lm", "classifier", "vision", "quality")
NEEDS_SHARED_DATA = {"tokenize"}   # the others fall back to shipped data (classifier: no long documents)


def run_benchmark(tmp: Path, *args: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
    out = tmp / "bench.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ULMFIT_HOME": str(tmp / "home"), **(env or {})}
    res = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json-out", str(out), *args], cwd=tmp, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    return json.loads(out.read_text()), res.stdout


bench = script_fixture("benchmark", scope="module")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return run_benchmark(tmp_path_factory.mktemp("benchmark"))


def test_quick_run_records_the_machine_and_is_marked_quick(quick):
    report, stdout = quick
    assert report["quick"] is True and report["clock"] == "wall"
    machine = report["machine"]
    assert machine["cpu_model"] and machine["cores"] >= 1 and machine["torch"]
    assert machine["threads"] == 1 and machine["torch_threads"] == 1
    assert len(machine["load_average_start"]) == 3 and len(machine["load_average_end"]) == 3
    assert machine["date"] and "git_commit" in machine
    assert report["wall_seconds"] > 0
    assert list(report["sections"]) == list(SECTIONS)
    assert all(section["quick"] is True for section in report["sections"].values())
    assert "QUICK SMOKE RUN" in stdout and "| section | measurement | ours | reference | ratio | unit |" in stdout
    assert report["table"] in stdout


@pytest.mark.parametrize("name", SECTIONS)
def test_every_section_gives_positive_figures_or_says_why_not(quick, name, request):
    if name in NEEDS_SHARED_DATA:
        request.getfixturevalue("shared_data")   # skips without ../shared/data
    section = quick[0]["sections"][name]
    assert section["status"] in ("ok", "skipped"), section["reason"]
    if section["status"] == "skipped":
        assert section["reason"], name
        assert name == "quality" and "scikit-learn" in section["reason"]   # the only optional package
        return
    assert section["rows"], name
    for row in section["rows"]:
        assert row["ours"] > 0 and row["unit"] and row["measurement"], row
        if row["reference"] is not None:
            assert row["reference"] > 0 and row["ratio"] == pytest.approx(row["ours"] / row["reference"])
        assert f"| {name} (quick) | {row['measurement']} |" in quick[1]


def test_speed_sections_have_their_references(quick):
    sections = quick[0]["sections"]
    refs = {name: {row["reference_name"] for row in sections[name]["rows"] if row["reference"]}
            for name in ("lm", "vision")}
    assert refs == {"lm": {"plain nn.LSTM stack"}, "vision": {"torchvision resnet18"}}


def test_missing_data_and_fastai_are_explicit_skips_and_the_cpu_clock(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ULMFIT_SHARED_DATA", str(tmp_path / "nothing-here"))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):   # main pins them; restored after the test
        monkeypatch.setenv(var, "1")
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--only", "tokenize", "lm", "--clock", "cpu", "--json-out", str(out),
                       "--fastai-python", str(tmp_path / "no-python")]) == 0
    report = json.loads(out.read_text())
    sections = report["sections"]
    assert sections["tokenize"]["status"] == "skipped"
    assert "movie_reviews.zip not found" in sections["tokenize"]["reason"]
    assert all(sections[name]["reason"] == "not selected (--only)" for name in ("classifier", "vision", "quality"))
    assert report["settings"]["fastai"].startswith("not available")
    assert report["clock"] == "cpu" and sections["lm"]["status"] == "ok"
    assert all(row["unit"] == "tokens per CPU-s" and row["ours"] > 0 for row in sections["lm"]["rows"])
    assert "| tokenize (quick) | skipped: needs the shared data" in capsys.readouterr().out


def test_table_layout(bench):
    rows = [bench.Row("speed", 200.0, "tokens/s", 100.0, "plain"), bench.Row("latency", 12.345, "ms"),
            bench.Row("accuracy", 80.0, "%", 75.0, "TF-IDF", ours_sd=1.24, reference_sd=2.0)]
    section = {"status": "ok", "reason": None, "rows": [{**bench.asdict(r), "ratio": r.ratio} for r in rows]}
    skipped = {"status": "skipped", "reason": "not selected (--skip)", "rows": []}
    report = {"quick": False, "clock": "wall", "wall_seconds": 3.0, "sections": {"lm": section, "quality": skipped},
              "machine": {"cpu_model": "cpu", "cores": 2, "threads": 1, "torch": "2", "load_average_start": [1.0],
                          "load_average_end": [2.0]}}
    lines = bench.table(report).splitlines()
    assert lines[0] == "| section | measurement | ours | reference | ratio | unit |"
    assert "| lm | speed | 200 | 100 (plain) | 2.00 | tokens/s |" in lines
    assert "| lm | latency | 12.3 |  |  | ms |" in lines
    assert "| lm | accuracy | 80.0 ± 1.2 | 75.0 ± 2.0 (TF-IDF) | 1.07 | % |" in lines
    assert "| quality | skipped: not selected (--skip) | | | | |" in lines
    assert "QUICK" not in "\n".join(lines)
