"""ULMFiT quality on real data with the library's DEFAULTS (no tuning arguments), over several seeds.

Protocol, for each seed S (``--seeds``, default 42 43 44):

* Data: TREC-6 (the paper's 5,452 train / 500 test questions, ``qc.zip``), TREC-50 (its fine labels), MR
  (sentence polarity, a fixed 10 % test split drawn with seed 0, ``sentence_polarity.zip``), ``mr-1000``
  (MR's first 1,000 training sentences, the same test split), ``mr-1000-unsup`` (the same 1,000 labels; the
  LM is also fine-tuned on MR's other 8,596 training sentences, unlabelled, as in the ULMFiT paper's
  semi-supervised runs), ``trec6-1000`` (TREC-6's first 1,000 training questions, the same test split), from
  the NLTK data folder, or ``demo`` (the shipped 320 / 80 reviews; its validation split is the scored split,
  as ``ulmfit demo`` reports it).
* The training split is divided exactly as the library's default does: ``holdout_split(n,
  ClassifierConfig().valid_pct, S)`` -> 90 % train, 10 % validation hold-out. The hold-out is split again
  (seed S + 1) into halves A and B. A goes to training as ``valid=`` (with the defaults validation data only
  reports metrics, so training is unchanged); B is never seen in training.
* ``LanguageModel.from_pretrained(pretrained.DEFAULT)`` -> ``lm.fine_tune(whole training split [+ the
  task's unlabelled texts], seed=S)``
  (skipped with ``--no-lm-finetune``) -> ``TextClassifier.train(90 % part, valid=A, seed=S,
  callbacks=[KeepBest(monitor="accuracy", restore=False)])``.
* THE figure is test accuracy (and macro F1) with the final weights, i.e. the defaults. For information only,
  the weights of the best epoch on A (of the last gradual-unfreezing stage) are scored on B and on test;
  nothing is ever chosen on the test split.
* Baseline on the same split: TF-IDF word 1-2 grams + char_wb 2-5 grams and logistic regression, C chosen
  from (0.25, 1, 4, ..., 1024) (factors of 4) on the whole hold-out (A + B), test accuracy of that C.

Commands:

    python scripts/benchmark_classifier.py trec6 --json-out bench.jsonl           # seeds 42 43 44
    python scripts/benchmark_classifier.py mr --seeds 1 2 3 4 5 --json-out bench.jsonl
    python scripts/benchmark_classifier.py trec6 --no-lm-finetune --json-out bench.jsonl  # skip ULMFiT stage 2
    python scripts/benchmark_classifier.py --summarize bench.jsonl                # Markdown tables, no training
    python scripts/benchmark_classifier.py mr-1000 --ensemble --lm CAND/fwd --bwd-lm CAND/bwd   # a pair of folders
    python scripts/benchmark_classifier.py trec6 --seeds 1 --limit-train 300 --limit-test 100 --quiet  # smoke run

Each seed prints one JSON line as it finishes (and ``--json-out`` appends it); a summary table follows.
``--nltk`` defaults to ``$ULMFIT_SHARED_DATA/nltk`` or ``../shared/data/nltk`` beside the repository.
``--limit-train`` / ``--limit-test`` take the first N texts: smoke runs only (recorded in the JSON and kept
apart in the summary). The baseline needs scikit-learn, from the ``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TFIDF_CS = (0.25, 1.0, 4.0, 16.0, 64.0, 256.0, 1024.0)  # (0.25 ... 16) until the twentieth session


def default_nltk_dir() -> Path:
    """``$ULMFIT_SHARED_DATA/nltk`` when that variable is set, else ``../shared/data/nltk`` beside the repo."""
    env = os.environ.get("ULMFIT_SHARED_DATA")
    return Path(env) / "nltk" if env else REPO.parent / "shared" / "data" / "nltk"


def load_trec6(nltk_dir: Path, fine: bool = False) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    """The paper's split: 5,452 train / 500 test questions, coarse labels (``fine``: the 50 fine ones)."""
    splits = {}
    with zipfile.ZipFile(nltk_dir / "qc.zip") as zf:
        for name in ("train", "test"):
            texts, labels = [], []
            raw = zf.read(f"qc/{name}.txt").decode("latin-1")
            for line in raw.splitlines():
                if line.strip():
                    label, text = line.split(" ", 1)
                    texts.append(text.strip())
                    labels.append(label if fine else label.split(":")[0])
            splits[name] = (texts, labels)
    return splits["train"], splits["test"]


