"""The ``ulmfit`` command: demo, tokenize, pretrain, finetune-lm, train-classifier, lr-find, predict, evaluate.

Every sub-command is a thin layer over the Python API (``LanguageModel``, ``TextClassifier``, the data
sources); run ``ulmfit COMMAND --help`` for its options. A data source is a built-in name (``imdb``,
``trec6``), a local path (aclImdb folder, TREC files, CSV/TSV/JSONL, class folders, plain text) or
``hf:NAME``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

from ulmfit.cli_config import add_config_options, add_deterministic_option, config_overrides, int_in, prepare_process
from ulmfit.cli_errors import allow_debug_anywhere, in_flag_terms, run_command
from ulmfit.errors import UsageError
from ulmfit.evaluation import format_metrics
from ulmfit.version import __version__

__all__ = ["main", "build_parser", "dumps_json", "format_metrics"]

HELP = """ULMFiT for text classification: pretrain or fine-tune an AWD-LSTM language model, train a classifier
with gradual unfreezing, combine forward and backward classifiers, predict, evaluate. Offline by default
(a small English LM ships with the package).

A data source is a built-in name (imdb, trec6, trec50), a local path (an aclImdb folder, TREC label files,
a CSV/TSV/JSONL file, one folder per class, plain text files) or hf:NAME (a Hugging Face dataset).
Every training command writes metrics.csv, steps.csv and report.html into its model folder."""


def _add_training_options(p: argparse.ArgumentParser) -> None:
    """Options shared by finetune-lm and train-classifier that are not training settings."""
    p.add_argument("--run-dir", type=Path, default=None, help="metrics.csv and checkpoints go here")
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    add_deterministic_option(p)
    _add_source_options(p)


def _config_options(p: argparse.ArgumentParser, cls: type, **kwargs) -> None:
    from ulmfit.language_model import SCHEDULES
    from ulmfit.train.precision import AUTO, PRECISIONS

    fields = getattr(cls, "__dataclass_fields__", {})
    precisions = (AUTO, *PRECISIONS) if "precision" in fields and fields["precision"].default == AUTO else PRECISIONS
    choices = {"schedule": SCHEDULES, "precision": precisions, "vocab": ("extend", "keep", "target"),
               "softmax": ("sampled", "full"), "init_vocab": ("keep", "extend")}
    add_config_options(p, cls, choices=choices, **kwargs)


def _checked_config(args, cls: type):
    """The config the options describe, checked before any data is read: bad values, and a --device or
    --precision this machine cannot run, fail at once in one line."""
    from ulmfit.config_checks import ConfigValueError
    from ulmfit.train.precision import check_precision, resolve_precision

    try:
        config = cls(**config_overrides(args, cls))
    except ConfigValueError as err:
        value = ",".join(map(str, err.value)) if isinstance(err.value, (tuple, list)) else err.value
        # None is leaving the flag out, not a value to type
        accepted = err.accepted.removeprefix("None or ").removeprefix("None, ")
        raise UsageError(f"--{err.field.replace('_', '-')} {value}: expected {accepted}") from None
    except ValueError as err:  # a rule over several fields: its keywords (epochs=) as this command's flags
        raise UsageError(_flag_terms(str(err), cls)) from None
    device = getattr(config, "device", None)
    try:
        check_precision(resolve_precision(config.precision, device), device)
    except ValueError as err:  # the API's message names keywords (device='cuda'); here they are flags
        raise UsageError(in_flag_terms(str(err), ("device", "precision")).replace("'", "")) from None
    return config


def _flag_terms(message: str, cls: type) -> str:
    """A config's message with its keywords (``cls``'s fields: ``stage_epochs=``) as the shell's flags."""
    import dataclasses

    return in_flag_terms(message, [f.name for f in dataclasses.fields(cls)])


def _add_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int_in(0, 2**32), default=42,
                   help="seeds everything before the model is built: same seed, data and threads -> same model "
                        "(default 42)")


def _add_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-col", action="append", dest="text_cols", default=None,
                   help="CSV/TSV/JSONL text column (repeat for several; they are joined with xxfld)")
    p.add_argument("--label-col", default=None, help="CSV/TSV/JSONL label column")
    p.add_argument("--label-delim", default=None, metavar="SEP",
                   help="multi-label: the labels of a CSV/TSV cell are split on SEP, e.g. ';' (a JSONL list is "
                        "read as a list without it)")
    p.add_argument("--on-missing", choices=("error", "drop"), default=None,
                   help="a CSV/TSV/JSONL row without a text or label value: error (default) or drop it with a warning")


