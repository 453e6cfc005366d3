"""``ulmfit demo``: the whole ULMFiT pipeline, offline, on the shipped data.

1. load the shipped pretrained English LM (``pretrained.DEFAULT``);
2. fine-tune it on the training texts (ULMFiT stage 2);
3. train a classifier with gradual unfreezing (stage 3);
4. print the validation metrics and predictions for a few sentences, save both models and print the
   command that predicts with the classifier.

``--data SOURCE`` runs the same pipeline on any data source (``trec6``, ``imdb``, a local path, ...).
"""

from __future__ import annotations

import time
from pathlib import Path

from ulmfit.demo_data import load_examples, load_reviews

__all__ = ["run_demo", "load_demo_data", "demo_examples"]


def load_demo_data() -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    """The shipped review sentiment set: ``((train_texts, train_labels), (valid_texts, valid_labels))``."""
    return load_reviews("train"), load_reviews("valid")


def demo_examples() -> list[str]:
    return load_examples()


def _load_data(data: str | None, seed: int = 42):
    if data is None:
        (train_texts, train_labels), valid = load_demo_data()
        return train_texts, train_labels, valid, demo_examples(), []
    from ulmfit.data import load_source

    splits = load_source(data)
    if "train" not in splits or splits["train"].labels is None:
        from ulmfit.errors import UsageError

        raise UsageError(f"{data} has no labelled 'train' split (found {sorted(splits)})")
    from ulmfit.classifier import ClassifierConfig, split_holdout

    train = splits["train"]
    # validation comes from the source's own validation split or from the training data, never from test
    valid_name = next((n for n in ("valid", "validation") if n in splits and splits[n].labels), None)
    if valid_name:
        train_texts, train_labels = train.texts, train.labels
        valid = (splits[valid_name].texts, splits[valid_name].labels)
    else:
        (train_texts, train_labels), valid = split_holdout(train.texts, train.labels, ClassifierConfig().valid_pct,
                                                           seed)
    extra_lm = splits["unsup"].texts if "unsup" in splits else []
    examples = valid[0][:5]
    return train_texts, train_labels, valid, examples, extra_lm


def _fine_tune_lm(name: str, train_texts, extra_lm, out: Path, quick: bool, progress: bool, seed: int, step: str):
    """Fine-tune the LM ``name`` on the training (and unlabelled) texts; saved in ``out / "lm"``."""
    from ulmfit.language_model import LanguageModel

    print(f"[1/4]{step} pretrained language model: {name}", flush=True)
    language_model = LanguageModel.from_pretrained(name)
    print(f"      {language_model}", flush=True)
    print(f"[2/4]{step} fine-tuning the language model on {len(train_texts) + len(extra_lm)} texts", flush=True)
    lm_overrides = {"epochs": 1} if quick else {}
    lm_metrics = language_model.fine_tune(list(train_texts) + list(extra_lm), progress=progress, seed=seed,
                                           **lm_overrides)
    if lm_metrics:
        print(f"      LM validation perplexity {lm_metrics['perplexity']:.1f}, "
              f"next-word accuracy {lm_metrics['accuracy']:.3f}", flush=True)
    language_model.save(out / "lm")
    return language_model


def check_demo_out(out: str | Path, name: str = "out") -> Path:
    """``out`` must be a folder the demo can save into: not a file, and its model sub-folders (``lm``,
    ``backward/lm``, ``ensemble``, ``classifier``) new, empty or saved models (a re-run replaces them)."""
    from ulmfit.hub.model_folder import check_output_folder

    out = Path(out)
    if out.exists() and not out.is_dir():
        from ulmfit.errors import UsageError

        raise UsageError(f"{name} {str(out)!r} is a file; the demo saves its models in a folder")
    for sub in ("lm", "backward/lm", "ensemble", "classifier"):
        check_output_folder(out / sub, f"{name} {str(out)!r}: the sub-folder")
    return out


