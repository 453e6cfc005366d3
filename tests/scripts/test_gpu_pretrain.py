"""scripts/gpu_pretrain.py: ``prepare`` on a tiny corpus here, then the whole ``train --dry-run`` on CPU with
spaCy and ``datasets`` unimportable (the GPU machine has neither)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.scripts.conftest import script_fixture

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gpu_pretrain.py"

gpu = script_fixture("gpu_pretrain", scope="module")


def test_epochs_fill_the_safe_share_of_the_budget(gpu):
    # 7 min at 10k tokens/s = 4.2 M tokens; SAFETY 0.8 -> 3.36 M -> 3 epochs of 1 M
    assert gpu.epochs_for(7, 10_000, 1_000_000, max_epochs=40) == 3
    assert gpu.epochs_for(7, 10, 1_000_000, max_epochs=40) == 1  # always at least one
    assert gpu.epochs_for(7, 1e9, 1_000_000, max_epochs=40) == 40  # capped


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from tests.ulmfit.conftest import tiny_corpus

    corpus = tmp_path_factory.mktemp("corpus")
    texts = tiny_corpus()[:40]
    for k, text in enumerate(texts):
        name = ("movie_reviews" if k % 2 else "brown") + f"-src-{k:04d}.txt"
        (corpus / name).write_text(text)
    (corpus / "corpus_stats.json").write_text(json.dumps({"total": {"documents": len(texts), "words": 1}}))
    out = tmp_path_factory.mktemp("ids")
    proc = subprocess.run([sys.executable, str(SCRIPT), "prepare", "--corpus", str(corpus), "--out", str(out),
                           "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return corpus, out


def test_prepare_writes_the_shipped_split_as_vocabulary_ids(prepared):
    from ulmfit.cli import _corpus_texts
    from ulmfit.data.split import holdout_split
    from ulmfit.language_model import LanguageModel

    corpus, out = prepared
    info = json.loads((out / "info.json").read_text())
    lm = LanguageModel.from_pretrained(str(REPO / "pretrained" / "en_fwd"))
    texts = _corpus_texts(str(corpus))
    train_idx, valid_idx = holdout_split(len(texts), 0.05, 42)
    assert (info["train_documents"], info["valid_documents"]) == (len(train_idx), len(valid_idx))
    with np.load(out / "ids.npz") as z:
        assert z["train"].dtype == np.uint16 and z["valid_lengths"].sum() == info["valid_tokens"]
        first_valid = z["valid"][:z["valid_lengths"][0]]
    expected = lm.vocab.numericalize(lm.tokenizer.tokenize([texts[valid_idx[0]]], n_workers=1)[0])
    assert first_valid.tolist() == list(expected)
    files = sorted(p.name for p in corpus.glob("*.txt"))
    assert info["valid_review_documents"] == sum(files[i].startswith("movie_reviews") for i in valid_idx)


def test_train_dry_run_without_spacy_trains_saves_and_measures_both_directions(prepared, blocked_env, tmp_path):
    _, ids = prepared
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(SCRIPT), "train", "--dry-run", "--ids", str(ids), "--out", str(out)],
                          env=blocked_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "gpu_pretrain.json").read_text())["directions"]
    assert set(summary) == {"fwd", "bwd"}
    for direction, result in summary.items():
        assert result["epochs"] == 1 and result["probe_tokens_per_s"] > 0 and result["dry_run"]
        assert result["trained"]["valid_perplexity"] > 1 and result["shipped"]["valid_perplexity"] > 1
        saved = json.loads((out / f"en_{direction}" / "config.json").read_text())
        assert saved["arch"]["backwards"] == (direction == "bwd") and saved["arch"]["n_hid"] == 24
        assert f"{direction}: 1 epochs" in proc.stdout


def test_train_refuses_ids_of_another_vocabulary(prepared, tmp_path, gpu):
    _, ids = prepared
    other = tmp_path / "ids"
    other.mkdir()
    (other / "ids.npz").write_bytes((ids / "ids.npz").read_bytes())
    info = json.loads((ids / "info.json").read_text())
    (other / "info.json").write_text(json.dumps({**info, "vocab_sha256": "0" * 64}))
    with pytest.raises(SystemExit, match="made with another vocabulary"):
        gpu.load_ids(other, REPO / "pretrained" / "en_fwd")
