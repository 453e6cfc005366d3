"""Build a shipped English LM (forward or backward) and its model card, from scratch or from a finished run.

    OMP_NUM_THREADS=1 python scripts/build_shipped_lm.py --direction fwd     # needs ../shared/data/nltk
    OMP_NUM_THREADS=1 python scripts/build_shipped_lm.py --direction bwd     # the backward twin (run beside it)
    python scripts/build_shipped_lm.py --direction fwd --from-run /tmp/lmv2/fwd --corpus /tmp/corpus_v3
    OMP_NUM_THREADS=1 python scripts/build_shipped_lm.py --direction fwd --more-epochs 2   # continue the shipped one

Steps: write the NLTK corpora as plain-text documents (scripts/prepare_pretraining_corpus.py, all of its
default corpora), run the project's own ``ulmfit pretrain`` with the fixed recipe below (seed 42, 5 % of the
documents held out; ``--resume`` continues an interrupted run from its checkpoint), then re-save the
weights as fp16 into ``pretrained/en_{fwd,bwd}``, measure the held-out figures with ``LanguageModel.evaluate``
(the library's one perplexity definition) overall and on the held-out review documents, and on the shipped
demo reviews (written for the project, in no corpus), and write ``MODEL_CARD.md`` from the measured numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RECIPE = ["--emb-sz", "200", "--n-hid", "512", "--n-layers", "3", "--max-vocab", "20000", "--min-freq", "3",
          "--epochs", "2", "--lr", "5e-3", "--bs", "64", "--bptt", "72", "--valid-pct", "0.05", "--seed", "42",
          "--drop-mult", "0.3", "--wd", "0.01", "--half", "--checkpoint-every", "200"]
# --more-epochs: `ulmfit pretrain --init` the shipped model (sizes, vocabulary, split and seed unchanged)
CONTINUE = ["--lr", "5e-3", "--bs", "64", "--bptt", "72", "--valid-pct", "0.05", "--seed", "42", "--drop-mult", "0.3",
            "--wd", "0.01", "--half", "--checkpoint-every", "200"]
REVIEW_CORPORA = ("movie_reviews", "product_reviews_1", "product_reviews_2", "comparative_sentences")
STEP = "intermediate_task"  # the meta.history stage of scripts/intermediate_task_lm.py's movie-review step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--direction", choices=("fwd", "bwd"), required=True)
    parser.add_argument("--nltk", type=Path, default=REPO.parent / "shared" / "data" / "nltk")
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/ulmfit_corpus_v2"), help="prepared corpus folder")
    parser.add_argument("--work", type=Path, default=Path("/tmp/ulmfit_lm_build"), help="run folders go here")
    parser.add_argument("--from-run", type=Path, default=None, help="a finished `ulmfit pretrain --out` folder")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run in --work")
    parser.add_argument("--out", type=Path, default=None, help="default: pretrained/en_{direction}")
    parser.add_argument("--more-epochs", type=int, default=None, metavar="N",
                        help="train the model in --out for N more epochs (pretrain --init) instead of from scratch")
    parser.add_argument("--extend-vocab", type=int, default=None, metavar="V",
                        help="with --more-epochs: first grow the vocabulary to V tokens with the corpus's most "
                             "frequent new ones (at least 3 occurrences; ulmfit pretrain --init-vocab extend)")
    args = parser.parse_args(argv)
    if args.extend_vocab is not None and args.more_epochs is None:
        parser.error("--extend-vocab grows the vocabulary of a model continued with --more-epochs: add --more-epochs N")

    out = args.out or REPO / "pretrained" / f"en_{args.direction}"
    recipe = RECIPE + (["--backwards"] if args.direction == "bwd" else [])
    name = args.direction
    if args.more_epochs is not None:
        recipe = ["--init", str(out), "--epochs", str(args.more_epochs), *CONTINUE]
        if args.extend_vocab is not None:
            recipe += extend_flags(args.extend_vocab)
        name = f"{args.direction}_more"
    run = args.from_run
    if run is None:
        ensure_corpus(args.nltk, args.corpus)
        run = args.work / name
        command = [sys.executable, "-m", "ulmfit.cli", "pretrain", "--data", str(args.corpus), "--out", str(run),
                   "--run-dir", str(args.work / f"{name}_run"), *recipe]
        if args.resume:
            command += ["--resume", str(args.work / f"{name}_run" / "checkpoint.pt")]
        print("$ " + shlex.join(command), flush=True)
        start = time.time()
        subprocess.run(command, check=True, cwd=REPO)
        print(f"pretraining took {time.time() - start:.0f}s", flush=True)
    ship(run, out, args.direction, args.corpus)


def ensure_corpus(nltk: Path, corpus: Path) -> None:
    """Write the pretraining corpus into ``corpus`` (scripts/prepare_pretraining_corpus.py) unless it is there."""
    if not (corpus / "corpus_stats.json").is_file():
        subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_pretraining_corpus.py"),
                        "--nltk", str(nltk), "--out", str(corpus)], check=True)


def extend_flags(max_vocab: int, min_freq: int = 3) -> list[str]:
    """``ulmfit pretrain`` flags that grow an ``--init`` model's vocabulary to ``max_vocab`` tokens."""
    return ["--init-vocab", "extend", "--max-vocab", str(max_vocab), "--min-freq", str(min_freq)]


