"""Pretrain the shipped English LM pair on a GPU for as many epochs as fit a time budget.

The CPU here gives the shipped pair 2-3 epochs (about 27 minutes per epoch on 2 threads). A GPU machine has
no spaCy, so the corpus is tokenized here and only its ids travel with the working tree::

    python scripts/gpu_pretrain.py prepare                          # here: writes gpu_ids/ (git-ignored)
    python scripts/gpu_pretrain.py train --minutes 7 --out $OUT     # the GPU: fwd and bwd side by side
    python scripts/gpu_pretrain.py train --dry-run --out /tmp/gpu   # CPU, tiny sizes, seconds (tests)

and then, back here, ship a direction whose held-out perplexity beat the shipped model's::

    python scripts/build_shipped_lm.py --direction fwd --from-run FILES_AT/en_fwd

``prepare`` reads the corpus of ``scripts/build_shipped_lm.py`` (prepared first when missing), splits it
as that script's runs do (5 % of the documents held out, seed 42), tokenizes it with the shipped
``ulmfit-en-fwd`` tokenizer and numericalizes it with its vocabulary (the same corpus and rules built it).
It writes ``gpu_ids/ids.npz`` (uint16 ids and per-document lengths, compressed, and which held-out documents
are reviews) and ``gpu_ids/info.json`` (counts and the vocabulary's sha256, checked before training).

``train`` starts one process per ``--directions`` entry on the same GPU. Each process measures its training
throughput first (``scripts/benchmark_lm.py``'s Runner: the real sizes, precision and sampled softmax,
warm-up steps untimed), picks the number of epochs that fits ``--minutes`` (times ``SAFETY``: validation
and data loading are not in the probe), and runs ``LanguageModel.pretrain_ids`` from random weights with
the shipped recipe (bs 64, bptt 72, one-cycle lr 5e-3, wd 0.01, drop_mult 0.3, 1024 sampled words; seed 42).
It saves the model as fp16 in ``OUT/en_{direction}`` and measures what was saved, next to the shipped model
on the same held-out ids: perplexity overall and on the held-out review documents. ``OUT/gpu_pretrain.json``
collects both directions with the device name; ``OUT/{direction}.log`` has each process's output.

Imports nothing that needs spaCy or ``datasets`` in ``train``: the GPU machine has neither.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))

SAFETY = 0.8  # share of --minutes the probe's throughput is allowed to fill
RECIPE_SPLIT = {"valid_pct": 0.05, "seed": 42}  # scripts/build_shipped_lm.py's --valid-pct / --seed
RECIPE = dict(lr=5e-3, bs=64, bptt=72, wd=0.01, drop_mult=0.3, seed=42, softmax="sampled", n_samples=1024)
DRY_RUN = SimpleNamespace(emb_sz=16, n_hid=24, n_layers=2, bs=4, bptt=8, probe_warmup=1, probe_steps=1)
GPU = SimpleNamespace(probe_warmup=5, probe_steps=20)


def vocab_sha256(folder: Path) -> str:
    return hashlib.sha256((folder / "vocab.json").read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------- prepare (CPU)
def prepare(args: argparse.Namespace) -> None:
    from build_shipped_lm import REVIEW_CORPORA

    from ulmfit.cli import _corpus_texts
    from ulmfit.data.split import holdout_split
    from ulmfit.language_model import LanguageModel

    corpus = args.corpus
    if not (corpus / "corpus_stats.json").is_file():
        subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_pretraining_corpus.py"), "--nltk",
                        str(args.nltk), "--out", str(corpus)], check=True)
    files = sorted(p.name for p in corpus.glob("*.txt"))  # the order `ulmfit pretrain --data` reads them in
    texts = _corpus_texts(str(corpus))
    if len(files) != len(texts):
        raise SystemExit(f"{corpus}: {len(files)} .txt files but {len(texts)} documents read")
    train_idx, valid_idx = holdout_split(len(texts), RECIPE_SPLIT["valid_pct"], RECIPE_SPLIT["seed"])
    lm = LanguageModel.from_pretrained(str(args.lm))
    if len(lm.vocab) > np.iinfo(np.uint16).max:
        raise SystemExit(f"{args.lm}: {len(lm.vocab)} vocabulary entries do not fit uint16 ids")
    start = time.time()
    tokens = lm.tokenizer.tokenize(texts, n_workers=args.workers)
    ids = [np.asarray(lm.vocab.numericalize(t), dtype=np.uint16) for t in tokens]
    pick = lambda idx: [ids[i] for i in idx]  # noqa: E731
    train, valid = pick(train_idx), pick(valid_idx)
    review = np.array([files[i].split("-")[0] in REVIEW_CORPORA for i in valid_idx], dtype=bool)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "ids.npz", train=np.concatenate(train), train_lengths=[len(a) for a in train],
                        valid=np.concatenate(valid), valid_lengths=[len(a) for a in valid], valid_review=review)
    info = {"corpus": str(corpus), "corpus_stats": json.loads((corpus / "corpus_stats.json").read_text())["total"],
            "split": RECIPE_SPLIT, "lm": str(args.lm), "vocab_size": len(lm.vocab),
            "vocab_sha256": vocab_sha256(args.lm), "train_documents": len(train), "valid_documents": len(valid),
            "valid_review_documents": int(review.sum()), "train_tokens": int(sum(len(a) for a in train)),
            "valid_tokens": int(sum(len(a) for a in valid)), "seconds": round(time.time() - start, 1)}
    (args.out / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    size = (args.out / "ids.npz").stat().st_size
    print(f"{args.out}: {info['train_tokens']:,} train / {info['valid_tokens']:,} valid tokens "
          f"({info['valid_review_documents']} held-out review documents), ids.npz {size / 1e6:.1f} MB", flush=True)



def load_ids(folder: Path, lm_folder: Path) -> dict:
    """``ids.npz`` back as per-document arrays, after checking it was made with ``lm_folder``'s vocabulary."""
    info = json.loads((folder / "info.json").read_text())
    if info["vocab_sha256"] != vocab_sha256(lm_folder):
        raise SystemExit(f"{folder}: its ids were made with another vocabulary than {lm_folder}'s; run "
                         "`python scripts/gpu_pretrain.py prepare` again")
    with np.load(folder / "ids.npz") as z:
        split = lambda name: np.split(z[name].astype(np.int64), np.cumsum(z[f"{name}_lengths"])[:-1])  # noqa: E731
        train, valid, review = split("train"), split("valid"), z["valid_review"].astype(bool)
    return {"info": info, "train": train, "valid": valid, "valid_review": [a for a, r in zip(valid, review) if r]}


