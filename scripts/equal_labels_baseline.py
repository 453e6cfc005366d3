"""TF-IDF + LR given the same extra labels as an intermediate-task LM: the equal-labels comparison.

    python scripts/equal_labels_baseline.py mr-1000 --json-out bench.jsonl       # seeds 42 43 44

A language model made by ``scripts/intermediate_task_lm.py`` has learnt from NLTK's labelled ``movie_reviews``
besides the task's own labels, so beating ``benchmark_classifier.py``'s TF-IDF + LR, which sees only the task's
labels, is not an equal-labels win. This script fits that same baseline on the same split as
``benchmark_classifier.py`` (90 % train; C chosen on the whole hold-out A + B; the same test texts), once with the
task's labels alone and once with the reviews added to its training texts: the same reviews the intermediate
step reads (``intermediate_task_lm.movie_reviews``: reviews holding any MR sentence dropped, each cut to its
last ``--last-tokens`` tokens). Both test accuracies are printed per seed, one JSON line each, then their
means. MR tasks only: the reviews' labels are MR's (``pos``/``neg``). Needs scikit-learn (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

TASKS = ("mr", "mr-1000")


def run_seed(data, extra: tuple[list[str], list[str]], seed: int) -> dict[str, Any]:
    """Both baselines for one seed. ``data`` is ``((train_texts, train_labels), (test_texts, test_labels))``;
    ``extra`` the ``(texts, labels)`` added to the training part for the second fit."""
    from benchmark_classifier import tfidf_baseline

    from ulmfit.classifier import ClassifierConfig
    from ulmfit.data.split import holdout_split

    (texts, labels), test = data
    train_idx, valid_idx = holdout_split(len(texts), ClassifierConfig().valid_pct, seed)
    pick = lambda idx: ([texts[i] for i in idx], [labels[i] for i in idx])  # noqa: E731
    train, valid = pick(train_idx), pick(valid_idx)   # as benchmark_classifier.py: C is chosen on halves A + B
    plain = tfidf_baseline(train, valid, test, seed=seed)
    plus = tfidf_baseline((train[0] + extra[0], train[1] + extra[1]), valid, test, seed=seed)
    return {"seed": seed, "n_train": len(train[0]), "n_extra": len(extra[0]), "n_valid": len(valid[0]),
            "n_test": len(test[0]), **plain,
            **{key.replace("tfidf_", "tfidf_plus_reviews_"): value for key, value in plus.items()}}


def summary(records: list[dict[str, Any]]) -> str:
    """One line: the mean (and sample sd over seeds) of both test accuracies, in percent."""
    def mean_sd(key: str) -> str:
        values = [100 * r[key] for r in records]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.2f} ± {sd:.2f} %"
    return (f"TF-IDF + LR test accuracy over {len(records)} seed(s): task labels only "
            f"{mean_sd('tfidf_test_accuracy')}; with the {records[0]['n_extra']:,} reviews added "
            f"{mean_sd('tfidf_plus_reviews_test_accuracy')}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=TASKS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--nltk", type=Path, default=None,
                        help="NLTK data folder (default: $ULMFIT_SHARED_DATA/nltk or ../shared/data/nltk)")
    parser.add_argument("--last-tokens", type=int, default=300,
                        help="keep each review's last N tokens (intermediate_task_lm.py's default)")
    parser.add_argument("--json-out", type=Path, default=None, help="append one JSON line per seed")
    args = parser.parse_args(argv)
    if args.last_tokens < 1:
        parser.error(f"--last-tokens {args.last_tokens}: give 1 or more")
    from benchmark_classifier import default_nltk_dir, load_mr, load_mr_1000
    from intermediate_task_lm import check_zips, movie_reviews, mr_chunks

    nltk_dir = args.nltk or default_nltk_dir()
    check_zips(parser, nltk_dir)
    data = (load_mr if args.task == "mr" else load_mr_1000)(nltk_dir)
    exclude = mr_chunks(nltk_dir / "sentence_polarity.zip")
    texts, labels, dropped = movie_reviews(nltk_dir / "movie_reviews.zip", exclude, args.last_tokens)
    print(f"{len(texts)} reviews added to the second fit, {dropped} dropped as overlapping MR", flush=True)
    records = []
    for seed in args.seeds:
        record = {"task": args.task, **run_seed(data, (texts, labels), seed), "reviews_dropped": dropped,
                  "last_tokens": args.last_tokens}
        records.append(record)
        print(json.dumps(record), flush=True)
        if args.json_out:
            with open(args.json_out, "a") as f:
                f.write(json.dumps(record) + "\n")
    print(summary(records), flush=True)


if __name__ == "__main__":
    main()