def training_time(runs: list[dict], twin: str) -> str:
    """The card's time line: each run's minutes and torch threads (``meta.history`` entries; the movie-review
    step of ``intermediate_task_lm.py`` is named as such)."""
    parts = []
    for h in runs:
        threads = h.get("threads")
        # only the first build (fourth session) predates the recorded thread count: one thread, the twin beside it
        where = (f"one torch thread, the {twin} run beside it" if threads is None
                 else f"{threads} torch thread{'s' if threads > 1 else ''}")
        if h.get("stage") == STEP:
            where += ", the movie-review step"
        parts.append(f"{h['seconds'] / 60:.1f} min ({where})")
    total = sum(h["seconds"] for h in runs) / 60
    return " + ".join(parts) + (f" = {total:.1f} minutes of training" if len(runs) > 1 else " of training")


def training_rates(lrs: list[float]) -> str:
    """The card's peak learning rates: one per run, said once when every run used the same."""
    if len(lrs) > 1 and len(set(lrs)) == 1:
        return f"peak lr {lrs[0]:g} in each run"
    return "peak lr " + " then ".join(f"{lr:g}" for lr in lrs)


def extend_args(run: dict) -> list[str]:
    """The vocabulary flags a continued run (a ``meta.history`` entry) was given ([] when it kept it)."""
    config = run["config"]
    if config.get("init_vocab", "keep") != "extend":
        return []
    return extend_flags(config["max_vocab"], config["min_freq"])


def grown(run: dict) -> str:
    """`` --extend-vocab V`` for a run that grew the vocabulary, else ``""``."""
    config = run["config"]
    return f" --extend-vocab {config['max_vocab']}" if config.get("init_vocab", "keep") == "extend" else ""


def step_flags(step: dict) -> list[str]:
    """The ``intermediate_task_lm.py`` flags that gave a movie-review step (its ``meta.history`` entry)."""
    return ["--epochs", str(step["config"]["epochs"]), "--last-tokens", str(step["last_tokens"]),
            "--lm-loss-weight", f"{step['lm_loss_weight']:g}", "--seed", str(step["config"]["seed"])]


def step_text(history: list[dict]) -> str:
    """The card's words for the movie-review steps in ``history`` (``""`` when there is none)."""
    words, n_runs = [], 0
    for h in history:
        n_runs += h["stage"] == "pretrain"
        if h["stage"] == STEP:
            words.append(f"; after run {n_runs}, a movie-review sentiment classifier was trained from it and its "
                         f"encoder copied back ({h['reviews']:,} labelled reviews of NLTK's movie_reviews, their last "
                         f"{h['last_tokens']} tokens, {h['config']['epochs']} epochs, auxiliary LM loss weight "
                         f"{h['lm_loss_weight']:g}, hold-out accuracy {h['holdout_accuracy']:.4f}; "
                         "scripts/intermediate_task_lm.py)")
    return "".join(words)