def build_parser() -> argparse.ArgumentParser:
    from ulmfit.classifier import ClassifierConfig
    from ulmfit.language_model import LMFineTuneConfig, LMPretrainConfig
    from ulmfit.models import AWDLSTMConfig
    from ulmfit.predict_io import add_predict_arguments

    parser = argparse.ArgumentParser(
        prog="ulmfit", description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'ulmfit COMMAND --help' for a command's options, each with its default.")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="the whole ULMFiT pipeline on the shipped data, offline, in minutes")
    p.add_argument("--data", default=None, help="run on this data source instead of the shipped demo set")
    p.add_argument("--out", type=Path, default=Path("ulmfit-demo"), help="where to save the models")
    p.add_argument("--lm", default=None, help="pretrained LM name or folder (default: the shipped one)")
    p.add_argument("--quick", action="store_true", help="one epoch per stage (for smoke tests)")
    p.add_argument("--ensemble", action=argparse.BooleanOptionalAction, default=None,
                   help="also train from the LM's backward twin and average the classifiers of both (three seeds "
                        "each under 2,000 labelled texts: about four times the time of one classifier). "
                        "Default: on when the LM has a registered twin, as the shipped ulmfit-en-fwd has; "
                        "--no-ensemble trains the forward classifier only")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_deterministic_option(p)
    _add_seed(p)

    p = sub.add_parser("tokenize", help="tokenize a data source, one document per output line")
    p.add_argument("data", help="a CSV/TSV/JSONL/text file, a folder, a built-in name or hf:NAME")
    p.add_argument("--out", type=Path, required=True, help="the text file to write")
    p.add_argument("--split", default=None, help="only this split (default: all)")
    p.add_argument("--lang", default="en", help="spaCy language code (default: en)")
    p.add_argument("--n-workers", type=int_in(1), default=None,
                   help="tokenizer processes (default: all CPUs)")
    _add_source_options(p)

    p = sub.add_parser("pretrain", help="pretrain an AWD-LSTM language model on a corpus (from scratch, "
                                        "or more epochs of a model with --init)")
    p.add_argument("--data", required=True, help="corpus: folder of .txt files, a text file, or any source")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--run-dir", type=Path, default=None, help="metrics.csv and checkpoints (default OUT/run)")
    p.add_argument("--tokenizer", default="spacy", choices=["spacy", "sentencepiece"],
                   help="spacy (fastai's rules) or sentencepiece (trained on the corpus) (default: spacy)")
    p.add_argument("--lang", default=None, help="tokenizer language: a spaCy language code for --tokenizer spacy "
                                                 "(default: en)")
    p.add_argument("--sp-vocab-size", type=int_in(1), default=30000,
                   help="SentencePiece vocabulary size (default: 30000)")
    _config_options(p, AWDLSTMConfig, only=("emb_sz", "n_hid", "n_layers"))
    _config_options(p, LMPretrainConfig)
    p.add_argument("--checkpoint-every", type=int_in(1), default=500,
                   help="write RUN_DIR/checkpoint.pt every N steps and at each epoch end (default: 500)")
    p.add_argument("--half", action="store_true", help="store the weights as fp16 (half the size)")
    p.add_argument("--resume", type=Path, default=None, help="checkpoint to resume from")
    p.add_argument("--init", default=None, metavar="LM",
                   help="continue pretraining this model (registry name or folder) for --epochs more epochs: its "
                        "tokenizer, vocabulary, sizes and direction are kept")
    p.add_argument("--n-workers", type=int_in(1), default=None, help="tokenizer processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    add_deterministic_option(p)

    p = sub.add_parser("finetune-lm", help="fine-tune a pretrained LM on a target corpus (ULMFiT stage 2)")
    p.add_argument("--lm", default=None, help="registry name or folder (default: the shipped English LM)")
    p.add_argument("--data", required=True, help="a data source: its train (and unsup) texts")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    _config_options(p, LMFineTuneConfig)
    _add_training_options(p)

    p = sub.add_parser("train-classifier", help="train a ULMFiT classifier (ULMFiT stage 3)")
    p.add_argument("--lm", default=None, help="fine-tuned LM folder or registry name (default: shipped LM)")
    p.add_argument("--data", required=True, help="a labelled data source (its train split)")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--valid-split", default=None,
                   help="a labelled split of --data to validate on, e.g. valid (default: a seeded 10%% hold-out "
                        "of the training split; the test split is never used unless named here)")
    _config_options(p, ClassifierConfig)
    _add_training_options(p)

    p = sub.add_parser("lr-find", help="the learning-rate finder: plot loss against lr, suggestion marked")
    p.add_argument("--data", required=True, help="a data source (labelled for --for classifier)")
    p.add_argument("--for", dest="target", choices=("classifier", "finetune-lm"), default="classifier",
                   help="sweep the classifier's head-only stage or LM fine-tuning (default: classifier)")
    p.add_argument("--lm", default=None, help="LM folder or registry name (default: the shipped English LM)")
    p.add_argument("--out", type=Path, default=Path("lr_find.html"), help="the plot (default: lr_find.html)")
    p.add_argument("--start-lr", type=float, default=1e-7, help="first lr (default: 1e-07)")
    p.add_argument("--end-lr", type=float, default=10.0, help="last lr (default: 10)")
    p.add_argument("--num-it", type=int, default=100, help="steps of the sweep (default: 100)")
    p.add_argument("--bs", type=int_in(1), default=None, help="rows per batch (default: as training)")
    _add_seed(p)
    _add_source_options(p)

    p = sub.add_parser("predict", help="classify texts: arguments, lines of a file or stdin, or CSV/TSV/JSONL rows; "
                                        "write text, CSV/TSV or JSONL")
    add_predict_arguments(p)

    p = sub.add_parser("ensemble", help="combine saved classifiers (e.g. a forward and a backward one) into one "
                                        "folder that averages their probabilities")
    p.add_argument("models", type=Path, nargs="+", help="two or more classifier folders with the same classes")
    p.add_argument("--out", type=Path, required=True, help="the ensemble folder to write")
    p.add_argument("--data", default=None, help="a labelled data source to score the ensemble and its members "
                                                "on (its --split), for report.html")
    p.add_argument("--split", default="valid", help="the split of --data to score on (default: valid)")
    _add_source_options(p)

    p = sub.add_parser("evaluate", help="metrics of a classifier on a labelled data source")
    p.add_argument("model", type=Path, help="a classifier or ensemble folder")
    p.add_argument("--data", required=True, help="labelled data: a CSV/TSV/JSONL file, a folder, a built-in name "
                                                 "or hf:NAME")
    p.add_argument("--split", default="test",
                   help="the split of --data to score (default: test). A single file is one split named after it "
                        "(reviews.csv: train, test.csv: test), so score a whole file with --split train")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    _add_source_options(p)
    allow_debug_anywhere(sub)
    return parser


def _source_kwargs(args) -> dict:
    kwargs = {}
    if getattr(args, "text_cols", None):
        kwargs["text_cols"] = args.text_cols
    if getattr(args, "label_col", None):
        kwargs["label_col"] = args.label_col
    if getattr(args, "on_missing", None):
        kwargs["on_missing"] = args.on_missing
    if getattr(args, "label_delim", None):
        kwargs["label_delim"] = args.label_delim
    return kwargs


def _spacy_tokenizer(lang: str):
    """The spaCy tokenizer for ``--lang``, built before any work; a code spaCy lacks is named as the flag."""
    from ulmfit.text import Tokenizer

    try:
        return Tokenizer(lang=lang)
    except ValueError as err:
        raise UsageError(re.sub(r"^lang=", "--lang ", str(err))) from None


def _cmd_tokenize(args) -> None:
    from ulmfit.data import load_source

    tok = _spacy_tokenizer(args.lang)
    splits = load_source(args.data, **_source_kwargs(args))
    names = [args.split] if args.split else sorted(splits)
    for name in names:
        if name not in splits:
            raise UsageError(f"--split {name!r}: not in {args.data} (found {sorted(splits)})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(args.out, "w", encoding="utf-8") as f:
        for name in names:
            for tokens in tok.tokenize(splits[name].texts, n_workers=args.n_workers):
                f.write(" ".join(tokens) + "\n")
                n += 1
    print(f"wrote {args.out} ({n} document{'s' if n != 1 else ''})")
    if n == 0:
        from ulmfit.user_warning import warn

        warn(f"{args.data} holds no texts: {args.out} is empty")


def _corpus_texts(data: str, **kwargs) -> list[str]:
    from ulmfit.data import load_source

    splits = load_source(data, **kwargs)
    by_name = {name.lower(): split for name, split in splits.items()}
    texts = [t for name in ("train", "unsup", "text") if name in by_name for t in by_name[name].texts]
    if not texts:  # a corpus folder may come back under another split name (valid/, dev/); never test/
        texts = [t for name, split in splits.items() if name.lower() != "test" for t in split.texts]
    if not any(split.texts for split in splits.values()):
        raise UsageError(f"{data} holds no texts (a header without rows, or empty files?)")
    if not texts:
        raise UsageError(f"{data} has no texts to train on outside its test split (found splits {sorted(splits)}); "
                         "the test split is never used for training: put the training texts in a train/ folder")
    return texts


def _cmd_pretrain(args) -> None:
    from ulmfit.language_model import LanguageModel, LMPretrainConfig
    from ulmfit.models import AWDLSTMConfig
    from ulmfit.text import SentencePieceTokenizer

    try:  # bad values fail before any work, named by their flags
        arch = AWDLSTMConfig(**config_overrides(args, AWDLSTMConfig))
    except ValueError as err:
        raise UsageError(re.sub(r"AWDLSTMConfig\.(\w+)", lambda m: f"--{m[1].replace('_', '-')}", str(err))) from None
    init = None
    if args.init is None and args.init_vocab not in (None, "keep"):
        raise UsageError(f"--init-vocab {args.init_vocab} extends the vocabulary of the model given by --init: "
                         "add --init LM or leave --init-vocab out")
    if args.init is not None:
        extend = args.init_vocab == "extend"  # then --max-vocab / --min-freq say how far it grows
        given = [flag for flag, value in (("--emb-sz", args.emb_sz), ("--n-hid", args.n_hid),
                                          ("--n-layers", args.n_layers), ("--max-vocab", None if extend else
                                                                          args.max_vocab),
                                          ("--min-freq", None if extend else args.min_freq)) if value is not None]
        given += ["--tokenizer sentencepiece"] if args.tokenizer == "sentencepiece" else []
        given += ["--lang"] if args.lang is not None else []
        if given:
            raise UsageError(f"--init {args.init} keeps that model's tokenizer, vocabulary and sizes: leave out "
                             f"{', '.join(given)}" + (" (--init-vocab extend grows the vocabulary up to --max-vocab "
                                                      "tokens of at least --min-freq occurrences)"
                                                      if {"--max-vocab", "--min-freq"} & set(given) else ""))
        init = LanguageModel.from_pretrained(args.init)
        if args.backwards is None:
            args.backwards = init.backwards  # continued in the model's own direction
        elif args.backwards != init.backwards:
            raise UsageError(f"--init {args.init} is a {'backward' if init.backwards else 'forward'} model: "
                             f"leave out --{'no-' if init.backwards else ''}backwards")
    config = _checked_config(args, LMPretrainConfig)
    if args.resume is not None and not args.resume.is_file():
        raise UsageError(f"--resume {args.resume}: no such checkpoint file (a run writes RUN_DIR/checkpoint.pt)")
    lang = args.lang or "en"
    spacy_tokenizer = _spacy_tokenizer(lang) if init is None and args.tokenizer == "spacy" else None
    texts = _corpus_texts(args.data)
    from ulmfit.train.distributed import is_main_process

    if is_main_process():
        print(f"corpus {args.data}: {len(texts)} documents", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    if init is not None:
        tokenizer, arch = None, None
    elif args.tokenizer == "sentencepiece":
        try:
            tokenizer = SentencePieceTokenizer.train(texts, vocab_size=args.sp_vocab_size, out_dir=args.out, lang=lang)
        except ValueError as err:  # "vocab_size=N is too large ...": the flag, and no Python-only advice
            message = re.sub(r", add text, or pass hard_vocab_limit=False.*$", " or add text.", str(err))
            message = message.replace(" or lower character_coverage", "")
            raise UsageError(re.sub(r"\bvocab_size=?", "--sp-vocab-size ", message).replace("  ", " ")) from None
    else:
        tokenizer = spacy_tokenizer
    run_dir = args.run_dir or args.out / "run"
    lm = LanguageModel.pretrain(texts, tokenizer=tokenizer, arch=arch, config=config, path=run_dir,
                                progress=not args.quiet, resume=args.resume, n_workers=args.n_workers,
                                checkpoint_every=args.checkpoint_every, init=init)
    if is_main_process():
        lm.save(args.out, half=args.half)
        metrics = lm.meta["history"][-1]["metrics"]
        perplexity, accuracy = metrics.get("perplexity", math.nan), metrics.get("accuracy", math.nan)
        if math.isnan(perplexity):
            print(f"saved {args.out} (no validation: --valid-pct 0 holds no documents out)")
        else:
            print(f"saved {args.out}: validation perplexity {perplexity:.2f}, accuracy {accuracy:.4f}")


def _cmd_finetune_lm(args) -> None:
    from ulmfit.hub.registry import DEFAULT
    from ulmfit.language_model import LanguageModel, LMFineTuneConfig

    config = _checked_config(args, LMFineTuneConfig)
    lm = LanguageModel.from_pretrained(args.lm or DEFAULT)
    texts = _corpus_texts(args.data, **_source_kwargs(args))
    metrics = lm.fine_tune(texts, path=args.run_dir, progress=not args.quiet, config=config)
    from ulmfit.train.distributed import is_main_process

    if is_main_process():
        lm.save(args.out)
        print(f"saved {args.out}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))


def _train_valid(data: str, valid_split: str | None, **kwargs):
    from ulmfit.data import load_source

    splits = load_source(data, **kwargs)
    if "train" in splits and not splits["train"].texts:
        raise UsageError(f"{data} holds no training texts (an empty file, or a header without rows?)")
    if "train" in splits and splits["train"].labels is None:
        raise UsageError(f"{data}: its training texts have no labels. A CSV, TSV or JSONL file needs a 'label' "
                         "column (--label-col NAME names another); a folder needs one sub-folder per class "
                         "(train/pos/, train/neg/)")
    if "train" not in splits:
        raise UsageError(f"{data} has no labelled 'train' split (found {sorted(splits)})")
    valid = None  # None: TextClassifier holds out valid_pct of the training split
    if valid_split is not None:
        if valid_split not in splits or splits[valid_split].labels is None:
            raise UsageError(f"--valid-split {valid_split!r}: {data} has no such labelled split "
                             f"(found {sorted(splits)})")
        valid = (splits[valid_split].texts, splits[valid_split].labels)
    return splits, splits["train"], valid


def _cmd_train_classifier(args) -> None:
    from ulmfit.classifier import ClassifierConfig, HoldoutLabelError, TextClassifier

    config = _checked_config(args, ClassifierConfig)
    _, train, valid = _train_valid(args.data, args.valid_split, **_source_kwargs(args))
    if config.multi_label and not args.label_delim:  # a JSONL list is a list already; a cell is one string
        joined = next((y for y in train.labels if isinstance(y, str) and any(sep in y for sep in ";,|")), None)
        if joined is not None:
            sep = next(sep for sep in ";,|" if sep in joined)
            raise UsageError(f"{args.data}: --multi-label reads each label cell as one label, and {joined!r} looks "
                             f"like several: add --label-delim '{sep}' to split them")
    if not config.multi_label and len({str(y) for y in train.labels}) < 2:
        raise UsageError(f"{args.data}: all {len(train.labels)} training texts have the label {train.labels[0]!r}; "
                         "a classifier needs at least 2 (--label-col names the label column of a CSV/TSV/JSONL file)")
    try:
        clf = TextClassifier.train(train.texts, train.labels, lm=args.lm, valid=valid, path=args.run_dir,
                                   progress=not args.quiet, config=config)
    except HoldoutLabelError as err:  # the training split's texts, held out by --valid-pct
        message = (_flag_terms(str(err), ClassifierConfig).replace("lower valid_pct", "lower --valid-pct")
                   .replace("valid=(texts, labels)", "--valid-split NAME"))
        raise UsageError(f"{args.data}: {message}") from None
    except ValueError as err:  # e.g. stage_epochs= longer than the default stage_lr_mults: say it with the flags
        message = _flag_terms(str(err), ClassifierConfig)
        if message == str(err):
            raise
        raise UsageError(message) from None
    from ulmfit.train.distributed import is_main_process

    if not is_main_process():  # under torchrun: every rank trained in step, rank 0 saves and reports
        return
    clf.save(args.out)
    record = clf.meta["history"][-1]
    if record["valid"]:
        where = f"split {args.valid_split!r}" if args.valid_split else record["valid_source"]
        n = (clf.evaluation or {}).get("n")
        print(f"validation ({where}{f', {n} texts' if n else ''}): "
              + ", ".join(f"{k} {v:.4f}" for k, v in record["valid"].items()))
    else:
        print("no validation: --valid-pct 0 holds no texts out (--valid-split NAME validates on a split of --data)")
    from ulmfit.cli_prog import runnable

    print(f"saved {args.out} (metrics.csv, report.html)\npredict with: {runnable()} predict {args.out} \"some text\"")


def _cmd_predict(args) -> None:
    from ulmfit.classifier import load_classifier
    from ulmfit.predict_io import run_predict

    run_predict(args, load_classifier(args.model))


def _cmd_lr_find(args) -> None:
    from ulmfit.classifier import TextClassifier
    from ulmfit.hub.registry import DEFAULT
    from ulmfit.language_model import LanguageModel

    if not 0 < args.start_lr < args.end_lr:
        raise UsageError(f"--start-lr {args.start_lr:g} --end-lr {args.end_lr:g}: need 0 < start < end")
    if args.num_it < 2:
        raise UsageError(f"--num-it {args.num_it}: need at least 2 steps")
    sweep = dict(start_lr=args.start_lr, end_lr=args.end_lr, num_it=args.num_it, plot=args.out, seed=args.seed,
                 **({"bs": args.bs} if args.bs else {}))
    if args.target == "classifier":
        _, train, _ = _train_valid(args.data, None, **_source_kwargs(args))
        result = TextClassifier.lr_find(train.texts, train.labels, lm=args.lm, **sweep)
    else:
        lm = LanguageModel.from_pretrained(args.lm or DEFAULT)
        result = lm.lr_find(_corpus_texts(args.data, **_source_kwargs(args)), **sweep)
    print(f"{lr_find_summary(result)}\nplot: {args.out}")


def lr_find_summary(result) -> str:
    """What ``lr-find`` prints: both suggestions, and a caution when they are over 100x apart (a noisy curve)."""
    line = (f"suggested lr {result.suggestion:.2e} (steepest descent); min-loss lr / 10: {result.lr_min:.2e}; "
            f"{len(result.lrs)} steps")
    ratio = max(result.lr_min, result.suggestion) / min(result.lr_min, result.suggestion)
    if ratio > 100:
        line += (f"\nthe two suggestions are {ratio:.0f}x apart: the loss curve is noisy (a small data set or few "
                 "steps: try --num-it or more data), so read the plot before choosing")
    return line


def _cmd_evaluate(args) -> None:
    from ulmfit.classifier import load_classifier
    from ulmfit.data import load_source

    clf = load_classifier(args.model)
    splits = load_source(args.data, **_source_kwargs(args))
    if args.split not in splits or splits[args.split].labels is None:
        raise UsageError(f"{args.data} has no labelled split {args.split!r} (found {sorted(splits)}); choose one "
                         "with --split")
    try:
        metrics = clf.evaluate(splits[args.split].texts, splits[args.split].labels)
    except ValueError as err:  # e.g. a label the classifier does not know: say which data it came from
        raise UsageError(f"--data {args.data}, split {args.split!r}: {err}") from None
    if args.json:
        print(dumps_json(metrics, indent=2))
        return
    print(format_metrics(metrics))


def _cmd_ensemble(args) -> None:
    from ulmfit.classifier import ClassifierEnsemble, TextClassifier, load_classifier
    from ulmfit.cli_prog import runnable

    if len(args.models) < 2:
        raise UsageError(f"ulmfit ensemble needs two or more classifier folders; got {len(args.models)}")
    members = []
    seen: dict[Path, str] = {}
    for folder in args.models:
        key = Path(folder).resolve()
        if key in seen:
            also = "" if seen[key] == folder else f" (as {seen[key]} too)"
            raise UsageError(f"{folder} is given twice{also}: each member of an ensemble is a different classifier")
        seen[key] = folder
    for folder in args.models:
        model = load_classifier(folder)
        if not isinstance(model, TextClassifier):
            raise UsageError(f"{folder} is an ensemble already; pass its member folders ({folder}/member-0, ...)")
        members.append(model)
    for folder, model in zip(args.models[1:], members[1:]):
        if model.classes != members[0].classes or model.multi_label != members[0].multi_label:
            raise UsageError(f"{folder} predicts {model.classes}, {args.models[0]} {members[0].classes}: "
                             "the members of an ensemble must share their classes")
    valid = None
    if args.data is not None:
        from ulmfit.data import load_source

        splits = load_source(args.data, **_source_kwargs(args))
        if args.split not in splits or splits[args.split].labels is None:
            raise UsageError(f"--data {args.data} has no labelled split {args.split!r} (found {sorted(splits)}); "
                             "choose one with --split")
        valid = (splits[args.split].texts, splits[args.split].labels)
    ens = ClassifierEnsemble(members, valid=valid)
    ens.save(args.out)
    if ens.evaluation is not None:
        for folder, score in zip(args.models, ens.member_evaluations):
            print(f"{folder}: accuracy {score.get('accuracy', score.get('subset_accuracy', 0)):.4f}")
        print(f"ensemble on {args.split}:")
        print(format_metrics(ens.evaluation))
    print(f"saved {args.out} (report.html)\npredict with: {runnable()} predict {args.out} \"some text\"")


def _finite_or_none(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


def dumps_json(obj, **kwargs) -> str:
    """Strict JSON: a NaN or infinite number is written as null (``NaN`` is not JSON)."""
    return json.dumps(_finite_or_none(obj), allow_nan=False, **kwargs)


_MODEL_OUT = ("train-classifier", "finetune-lm", "ensemble", "pretrain")
_FILE_OUT = {"lr-find": "the plot", "tokenize": "the tokenized text"}


def check_outputs(args) -> None:
    """Refuse an ``--out`` / ``--run-dir`` the command could not write, before any work (training included):
    a model folder must be new, empty or a saved model's (:func:`~ulmfit.hub.model_folder.check_output_folder`),
    a file output must not be a folder."""
    from ulmfit.hub.model_folder import check_no_file_above, check_output_folder

    command = args.command
    if command in _MODEL_OUT:
        from ulmfit.language_model import PRETRAIN_LEFTOVERS

        check_output_folder(args.out, "--out", own=PRETRAIN_LEFTOVERS if command == "pretrain" else ())
    elif command == "demo":
        from ulmfit.demo import check_demo_out

        check_demo_out(args.out, "--out")
    elif command in _FILE_OUT:
        if args.out.is_dir():
            raise UsageError(f"--out {str(args.out)!r} is a folder; give the path of a file for {_FILE_OUT[command]}")
        check_no_file_above(args.out, "--out")
    run_dir = getattr(args, "run_dir", None)
    if run_dir is not None:
        if run_dir.exists() and not run_dir.is_dir():
            raise UsageError(f"--run-dir {str(run_dir)!r} is a file; the run's metrics and checkpoints go in a folder")
        check_no_file_above(run_dir, "--run-dir")


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``ulmfit``; a user error prints one line and exits with status 2 (``--debug``: the
    traceback)."""
    args = build_parser().parse_args(argv)
    commands = {"tokenize": _cmd_tokenize, "pretrain": _cmd_pretrain, "finetune-lm": _cmd_finetune_lm,
                "train-classifier": _cmd_train_classifier, "lr-find": _cmd_lr_find,
                "predict": _cmd_predict, "ensemble": _cmd_ensemble, "evaluate": _cmd_evaluate}

    def run() -> None:
        check_outputs(args)
        if args.command == "demo":
            from ulmfit.demo import run_demo

            run_demo(data=args.data, out=args.out, lm=args.lm, quick=args.quick, progress=not args.quiet,
                     ensemble=args.ensemble,
                     seed=args.seed)
        else:
            commands[args.command](args)

    prepare_process(args, training=args.command in ("demo", "pretrain", "finetune-lm", "train-classifier",
                                                     "lr-find"))
    status = run_command("ulmfit", args.command, run, debug=args.debug)
    if status:
        raise SystemExit(status)

if __name__ == "__main__":
    main()
