"""Compare classifier recipes on VALIDATION data only: the tool for choosing the library's defaults.

The test split is never loaded into the run: each candidate recipe is trained on 70 % of the training split
(the library's hold-out rule ``holdout_split(n, valid_pct, seed)`` with ``--valid-pct``, default 0.3) with half
A of the hold-out as
``valid=`` (what KeepBest and threshold tuning may use), and scored on half B, which training never sees.
The language model is fine-tuned once per seed on the same 70 % (never on the hold-out texts, so the halves
are as unseen as a test split; ``--no-lm-train-only`` reads the whole training split, the protocol of
the records before the sixteenth session) and copied for every candidate, so the candidates differ only
in the classifier recipe. TF-IDF + LR is scored on B beside them (its C chosen on
A). The recipe chosen here then goes into the defaults, and ``scripts/benchmark_classifier.py`` measures
the defaults on test, once.

    python scripts/tune_classifier_recipe.py demo --seeds 42 43 44 --grid '[{}, {"keep_best": true}]'
    python scripts/tune_classifier_recipe.py mr-1000 --grid-file grid.json --json-out tune.jsonl

``--grid``: a JSON list of ``ClassifierConfig`` overrides (``{}`` = the current defaults); tuples are given
as lists. A candidate's ``"seed_offset": k`` trains its classifier with seed ``seed + k`` (the split and the
LM fine-tuning keep ``seed``), so ``[{}, {"seed_offset": 1}, {"seed_offset": 2}]`` gives three classifiers
that differ only in their seed. ``--save-probs`` adds each candidate's class probabilities on A and B to
its JSON line, and the table then also scores the mean of all candidates' probabilities per seed (an
ensemble of the grid). Prints one JSON line per (seed, candidate) and a table of mean valid-B accuracy per
candidate.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from benchmark_classifier import LOADERS, default_nltk_dir, split_valid_halves, tfidf_baseline  # noqa: E402


def _train_split(task: str, nltk_dir: Path):
    """The training split of ``task`` only: its test part is dropped here, before any training."""
    import benchmark_classifier

    train, _test = getattr(benchmark_classifier, LOADERS[task])(nltk_dir)
    del _test
    return train


def _jsonable_overrides(overrides: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}


def _accuracy(clf, probs, labels) -> float:
    """``clf.evaluate``'s accuracy from probabilities already predicted, rounded for the record."""
    return round(clf._metrics(probs, clf._targets(labels))["accuracy"], 4)


def run(task: str, seeds: list[int], grid: list[dict], args) -> list[dict]:
    import pretrained
    from ulmfit import LanguageModel, TextClassifier
    from ulmfit.data.split import holdout_split

    texts, labels = _train_split(task, args.nltk or default_nltk_dir())
    records = []
    for seed in seeds:
        train_idx, valid_idx = holdout_split(len(texts), args.valid_pct, seed)
        a_idx, b_idx = split_valid_halves(valid_idx, seed)
        pick = lambda idx: ([texts[i] for i in idx], [labels[i] for i in idx])  # noqa: E731
        tr, va, vb = pick(train_idx), pick(a_idx), pick(b_idx)
        lm = LanguageModel.from_pretrained(args.lm or pretrained.DEFAULT)
        if not args.no_lm_finetune:
            lm_texts = tr[0] if args.lm_train_only else texts
            lm.fine_tune(lm_texts, seed=seed + args.lm_seed_offset, progress=not args.quiet,
                         **_jsonable_overrides(args.lm_overrides))
        baseline = tfidf_baseline(tr, va, vb, seed=seed)  # C chosen on A, "test" = B
        for k, overrides in enumerate(grid):
            start = time.time()
            options = _jsonable_overrides(overrides)
            clf_seed = seed + options.pop("seed_offset", 0)
            clf = TextClassifier.train(tr[0], tr[1], lm=copy.deepcopy(lm), valid=va, seed=clf_seed,
                                       progress=not args.quiet, **options)
            probs_a, probs_b = clf.predict_proba(va[0]), clf.predict_proba(vb[0])   # one pass per half
            rec = {"task": task, "seed": seed, "candidate": k, "overrides": overrides,
                   "valid_a_accuracy": _accuracy(clf, probs_a, va[1]),
                   "valid_b_accuracy": _accuracy(clf, probs_b, vb[1]),
                   "tfidf_valid_b_accuracy": baseline["tfidf_test_accuracy"],
                   "stage_epochs": clf.meta["history"][-1]["stage_epochs"],
                   "seconds": round(time.time() - start, 1), "lm": args.lm or pretrained.DEFAULT,
                   "lm_finetune": not args.no_lm_finetune, "lm_overrides": args.lm_overrides,
                   "lm_seed_offset": args.lm_seed_offset, "lm_train_only": args.lm_train_only,
                   "n_train": len(tr[0]), "n_valid_b": len(vb[0])}
            if args.save_probs:
                rec.update(classes=[str(c) for c in clf.classes],
                           valid_a_labels=[str(y) for y in va[1]], valid_b_labels=[str(y) for y in vb[1]],
                           valid_a_probs=probs_a.round(5).tolist(), valid_b_probs=probs_b.round(5).tolist())
            records.append(rec)
            print(json.dumps(rec), flush=True)
            if args.json_out:
                with open(args.json_out, "a") as f:
                    f.write(json.dumps(rec) + "\n")
    return records