def rebuild_lines(history: list[dict], direction: str) -> list[str]:
    """The card's rebuild commands, in order: the first run from scratch, each later run a ``--more-epochs``, and a
    movie-review step with the run after it (its repair) one ``intermediate_task_lm.py`` command."""
    scratch = RECIPE + (["--backwards"] if direction == "bwd" else [])
    lines = [f"OMP_NUM_THREADS=1 python scripts/build_shipped_lm.py --direction {direction}   # ulmfit pretrain "
             f"--data CORPUS {' '.join(scratch)}"]
    for i, h in enumerate(history[1:], start=1):
        if h["stage"] == STEP:   # ship() refuses a history that ends with a step: its repair run follows
            repair, lr = history[i + 1], history[i + 1]["config"]["lr"]
            lines += [f"OMP_NUM_THREADS=1 python scripts/intermediate_task_lm.py --direction {direction} --out RUN "
                      f"{' '.join(step_flags(h))} --repair-epochs {repair['epochs']} --repair-lr {lr:g}   # the step, "
                      f"then ulmfit pretrain --init STEP --data CORPUS --epochs {repair['epochs']} "
                      f"{' '.join(repair_recipe(lr))}",
                      f"python scripts/build_shipped_lm.py --direction {direction} --from-run RUN"]
        elif history[i - 1]["stage"] != STEP:
            lines.append(f"OMP_NUM_THREADS={h.get('threads') or 1} python scripts/build_shipped_lm.py --direction "
                         f"{direction} --more-epochs {h['epochs']}{grown(h)}   # ulmfit pretrain --init "
                         f"pretrained/en_{direction} --data CORPUS --epochs {h['epochs']} "
                         f"{' '.join(CONTINUE + extend_args(h))}")
    return lines


def repair_recipe(lr: float) -> list[str]:
    """The shipped continuation recipe (``CONTINUE``) at peak learning rate ``lr``: the repair run's flags."""
    at = CONTINUE.index("--lr")
    return [*CONTINUE[:at + 1], f"{lr:g}", *CONTINUE[at + 2:]]