def load_trec50(nltk_dir: Path):
    """TREC with its 50 fine labels (``NUM:date``, ``HUM:ind``, ...), the same 5,452 / 500 split: a task no
    default was chosen on."""
    return load_trec6(nltk_dir, fine=True)


def load_demo(nltk_dir: Path | None = None):
    """The shipped demo reviews: its 320 training texts, and its 80 validation texts as the scored split
    (the ``ulmfit demo`` target is accuracy on the demo's own validation split)."""
    from ulmfit.demo import load_demo_data

    return load_demo_data()


def _first_training_texts(splits, n: int = 1000):
    """``(train, test)`` splits with only the first ``n`` training texts and labels kept."""
    (texts, labels), test = splits
    return (texts[:n], labels[:n]), test


def load_mr_1000(nltk_dir: Path):
    """MR with only its first 1,000 training sentences (the few-labels regime), the same test split."""
    return _first_training_texts(load_mr(nltk_dir))


def load_trec6_1000(nltk_dir: Path):
    """TREC-6 with only its first 1,000 training questions (the few-labels regime on a task no few-labels
    default was chosen on; every class is among them), the same 500 test questions."""
    return _first_training_texts(load_trec6(nltk_dir))


def load_mr_rest_unlabelled(nltk_dir: Path) -> list[str]:
    """MR's other 8,596 training sentences without their labels: ``mr-1000-unsup`` fine-tunes the LM on them
    as well (the semi-supervised setting of the ULMFiT paper, section 5; test sentences are never among them)."""
    (texts, _labels), _test = load_mr(nltk_dir)
    return texts[1000:]


LOADERS = {"trec6": "load_trec6", "trec50": "load_trec50", "mr": "load_mr", "mr-1000": "load_mr_1000",
           "mr-1000-unsup": "load_mr_1000", "trec6-1000": "load_trec6_1000", "demo": "load_demo"}
# tasks whose LM fine-tuning also reads unlabelled texts (the classifier and TF-IDF + LR see only the labels)
UNLABELLED_LOADERS = {"mr-1000-unsup": "load_mr_rest_unlabelled"}


def load_mr(nltk_dir: Path, seed: int = 0) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    """MR sentence polarity; 10 % held out with a fixed seed."""
    texts, labels = [], []
    with zipfile.ZipFile(nltk_dir / "sentence_polarity.zip") as zf:
        for label in ("pos", "neg"):
            name = next(n for n in zf.namelist() if n.endswith(f"rt-polarity.{label}"))
            for line in zf.read(name).decode("utf-8", errors="replace").splitlines():
                if line.strip():
                    texts.append(line.strip())
                    labels.append(label)
    perm = np.random.default_rng(seed).permutation(len(texts))
    n_test = len(texts) // 10
    test, train = perm[:n_test], perm[n_test:]
    pick = lambda idx: ([texts[i] for i in idx], [labels[i] for i in idx])  # noqa: E731
    return pick(train), pick(test)