def table(records: list[dict]) -> str:
    """Mean (sd) valid-B accuracy per candidate, TF-IDF + LR's beside; in %."""
    def mean_sd(vals):
        vals = [100 * v for v in vals]
        return f"{statistics.fmean(vals):.2f}" + (f" ± {statistics.stdev(vals):.2f}" if len(vals) > 1 else "")

    lines = ["| candidate | overrides | seeds | valid-B acc % | TF-IDF+LR valid-B % | s / run |",
             "|---|---|---|---|---|---|"]
    for k in sorted({r["candidate"] for r in records}):
        rs = [r for r in records if r["candidate"] == k]
        lines.append(f"| {k} | `{json.dumps(rs[0]['overrides'])}` | {len(rs)} "
                     f"| {mean_sd([r['valid_b_accuracy'] for r in rs])} "
                     f"| {mean_sd([r['tfidf_valid_b_accuracy'] for r in rs])} "
                     f"| {statistics.fmean(r['seconds'] for r in rs):.0f} |")
    ensemble = grid_ensemble(records)
    if ensemble:
        lines.append(f"\nMean of all candidates' probabilities (valid A+B, per seed): "
                     f"{', '.join(f'{s}: {100 * a:.2f} %' for s, a in ensemble.items())}; "
                     f"mean {100 * statistics.fmean(ensemble.values()):.2f} %")
    return "\n".join(lines) + "\n"


def grid_ensemble(records: list[dict]) -> dict[int, float]:
    """Per seed, the valid A+B accuracy of the mean of all candidates' probabilities (records made with
    ``--save-probs``; ``{}`` without them). Candidates with ``keep_best`` chose an epoch on A, so A+B flatters
    them: give such grids to the table above instead."""
    if not records or not all("valid_a_probs" in r for r in records):
        return {}
    out = {}
    for seed in sorted({r["seed"] for r in records}):
        rs = [r for r in records if r["seed"] == seed]
        probs = np.mean([np.asarray(r["valid_a_probs"] + r["valid_b_probs"]) for r in rs], axis=0)
        truth = rs[0]["valid_a_labels"] + rs[0]["valid_b_labels"]
        pred = [rs[0]["classes"][i] for i in probs.argmax(1)]
        out[seed] = float(np.mean([p == t for p, t in zip(pred, truth)]))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=list(LOADERS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--valid-pct", type=float, default=0.3,
                        help="hold-out for tuning (default 0.3: with a few hundred labels the library's 10 %% "
                             "leaves B with ~16 texts, too few to tell recipes apart)")
    parser.add_argument("--grid", default="[{}]", help="JSON list of ClassifierConfig overrides")
    parser.add_argument("--grid-file", type=Path, default=None, help="the same, in a file")
    parser.add_argument("--lm", default=None)
    parser.add_argument("--no-lm-finetune", action="store_true")
    parser.add_argument("--lm-overrides", default="{}",
                        help="JSON object of LMFineTuneConfig overrides for the per-seed LM fine-tuning, "
                             "e.g. '{\"epochs\": 2}' (compare LM fine-tuning lengths with one run each)")
    parser.add_argument("--lm-seed-offset", type=int, default=0,
                        help="fine-tune the LM with seed + this (the split keeps the seed): LMs that differ only in "
                             "their fine-tuning seed, e.g. for ensembles of differently fine-tuned LMs")
    parser.add_argument("--lm-train-only", action=argparse.BooleanOptionalAction, default=True,
                        help="fine-tune the LM on the training part only, so that the hold-out halves are as unseen "
                             "as a test split (default); --no-lm-train-only fine-tunes it on the whole training "
                             "split, hold-out texts included, as the records before the sixteenth session did")
    parser.add_argument("--nltk", type=Path, default=None)
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--save-probs", action="store_true",
                        help="add each candidate's probabilities on A and B to its JSON line and score the mean "
                             "of all candidates' probabilities (an ensemble of the grid)")
    args = parser.parse_args(argv)
    try:
        grid = json.loads(args.grid_file.read_text() if args.grid_file else args.grid)
    except (OSError, json.JSONDecodeError) as err:
        parser.error(f"--grid: not a JSON list of objects ({err})")
    try:
        args.lm_overrides = json.loads(args.lm_overrides)
    except json.JSONDecodeError as err:
        parser.error(f"--lm-overrides: not a JSON object ({err})")
    if not isinstance(args.lm_overrides, dict):
        parser.error("--lm-overrides: expected a JSON object, e.g. '{\"epochs\": 2}'")
    if not isinstance(grid, list) or not all(isinstance(g, dict) for g in grid):
        parser.error("--grid: expected a JSON list of objects, e.g. '[{}, {\"keep_best\": true}]'")
    print(table(run(args.task, args.seeds, grid, args)), end="")


if __name__ == "__main__":
    main()