def ship(run: Path, out: Path, direction: str, corpus: Path) -> None:
    """Re-save ``run`` as fp16 into ``out``, measure it, write its card."""
    import torch

    from ulmfit.cli import _corpus_texts
    from ulmfit.data.split import holdout_split
    from ulmfit.demo import load_demo_data
    from ulmfit.language_model import LanguageModel

    trained = LanguageModel.from_pretrained(str(run))
    stages = [h["stage"] for h in trained.meta["history"]]  # several runs when --more-epochs continued a model
    if set(stages) - {"pretrain", STEP} or stages[0] != "pretrain" or stages[-1] != "pretrain":
        raise SystemExit(f"{run}: its meta.history stages are {stages}; a shipped model is pretraining runs, with at "
                         "most intermediate_task_lm.py's movie-review steps between them")
    trained.training_log = None  # the run folder keeps its metrics.csv / report.html; the shipped one is small
    trained.save(out, half=True)
    lm = LanguageModel.from_pretrained(str(out))  # measure what ships: the fp16-rounded weights
    history = lm.meta["history"]
    runs = [h for h in history if h["stage"] == "pretrain"]
    hist, first = runs[-1], runs[0]["config"]
    config = hist["config"]
    per_run = [h["epochs"] for h in runs]
    epochs = " + ".join(map(str, per_run)) + (" epoch" if per_run == [1] else " epochs")
    lrs = training_rates([h["config"]["lr"] for h in runs])
    runs_text = f" ({len(runs)} runs, each from the previous weights)" if len(runs) > 1 else ""
    rebuild = "\n".join("    " + line for line in rebuild_lines(history, direction))
    files = sorted(p.name for p in corpus.glob("*.txt"))  # the order `ulmfit pretrain --data` read them in
    texts = _corpus_texts(str(corpus))
    if len(texts) != len(files) or len(texts) != hist["train_documents"] + hist["valid_documents"]:
        raise SystemExit(f"{corpus}: {len(texts)} documents, but the run saw "
                         f"{hist['train_documents'] + hist['valid_documents']}; pass the run's --corpus")
    _, valid_idx = holdout_split(len(texts), config["valid_pct"], config["seed"])
    valid = [texts[i] for i in valid_idx]
    reviews = [texts[i] for i in valid_idx if files[i].split("-")[0] in REVIEW_CORPORA]
    overall = lm.evaluate(valid)
    on_reviews = lm.evaluate(reviews)
    (train_texts, _), (valid_texts, _) = load_demo_data()
    demo = lm.evaluate(train_texts + valid_texts)
    name = f"ulmfit-en-{direction}"
    stats = json.loads((corpus / "corpus_stats.json").read_text())
    lm.meta.update({
        "name": name,
        "corpus": f"{len(stats['corpora'])} NLTK corpora, {stats['total']['documents']:,} documents, "
                  f"{stats['total']['words']:,} words (scripts/prepare_pretraining_corpus.py)",
        "metrics": {"valid_perplexity": round(overall["perplexity"], 3), "valid_accuracy": round(overall["accuracy"], 4),
                    "valid_review_perplexity": round(on_reviews["perplexity"], 3),
                    "check_sample_perplexity": round(demo["perplexity"], 3)},
        "check_sample": {"what": "all 400 texts of ulmfit/demo_data/reviews.jsonl (written for the project, not in "
                                 "the pretraining corpus), as one stream, bs 16, bptt 72",
                         "perplexity": round(demo["perplexity"], 3), "accuracy": round(demo["accuracy"], 4),
                         "tokens": demo["tokens"]},
        "valid_reviews": {"documents": len(reviews), "tokens": on_reviews["tokens"],
                          "perplexity": round(on_reviews["perplexity"], 3)},
    })
    lm.save(out, half=True)
    n_params = sum(p.numel() for p in {id(p): p for p in lm.model.parameters()}.values())
    rows = "\n".join(f"| {c} | {r['documents']:,} | {r['words']:,} |" for c, r in stats["corpora"].items())
    size_mb = (out / "model.pt").stat().st_size / 1e6
    twin = "bwd" if direction == "fwd" else "fwd"
    card = f"""# {name}: a small English AWD-LSTM language model ({'forward' if direction == 'fwd' else 'backward'})

Shipped with the project so that everything works offline on a CPU; `ulmfit-en-{twin}` is its
{'backward' if direction == 'fwd' else 'forward'} twin (same corpus, split, vocabulary rules and recipe; its card gives its epochs) for
forward + backward ensembles. It is small: for real work use fastai's WikiText-103 models (`wt103-fwd`,
`wt103-bwd` in the registry), trained on 103 M words.

| | |
|---|---|
| corpus | {lm.meta['corpus']}; never `qc` (TREC) or `sentence_polarity` (MR), the evaluation sets |
| split | {hist['train_documents']:,} documents for training ({hist['train_tokens']:,} tokens), {hist['valid_documents']} held out for validation ({overall['tokens']:,} tokens), seed {config['seed']} |
| tokenizer | spaCy blank English + fastai's default rules (`ulmfit.text.Tokenizer()`) |
| vocabulary | {len(lm.vocab):,} entries (max_vocab {first['max_vocab']:,}, min_freq {first['min_freq']}, fastai ordering and padding) |
| architecture | AWD-LSTM, emb_sz {lm.config.emb_sz}, n_hid {lm.config.n_hid}, {lm.config.n_layers} layers, tied decoder; {n_params:,} parameters{', reads text right to left' if direction == 'bwd' else ''} |
| training | {epochs} one-cycle{runs_text}, {lrs}, bs {config['bs']}, bptt {config['bptt']}, AdamW wd {config['wd']}, drop_mult {config['drop_mult']}, AR/TAR (2, 1), {config.get('softmax', 'full')} softmax ({config.get('n_samples', '-')} draws), {hist.get('precision', config['precision'])}{step_text(history)} |
| time and hardware | {training_time(history, twin)} on a 2-core CPU ({platform.processor() or platform.machine()}, torch {torch.__version__}) |
| **validation perplexity** | **{overall['perplexity']:.2f}** (next-token accuracy {overall['accuracy']:.4f}), `LanguageModel.evaluate` on the held-out documents |
| on held-out review documents | perplexity {on_reviews['perplexity']:.2f} ({len(reviews)} documents of {', '.join(REVIEW_CORPORA)}, {on_reviews['tokens']:,} tokens) |
| check sample | perplexity {demo['perplexity']:.2f}, accuracy {demo['accuracy']:.4f} on the {demo['tokens']:,} tokens of the shipped demo reviews (in no corpus) |
| file | `model.pt`, fp16 storage, {size_mb:.1f} MB |
| license | weights released with the project (Apache-2.0); the corpora are NLTK's research distributions |

Corpus (documents, words after markup stripping and de-duplication):

| corpus | documents | words |
|---|---:|---:|
{rows}

Rebuild (exact commands, in order):

{rebuild}

Intended use: a starting point for ULMFiT fine-tuning in examples, tests and offline work on English text.
Limits: trained on 6.4 M words of mostly edited American text (news, 1960s Brown, speeches, radio
transcripts), reviews (movies, products) and some web, chat and spoken text; it knows little modern
vocabulary and its perplexity is far from WikiText-103 models. Not meant for text generation beyond
demonstrations.
"""
    (out / "MODEL_CARD.md").write_text(card)
    print(card)


if __name__ == "__main__":
    main()