# ---------------------------------------------------------------------- pure helpers (tested)
def split_valid_halves(valid_idx: Sequence[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split the validation hold-out ``valid_idx`` into halves ``(A, B)`` with ``default_rng(seed + 1)``.

    A (the first ``ceil(n / 2)`` of a permutation) is given to training; B is never seen in training. Both
    are disjoint, together cover ``valid_idx``, and the same ``(valid_idx, seed)`` always gives the same split.
    """
    valid_idx = np.asarray(valid_idx, dtype=np.int64)
    perm = np.random.default_rng(seed + 1).permutation(len(valid_idx))
    n_a = (len(valid_idx) + 1) // 2
    return valid_idx[perm[:n_a]], valid_idx[perm[n_a:]]


def tfidf_baseline(train: tuple[Sequence[str], Sequence], valid: tuple[Sequence[str], Sequence],
                   test: tuple[Sequence[str], Sequence], *, seed: int = 0,
                   cs: Sequence[float] = TFIDF_CS) -> dict[str, Any]:
    """TF-IDF (word 1-2 grams + char_wb 2-5 grams) + logistic regression; C chosen on ``valid``.

    Each ``C`` in ``cs`` is fitted on ``train`` and scored on ``valid``; the best (ties: the earlier C) is
    reported with its test accuracy. ``train``/``valid``/``test`` are ``(texts, labels)``.
    """
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, make_pipeline
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise SystemExit(f"the TF-IDF baseline needs scikit-learn: pip install -e '.[bench]' ({err})") from err

    start = time.time()
    best: tuple[float, float, Any] | None = None
    valid_scores = {}
    for c in cs:
        features = FeatureUnion([
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        ])
        model = make_pipeline(features, LogisticRegression(C=c, max_iter=2000, random_state=seed))
        model.fit(list(train[0]), list(train[1]))
        acc = _accuracy(model.predict(list(valid[0])), valid[1])
        valid_scores[str(c)] = round(acc, 4)
        if best is None or acc > best[0]:
            best = (acc, c, model)
    assert best is not None, "cs must not be empty"
    valid_acc, c, model = best
    return {"tfidf_C": c, "tfidf_valid_accuracy": round(valid_acc, 4),
            "tfidf_valid_accuracy_by_C": valid_scores,
            "tfidf_test_accuracy": round(_accuracy(model.predict(list(test[0])), test[1]), 4),
            "tfidf_seconds": round(time.time() - start, 1)}


def _accuracy(pred: Sequence, labels: Sequence) -> float:
    pred, labels = [str(p) for p in pred], [str(y) for y in labels]
    if not labels:
        return float("nan")
    return sum(p == y for p, y in zip(pred, labels)) / len(labels)


def _mean_sd(values: Sequence[float | None], scale: float = 100.0, digits: int = 2) -> str:
    """``"mean ± sd"`` (sample sd, ddof=1) of the non-missing values, times ``scale``; ``-`` when none."""
    vals = [float(v) * scale for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return "-"
    mean = statistics.fmean(vals)
    if len(vals) < 2:
        return f"{mean:.{digits}f} ± n/a"
    return f"{mean:.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def _mean(values: Sequence[float | None], scale: float = 100.0, digits: int = 2) -> str:
    vals = [float(v) * scale for v in values if v is not None and not math.isnan(float(v))]
    return f"{statistics.fmean(vals):.{digits}f}" if vals else "-"


def summarize(records: Sequence[dict[str, Any]]) -> str:
    """Markdown tables, one per task; one row per (LM, LM fine-tune on/off, smoke limits) setting.

    Accuracies in %, ``mean ± sd`` over seeds with the sample sd (ddof=1). "best-weights test" is informational:
    the protocol's figure is the final-weights test accuracy (the library's defaults).
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for rec in records:
        key = (rec.get("task"), rec.get("lm"), bool(rec.get("lm_finetune")), rec.get("limit_train"),
               rec.get("limit_test"))
        groups.setdefault(key, []).append(rec)
    if not groups:
        return "(no records)"
    out = []
    for task in sorted({k[0] for k in groups}, key=str):
        out.append(f"### {task}")
        out.append("")
        out.append("| LM | LM fine-tune | limits (train/test) | n seeds | ULMFiT test acc % | bwd % | ensemble % "
                   "| 1 fwd + 1 bwd % | TF-IDF+LR test acc % | valid-B final % | valid-B best % "
                   "| best-weights test % (informational) | min / run |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        keys = sorted((k for k in groups if k[0] == task), key=lambda k: (str(k[1]), not k[2], str(k[3]), str(k[4])))
        for key in keys:
            recs = groups[key]
            _, lm, finetune, limit_train, limit_test = key
            limits = "full" if limit_train is None and limit_test is None else f"{limit_train}/{limit_test}"
            seeds = sorted({r.get("seed") for r in recs}, key=str)
            minutes = [r.get("total_seconds") for r in recs]
            out.append(
                f"| {lm} | {'yes' if finetune else 'no'} | {limits} | {len(recs)} ({', '.join(map(str, seeds))}) "
                f"| {_mean_sd([r.get('test_accuracy') for r in recs])} "
                f"| {_mean_sd([r.get('bwd_test_accuracy') for r in recs])} "
                f"| {_mean_sd([r.get('ensemble_test_accuracy') for r in recs])}{_members(recs)} "
                f"| {_mean_sd([_pair_accuracy(r) for r in recs])} "
                f"| {_mean_sd([r.get('tfidf_test_accuracy') for r in recs])} "
                f"| {_mean([r.get('valid_b_accuracy') for r in recs])} "
                f"| {_mean([r.get('best_valid_b_accuracy') for r in recs])} "
                f"| {_mean_sd([r.get('best_test_accuracy') for r in recs])} "
                f"| {_mean(minutes, scale=1 / 60, digits=1)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _pair_accuracy(rec: dict[str, Any]) -> float | None:
    """Test accuracy of one forward + one backward classifier: the ``pair_`` figure when the ensemble had more
    members, else the ensemble's (records before ``ensemble_members`` existed had exactly that pair)."""
    if "pair_test_accuracy" in rec:
        return rec["pair_test_accuracy"]
    return rec.get("ensemble_test_accuracy") if rec.get("ensemble_members", 2) == 2 else None


def _members(recs: list[dict[str, Any]]) -> str:
    members = sorted({r.get("ensemble_members", 2) for r in recs if r.get("ensemble_test_accuracy") is not None})
    return f" ({'/'.join(map(str, members))} members)" if members else ""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise SystemExit(f"{path}:{n}: not a JSON line ({err})") from err
    return records


# ---------------------------------------------------------------------- one seed
def accuracies(prefix: str, model, test, valid_a, valid_b) -> dict:
    """``{prefix}test_accuracy`` and both hold-out halves' accuracies of a trained classifier (or ensemble).

    Without restore-best nothing chose on half A, so A and B are both validation figures for choosing
    between directions or the ensemble; the test figure chooses nothing."""
    score = lambda split: round(model.evaluate(*split)["accuracy"], 4) if split[0] else None  # noqa: E731
    return {f"{prefix}test_accuracy": score(test), f"{prefix}valid_a_accuracy": score(valid_a),
            f"{prefix}valid_b_accuracy": score(valid_b)}


def run_seed(task: str, seed: int, data, args, *, lm_overrides: dict | None = None,
             clf_overrides: dict | None = None, unlabelled: Sequence[str] = ()) -> dict[str, Any]:
    """One seed of the protocol; ``unlabelled`` texts join the training texts for LM fine-tuning only."""
    import torch

    import pretrained
    from ulmfit import LanguageModel, TextClassifier
    from ulmfit.classifier import ClassifierConfig
    from ulmfit.data.split import holdout_split
    from ulmfit.train import KeepBest

    (train_texts, train_labels), (test_texts, test_labels) = data
    progress = not args.quiet
    run_start = time.time()
    valid_pct = ClassifierConfig().valid_pct
    train_idx, valid_idx = holdout_split(len(train_texts), valid_pct, seed)
    a_idx, b_idx = split_valid_halves(valid_idx, seed)
    pick = lambda idx: ([train_texts[i] for i in idx], [train_labels[i] for i in idx])  # noqa: E731
    tr, va, vb, vab = pick(train_idx), pick(a_idx), pick(b_idx), pick(valid_idx)

    lm_name = args.lm or pretrained.DEFAULT
    # smoke runs only (scripts/benchmark.py --quick): LMFineTuneConfig / ClassifierConfig overrides, e.g. epochs
    lm_overrides, clf_overrides = dict(lm_overrides or {}), dict(clf_overrides or {})
    start = time.time()
    lm = LanguageModel.from_pretrained(lm_name)
    # which model this was: a worktree's script still imports the editable install's ``pretrained``
    lm_identity = {"lm_package_dir": str(Path(pretrained.__file__).parent),
                   "lm_valid_perplexity": (lm.meta.get("metrics") or {}).get("valid_perplexity")}
    lm_metrics: dict[str, float] = {}
    lm_texts = list(train_texts) + list(unlabelled)
    if not args.no_lm_finetune:
        lm_metrics = lm.fine_tune(lm_texts, seed=seed, progress=progress, **lm_overrides)
    lm_seconds = time.time() - start

    keep = KeepBest(monitor="accuracy", restore=False)
    start = time.time()
    clf = TextClassifier.train(tr[0], tr[1], lm=lm, valid=va, seed=seed, callbacks=[keep], progress=progress,
                               **clf_overrides)
    clf_seconds = time.time() - start

    final = clf.evaluate(test_texts, test_labels)
    valid_a = clf.evaluate(*va)["accuracy"]
    valid_b = clf.evaluate(*vb)["accuracy"] if vb[0] else None

    best_state = getattr(keep, "best_state", None)
    best_valid_b = best_test = None
    if best_state is not None:
        final_state = {k: v.detach().clone() for k, v in clf.model.state_dict().items()}
        clf.model.load_state_dict(best_state)
        best_valid_b = clf.evaluate(*vb)["accuracy"] if vb[0] else None
        best_test = clf.evaluate(test_texts, test_labels)["accuracy"]
        clf.model.load_state_dict(final_state)

    clf.predict([test_texts[0]])  # warm-up
    times = []
    for text in test_texts[:50]:
        t0 = time.perf_counter()
        clf.predict([text])
        times.append(time.perf_counter() - t0)

    ensemble = {}
    if args.ensemble:
        from ulmfit import ClassifierEnsemble
        from ulmfit.classifier import auto_members_per_lm
        from ulmfit.hub.registry import twin_of

        twin = args.bwd_lm or twin_of(lm_name)
        if twin is None:
            raise SystemExit(f"--ensemble: {lm_name!r} has no registered backward twin; pass --bwd-lm")
        bwd_lm = LanguageModel.from_pretrained(twin)
        if not args.no_lm_finetune:
            bwd_lm.fine_tune(lm_texts, seed=seed, progress=progress, **lm_overrides)
        # the members ClassifierEnsemble.train makes (member k of each LM: seed + k), the forward seed's
        # classifier above reused as the first
        n = auto_members_per_lm(len(tr[0]))
        fwd = [clf] + [TextClassifier.train(tr[0], tr[1], lm=lm, valid=va, seed=seed + k, progress=progress,
                                            **clf_overrides) for k in range(1, n)]
        bwd = [TextClassifier.train(tr[0], tr[1], lm=bwd_lm, valid=va, seed=seed + k, progress=progress,
                                    **clf_overrides) for k in range(n)]
        test = (test_texts, test_labels)
        ensemble = {"bwd_lm": twin, **accuracies("bwd_", bwd[0], test, va, vb),
                    **accuracies("ensemble_", ClassifierEnsemble(fwd + bwd), test, va, vb), "ensemble_members": 2 * n}
        if n > 1:   # what one classifier per direction (the previous default) gives on the same runs
            ensemble.update(accuracies("pair_", ClassifierEnsemble([fwd[0], bwd[0]]), test, va, vb))

    baseline = tfidf_baseline(tr, vab, (test_texts, test_labels), seed=seed)
    history = (clf.meta.get("history") or [{}])[-1]
    ppl = lm_metrics.get("perplexity")
    best = getattr(keep, "best", None)
    best_epoch = getattr(keep, "best_epoch", None)
    rnd = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
    return {
        "task": task, "seed": seed, "lm": lm_name, **lm_identity, "lm_finetune": not args.no_lm_finetune,
        "limit_train": args.limit_train, "limit_test": args.limit_test,
        **({"lm_overrides": lm_overrides, "clf_overrides": clf_overrides} if lm_overrides or clf_overrides else {}),
        "test_accuracy": rnd(final["accuracy"]), "macro_f1": rnd(final["macro_f1"]),
        "valid_a_accuracy": rnd(valid_a), "valid_b_accuracy": rnd(valid_b),
        "best_epoch": None if best_epoch is None else int(best_epoch),
        "best_valid_a_accuracy": rnd(best), "best_valid_b_accuracy": rnd(best_valid_b),
        "best_test_accuracy": rnd(best_test),
        **baseline, **ensemble,
        "lm_finetune_perplexity": None if ppl is None else round(float(ppl), 2),
        "lm_seconds": round(lm_seconds, 1), "clf_seconds": round(clf_seconds, 1),
        "total_seconds": round(time.time() - run_start, 1),
        "predict_one_text_ms_median": round(1000 * float(np.median(times)), 1),
        "threads": torch.get_num_threads(),
        "n_train": len(tr[0]), "n_valid": len(vab[0]), "n_valid_a": len(va[0]), "n_valid_b": len(vb[0]),
        "n_test": len(test_texts), "n_lm_texts": 0 if args.no_lm_finetune else len(lm_texts),
        "valid_pct": valid_pct, "stage_epochs": history.get("stage_epochs"), "bs": history.get("bs"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", nargs="?", choices=list(LOADERS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--nltk", type=Path, default=None,
                        help="NLTK data folder (default: $ULMFIT_SHARED_DATA/nltk or ../shared/data/nltk)")
    parser.add_argument("--no-lm-finetune", action="store_true", help="ablation: classifier on the pretrained LM")
    parser.add_argument("--ensemble", action="store_true",
                        help="also the LM's backward twin: bwd and fwd + bwd ensemble test accuracies per seed")
    parser.add_argument("--lm", default=None, help="pretrained LM (default: pretrained.DEFAULT)")
    parser.add_argument("--bwd-lm", default=None,
                        help="with --ensemble: the backward LM (default: the registered twin of --lm)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--json-out", type=Path, default=None, help="append one JSON line per seed")
    parser.add_argument("--limit-train", type=int, default=None, help="first N training texts (smoke runs only)")
    parser.add_argument("--limit-test", type=int, default=None, help="first N test texts (smoke runs only)")
    parser.add_argument("--summarize", type=Path, default=None, metavar="FILE",
                        help="print the Markdown summary of a JSONL written by this script (no training)")
    args = parser.parse_args(argv)

    if args.summarize is not None:
        print(summarize(read_jsonl(args.summarize)), end="")
        return
    if args.task is None:
        parser.error(f"give a task ({', '.join(LOADERS)}), or --summarize FILE")
    if args.bwd_lm is not None and not args.ensemble:
        parser.error("--bwd-lm is the backward half of --ensemble: add --ensemble")
    for name in ("limit_train", "limit_test"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")

    nltk_dir = args.nltk or default_nltk_dir()
    loader = globals()[LOADERS[args.task]]
    (train_texts, train_labels), (test_texts, test_labels) = loader(nltk_dir)
    if args.limit_train is not None:
        train_texts, train_labels = train_texts[:args.limit_train], train_labels[:args.limit_train]
    if args.limit_test is not None:
        test_texts, test_labels = test_texts[:args.limit_test], test_labels[:args.limit_test]
    unlabelled = globals()[UNLABELLED_LOADERS[args.task]](nltk_dir) if args.task in UNLABELLED_LOADERS else []
    if args.limit_train is not None:
        unlabelled = unlabelled[:args.limit_train]

    records = []
    for seed in args.seeds:
        result = run_seed(args.task, seed, ((train_texts, train_labels), (test_texts, test_labels)), args,
                          unlabelled=unlabelled)
        records.append(result)
        print(json.dumps(result), flush=True)
        if args.json_out:
            with open(args.json_out, "a") as f:
                f.write(json.dumps(result) + "\n")
    print(file=sys.stdout)
    print(summarize(records), end="", flush=True)


if __name__ == "__main__":
    main()
