"""ULMFiT quality on real data, with the library's DEFAULTS (no tuning arguments).

    python scripts/benchmark_classifier.py trec6            # TREC-6 from ../shared/data/nltk/qc.zip
    python scripts/benchmark_classifier.py mr               # MR sentence polarity, 10 % held out (seed 0)
    python scripts/benchmark_classifier.py trec6 --no-lm-finetune   # ablation: skip ULMFiT stage 2

Pipeline: ``LanguageModel.from_pretrained(pretrained.DEFAULT)`` -> ``lm.fine_tune(train_texts)`` ->
``TextClassifier.train(train_texts, train_labels, lm=lm)`` -> accuracy on the test split. Prints one JSON
line with accuracy and wall times; ``--json-out`` appends it to a file.
"""

from __future__ import annotations

import argparse
import json
import time
import zipfile
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "nltk"


def load_trec6(nltk_dir: Path) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    """The paper's split: 5,452 train / 500 test questions, coarse labels."""
    splits = {}
    with zipfile.ZipFile(nltk_dir / "qc.zip") as zf:
        for name in ("train", "test"):
            texts, labels = [], []
            raw = zf.read(f"qc/{name}.txt").decode("latin-1")
            for line in raw.splitlines():
                if line.strip():
                    label, text = line.split(" ", 1)
                    texts.append(text.strip())
                    labels.append(label.split(":")[0])
            splits[name] = (texts, labels)
    return splits["train"], splits["test"]


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=["trec6", "mr"])
    parser.add_argument("--nltk", type=Path, default=SHARED)
    parser.add_argument("--no-lm-finetune", action="store_true", help="ablation: classifier on the pretrained LM")
    parser.add_argument("--lm", default=None, help="pretrained LM (default: pretrained.DEFAULT)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    import pretrained
    from ulmfit import LanguageModel, TextClassifier

    loader = load_trec6 if args.task == "trec6" else load_mr
    (train_texts, train_labels), (test_texts, test_labels) = loader(args.nltk)
    start = time.time()
    lm = LanguageModel.from_pretrained(args.lm or pretrained.DEFAULT)
    lm_metrics = {}
    if not args.no_lm_finetune:
        lm_metrics = lm.fine_tune(train_texts, progress=not args.quiet)
    lm_seconds = time.time() - start
    clf = TextClassifier.train(train_texts, train_labels, lm=lm, progress=not args.quiet)
    total = time.time() - start
    metrics = clf.evaluate(test_texts, test_labels)
    clf.predict([test_texts[0]])  # warm-up
    times = []
    for text in test_texts[:50]:
        t0 = time.perf_counter()
        clf.predict([text])
        times.append(time.perf_counter() - t0)
    result = {"task": args.task, "lm": args.lm or pretrained.DEFAULT, "lm_finetune": not args.no_lm_finetune,
              "test_accuracy": round(metrics["accuracy"], 4), "macro_f1": round(metrics["macro_f1"], 4),
              "n_train": len(train_texts), "n_test": len(test_texts),
              "lm_finetune_perplexity": round(lm_metrics.get("perplexity", float("nan")), 2),
              "lm_seconds": round(lm_seconds, 1), "total_seconds": round(total, 1),
              "predict_one_text_ms_median": round(1000 * float(np.median(times)), 1),
              "threads": torch.get_num_threads()}
    print(json.dumps(result))
    if args.json_out:
        with open(args.json_out, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