def run_demo(data: str | None = None, out: str | Path = "ulmfit-demo", lm: str | None = None, quick: bool = False,
             progress: bool = True, seed: int = 42, ensemble: bool | None = None) -> dict:
    """Run the pipeline; returns the validation metrics (the shipped set's validation split, or for
    ``data=`` the source's validation split or a seeded hold-out of its training data).

    ``ensemble``: also fine-tune the backward twin of the LM (``ulmfit-en-fwd`` -> ``ulmfit-en-bwd``) and
    average the probabilities of classifiers trained from both (``ClassifierEnsemble.train``: under 2,000
    labelled texts three seeds per LM; saved in ``OUT/ensemble``). ``None`` (the default) ensembles when the
    LM has a registered twin, as the shipped one does; ``True`` requires one; ``False`` trains one forward
    classifier only (the fastest)."""
    from ulmfit.classifier import ClassifierEnsemble, TextClassifier, auto_members_per_lm
    from ulmfit.evaluation import format_metrics
    from ulmfit.hub.registry import DEFAULT, twin_of

    start = time.time()
    out = check_demo_out(out)
    train_texts, train_labels, valid, examples, extra_lm = _load_data(data, seed)
    name = lm or DEFAULT
    twin = twin_of(name) if ensemble is not False else None
    if ensemble and twin is None:
        from ulmfit.errors import UsageError

        raise UsageError(f"--ensemble needs a registered LM with a backward twin; {name!r} has none "
                         "(the shipped pair is ulmfit-en-fwd / ulmfit-en-bwd)")
    if twin:
        print(f"forward + backward ensemble: {name} and {twin} (--no-ensemble: one {name} classifier, about 4x faster)",
              flush=True)
    parts = [(name, out, " (forward)" if twin else "")] + ([(twin, out / "backward", " (backward)")] if twin else [])
    lms = [_fine_tune_lm(n, train_texts, extra_lm, o, quick, progress, seed, step) for n, o, step in parts]
    clf_overrides = {"stage_epochs": (1, 1, 1, 1)} if quick else {}
    if twin:
        n = auto_members_per_lm(len(train_texts))
        print(f"[3/4] training {n * len(lms)} classifiers ({n} seed{'s' if n > 1 else ''} per language model, "
              f"{len(train_texts)} labelled texts, gradual unfreezing)", flush=True)
        clf = ClassifierEnsemble.train(train_texts, train_labels, lms=lms, valid=valid, members_per_lm=n,
                                       progress=progress, seed=seed, **clf_overrides)
        where = f"{out}/ensemble"
        clf.save(where)
    else:
        print(f"[3/4] training the classifier ({len(train_texts)} labelled texts, gradual unfreezing)", flush=True)
        clf = TextClassifier.train(train_texts, train_labels, lm=lms[0], valid=valid, progress=progress, seed=seed,
                                   **clf_overrides)
        where = f"{out}/classifier"
        clf.save(where)

    print("[4/4] results", flush=True)
    metrics = {}
    if valid is not None:
        if twin:
            for member, score in zip(clf.models, clf.member_evaluations):
                direction = "backward" if member.backwards else "forward"
                print(f"  {direction} classifier (seed {member.meta['history'][-1]['config']['seed']}): "
                      f"accuracy {score.get('accuracy', 0):.4f}")
            print(f"  ensemble (mean of the {len(clf.models)} classifiers' probabilities):")
        metrics = clf.evaluation or {}  # scored on valid when trained (or built, for the ensemble)
        print(format_metrics(metrics))
    print("\npredictions:")
    for text, label, probs in zip(examples, clf.predict(examples), clf.predict_proba(examples)):
        short = text if len(text) < 90 else text[:87] + "..."
        print(f"  {label!s:>10s} ({probs.max():.2f})  {short}")
    print(f"\ndone in {time.time() - start:.0f}s. Models saved in {out} (each folder has report.html).")
    from ulmfit.cli_prog import runnable

    print(f"Predict with:\n  {runnable()} predict {where} \"The battery died after two days.\"")
    return metrics
