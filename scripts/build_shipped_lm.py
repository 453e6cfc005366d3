"""Rebuild the shipped English LM (``pretrained/en_small_fwd``) and its model card, from scratch.

    OMP_NUM_THREADS=1 python scripts/build_shipped_lm.py     # needs ../shared/data/nltk (the five corpora)

(One torch thread: on a 2-core machine shared with other work, two OpenMP threads were several times
slower than one; on an idle machine two threads are somewhat faster.)

Steps: write the five corpora as plain-text documents (scripts/prepare_pretraining_corpus.py), run the
project's own ``ulmfit pretrain`` with the fixed recipe below (seed 42, 5 % of documents held out), then
measure the held-out figures and write ``MODEL_CARD.md`` from the measured numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RECIPE = ["--emb-sz", "200", "--n-hid", "512", "--n-layers", "3", "--max-vocab", "20000", "--min-freq", "3",
          "--epochs", "2", "--lr", "5e-3", "--bs", "64", "--bptt", "72", "--valid-pct", "0.05", "--seed", "42",
          "--drop-mult", "0.3", "--wd", "0.01", "--precision", "bf16", "--half"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nltk", type=Path, default=REPO.parent / "shared" / "data" / "nltk")
    parser.add_argument("--out", type=Path, default=REPO / "pretrained" / "en_small_fwd")
    parser.add_argument("--corpus", type=Path, default=None, help="reuse a prepared corpus folder")
    parser.add_argument("--card-only", action="store_true", help="only re-measure and rewrite the card")
    parser.add_argument("recipe", nargs=argparse.REMAINDER, help="extra/overriding `ulmfit pretrain` options")
    args = parser.parse_args(argv)

    recipe = RECIPE + [a for a in args.recipe if a != "--"]
    corpus = args.corpus or Path(tempfile.mkdtemp(prefix="ulmfit_corpus_"))
    command = [sys.executable, "-m", "ulmfit.cli", "pretrain", "--data", str(corpus), "--out", str(args.out),
               "--run-dir", str(corpus.parent / (corpus.name + "_run")), *recipe]
    if not args.card_only:
        if args.corpus is None:
            subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_pretraining_corpus.py"),
                            "--nltk", str(args.nltk), "--out", str(corpus)], check=True)
        print("$ " + shlex.join(command), flush=True)
        start = time.time()
        subprocess.run(command, check=True, cwd=REPO)
        print(f"pretraining took {time.time() - start:.0f}s", flush=True)
    write_card(args.out, recipe)


def write_card(folder: Path, recipe: list[str]) -> None:
    import torch

    from ulmfit.demo import load_demo_data
    from ulmfit.language_model import LanguageModel

    lm = LanguageModel.load(folder)
    (train_texts, _), (valid_texts, _) = load_demo_data()
    check = lm.evaluate(train_texts + valid_texts)
    config = json.loads((folder / "config.json").read_text())
    config["meta"]["name"] = "ulmfit-en-small-fwd"
    config["meta"]["check_sample"] = {"what": "all 400 texts of ulmfit/demo_data/reviews.jsonl (written for the "
                                      "project, not in the pretraining corpus), as one stream, bs 16, bptt 72",
                                      "perplexity": round(check["perplexity"], 3),
                                      "accuracy": round(check["accuracy"], 4), "tokens": check["tokens"]}
    hist = config["meta"]["history"][0]
    m = hist["metrics"]
    n_params = sum(p.numel() for p in {id(p): p for p in lm.model.parameters()}.values())
    config["meta"]["num_params"] = n_params
    config["meta"]["metrics"] = {"valid_perplexity": round(m["perplexity"], 3), "valid_accuracy": round(m["accuracy"], 4),
                                 "check_sample_perplexity": round(check["perplexity"], 3)}
    config["meta"]["corpus"] = "NLTK brown, abc, state_union, webtext, inaugural (about 2.6 M words)"
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    size_mb = (folder / "model.pt").stat().st_size / 1e6
    card = f"""# ulmfit-en-small-fwd: a small English AWD-LSTM language model

The offline default of this project (`pretrained.DEFAULT`). It exists so that everything works without a
network on a CPU; it is a **small** model trained on 2.6 M words. For real work use fastai's WikiText-103
models (`wt103-fwd`, `wt103-bwd` in the registry), trained on 103 M words.

| | |
|---|---|
| corpus | NLTK Brown (tags stripped), ABC, State of the Union, Webtext, Inaugural: {hist['train_documents'] + hist['valid_documents']} documents, about 2.6 M words |
| split | {hist['train_documents']} documents for training ({hist['train_tokens']:,} tokens), {hist['valid_documents']} held out for validation ({hist['valid_tokens']:,} tokens), seed 42 |
| tokenizer | spaCy blank English + fastai's default rules (`ulmfit.text.Tokenizer()`) |
| vocabulary | {len(lm.vocab):,} entries (max_vocab 20,000, min_freq 3, fastai ordering and padding) |
| architecture | AWD-LSTM, emb_sz {lm.config.emb_sz}, n_hid {lm.config.n_hid}, {lm.config.n_layers} layers, tied decoder; {n_params:,} parameters |
| dropouts | LM preset x drop_mult 0.3 |
| training | {hist['epochs']} epochs one-cycle, lr 5e-3, bs 64, bptt 72, AdamW wd 0.01, moms (0.8, 0.7, 0.8), AR/TAR (2, 1), bf16 autocast |
| time and hardware | {hist['seconds'] / 60:.1f} minutes of training on a 2-core CPU ({platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} torch thread(s)), shared with other work |
| **validation perplexity** | **{m['perplexity']:.2f}** (next-token accuracy {m['accuracy']:.4f}) |
| check sample | perplexity {check['perplexity']:.2f}, accuracy {check['accuracy']:.4f} on the {check['tokens']:,} tokens of the shipped demo reviews (another domain) |
| file | `model.pt`, fp16 storage, {size_mb:.1f} MB |
| license | weights released with the project (Apache-2.0); the corpora are NLTK's research distributions |

Rebuild (exact command; `ulmfit pretrain` options after the script's own):

    OMP_NUM_THREADS=1 python scripts/build_shipped_lm.py   # runs: ulmfit pretrain --data CORPUS --out pretrained/en_small_fwd {' '.join(recipe)}

Intended use: a starting point for ULMFiT fine-tuning in examples, tests and offline work on English text.
Limits: small and trained on old, mostly American and Australian edited text (1960s Brown, speeches,
radio transcripts) plus some web text; it knows little modern vocabulary; its perplexity is far from
WikiText-103 models. It is not meant for text generation beyond demonstrations.
"""
    (folder / "MODEL_CARD.md").write_text(card)
    print(card)


if __name__ == "__main__":
    main()