# ---------------------------------------------------------------------------------------------- train (GPU)
def probe_tokens_per_s(arch: dict, vocab: int, bs: int, bptt: int, device: str, precision: str, sizes) -> float:
    """Training tokens/s of our AWD-LSTM (sampled softmax, every dropout on), best of 2 rounds after warm-up."""
    from benchmark_lm import Runner

    args = SimpleNamespace(vocab=vocab, bs=bs, bptt=bptt, device=device, n_samples=RECIPE["n_samples"],
                           clock="wall")
    runner = Runner("ours-sampled", arch, args, "train", precision)
    runner.run(sizes.probe_warmup)
    return max(runner.run(sizes.probe_steps) for _ in range(2))


def epochs_for(minutes: float, tokens_per_s: float, train_tokens: int, max_epochs: int) -> int:
    """Whole epochs of ``train_tokens`` that fit ``SAFETY * minutes`` at ``tokens_per_s`` (1..max_epochs)."""
    return max(1, min(max_epochs, math.floor(SAFETY * minutes * 60 * tokens_per_s / train_tokens)))


def train_one(args: argparse.Namespace) -> None:
    import torch

    from ulmfit.language_model import LanguageModel, LMPretrainConfig
    from ulmfit.models import AWDLSTMConfig
    from ulmfit.train.precision import resolve_precision

    direction = args.direction
    shipped_dir = REPO / "pretrained" / f"en_{direction}"
    data = load_ids(args.ids, shipped_dir)
    shipped = LanguageModel.from_pretrained(str(shipped_dir))
    sizes = DRY_RUN if args.dry_run else GPU
    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_pretrain train: no CUDA GPU found; use --dry-run to exercise it on CPU")
    arch = dict(emb_sz=args.emb_sz, n_hid=args.n_hid, n_layers=args.n_layers)
    recipe = dict(RECIPE)
    if args.dry_run:
        arch = dict(emb_sz=DRY_RUN.emb_sz, n_hid=DRY_RUN.n_hid, n_layers=DRY_RUN.n_layers)
        recipe.update(bs=DRY_RUN.bs, bptt=DRY_RUN.bptt, n_samples=64)
    precision = resolve_precision(args.precision, device)
    n_train = int(sum(len(a) for a in data["train"]))
    tok_s = probe_tokens_per_s(arch, len(shipped.vocab), recipe["bs"], recipe["bptt"], device, precision, sizes)
    epochs = 1 if args.dry_run else epochs_for(args.minutes, tok_s, n_train, args.max_epochs)
    print(f"{direction}: probe {tok_s:,.0f} tokens/s ({precision}, {arch}); {n_train:,} train tokens -> {epochs} "
          f"epochs for {args.minutes:g} min", flush=True)
    config = LMPretrainConfig(epochs=epochs, precision=precision, device=device, backwards=direction == "bwd",
                              **recipe)
    start = time.time()
    lm = LanguageModel.pretrain_ids(data["train"], data["valid"], vocab=shipped.vocab, tokenizer=shipped.tokenizer,
                                    arch=AWDLSTMConfig(**arch), config=config, progress=False)
    seconds = time.time() - start
    out = args.out / f"en_{direction}"
    lm.training_log = None
    lm.save(out, half=True)
    saved = LanguageModel.from_pretrained(str(out))  # measure what ships: the fp16-rounded weights
    figures = {}
    for name, model in (("trained", saved), ("shipped", shipped)):
        model.model.to(device)
        figures[name] = {"valid_perplexity": round(model.evaluate_ids(data["valid"])["perplexity"], 3),
                         "valid_review_perplexity": round(model.evaluate_ids(data["valid_review"])["perplexity"], 3)}
    result = {"direction": direction, "arch": arch, "recipe": recipe, "precision": precision, "epochs": epochs,
              "probe_tokens_per_s": round(tok_s), "train_tokens": n_train, "train_seconds": round(seconds, 1),
              "epoch_tokens_per_s": round(epochs * n_train / seconds), "model_mb": round(
                  (out / "model.pt").stat().st_size / 1e6, 1), **figures,
              "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
              "torch": torch.__version__, "dry_run": args.dry_run}
    (args.out / f"{direction}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), flush=True)


def train(args: argparse.Namespace) -> int:
    """One ``train-one`` process per direction, side by side; their results in ``OUT/gpu_pretrain.json``."""
    args.out.mkdir(parents=True, exist_ok=True)
    passed = ["--ids", str(args.ids), "--out", str(args.out), "--minutes", str(args.minutes), "--max-epochs",
              str(args.max_epochs), "--emb-sz", str(args.emb_sz), "--n-hid", str(args.n_hid), "--n-layers",
              str(args.n_layers), "--precision", args.precision] + (["--dry-run"] if args.dry_run else [])
    start = time.time()
    procs = {}
    for direction in args.directions:
        log = open(args.out / f"{direction}.log", "w")  # noqa: SIM115 - closed below
        procs[direction] = (subprocess.Popen([sys.executable, __file__, "train-one", "--direction", direction,
                                              *passed], stdout=log, stderr=subprocess.STDOUT), log)
    results, failed = {}, []
    for direction, (proc, log) in procs.items():
        rc = proc.wait()
        log.close()
        path = args.out / f"{direction}.json"
        if rc == 0 and path.is_file():
            results[direction] = json.loads(path.read_text())
        else:
            failed.append(direction)
            tail = (args.out / f"{direction}.log").read_text().strip().splitlines()[-5:]
            results[direction] = {"error": f"exit code {rc}", "log_tail": tail}
    summary = {"seconds": round(time.time() - start, 1), "directions": results}
    (args.out / "gpu_pretrain.json").write_text(json.dumps(summary, indent=2) + "\n")
    for direction, r in results.items():
        if "error" in r:
            print(f"{direction}: FAILED ({r['error']}): " + " | ".join(r["log_tail"]))
        else:
            print(f"{direction}: {r['epochs']} epochs in {r['train_seconds']:.0f}s on {r['device']} "
                  f"({r['epoch_tokens_per_s']:,} tokens/s); held-out perplexity {r['trained']['valid_perplexity']} "
                  f"(shipped {r['shipped']['valid_perplexity']}), reviews {r['trained']['valid_review_perplexity']} "
                  f"(shipped {r['shipped']['valid_review_perplexity']}); {r['model_mb']} MB")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="tokenize the corpus here (needs spaCy) into --out")
    p.add_argument("--corpus", type=Path, default=Path("/tmp/ulmfit_corpus_v2"), help="prepared corpus folder")
    p.add_argument("--nltk", type=Path, default=REPO.parent / "shared" / "data" / "nltk")
    p.add_argument("--lm", type=Path, default=REPO / "pretrained" / "en_fwd", help="tokenizer and vocabulary")
    p.add_argument("--out", type=Path, default=REPO / "gpu_ids")
    p.add_argument("--workers", type=int, default=None, help="tokenizer processes (default: the library's)")
    for name in ("train", "train-one"):
        p = sub.add_parser(name, help="pretrain on the ids (GPU)" if name == "train" else argparse.SUPPRESS)
        p.add_argument("--ids", type=Path, default=REPO / "gpu_ids")
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--minutes", type=float, default=7.0, help="training time per direction (default 7)")
        p.add_argument("--max-epochs", type=int, default=40)
        p.add_argument("--emb-sz", type=int, default=200)
        p.add_argument("--n-hid", type=int, default=512)
        p.add_argument("--n-layers", type=int, default=3)
        p.add_argument("--precision", default="auto", help="auto (bf16 on this GPU), bf16, fp16 or fp32")
        p.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, one epoch")
        if name == "train":
            p.add_argument("--directions", nargs="+", choices=("fwd", "bwd"), default=["fwd", "bwd"])
        else:
            p.add_argument("--direction", choices=("fwd", "bwd"), required=True)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args)
        return 0
    if args.minutes <= 0 or args.max_epochs < 1:
        parser.error("--minutes must be > 0 and --max-epochs >= 1")
    if args.command == "train-one":
        train_one(args)
        return 0
    return train(args)


if __name__ == "__main__":
    sys.exit(main())
