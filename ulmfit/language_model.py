"""``LanguageModel``: an AWD-LSTM language model with its vocabulary and tokenizer.

    lm = LanguageModel.from_pretrained(pretrained.DEFAULT)     # or a saved folder
    lm.fine_tune(texts)                                        # ULMFiT stage 2 on the target corpus
    lm.perplexity(texts); lm.generate("The movie", n_words=20); lm.save("my_lm")

The object is a thin, explicit bundle: ``lm.model`` (the ``nn.Module``), ``lm.vocab``, ``lm.tokenizer``,
``lm.config`` (the architecture) and ``lm.meta`` (direction, training history, metrics).
"""

from __future__ import annotations

import copy
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ulmfit.config_checks import (
    DEVICE,
    FRACTION,
    INT_GE0,
    INT_GE1,
    MOMS,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    check_config,
    one_of,
    optional,
    with_overrides,
)
from ulmfit.hub.model_folder import (
    build_checked,
    check_output_folder,
    folder_path,
    load_state,
    read_config,
    save_state,
    write_config,
    write_json,
    write_manifest,
)
from ulmfit.saved_model import (
    SavedModel,
    duration,
    jsonable,
    read_arch,
    read_tokenizer,
    read_vocab,
    saved_files,
    workers_for,
    write_run_record,
)
from ulmfit.train.precision import AUTO, PRECISIONS, check_precision, resolve_precision
from ulmfit.train.training_log import Stage, TrainingLog

__all__ = ["LanguageModel", "LMFineTuneConfig", "LMPretrainConfig", "auto_min_freq"]

SCHEDULES = ("one_cycle", "stlr")


@dataclass
class LMFineTuneConfig:
    """ULMFiT stage 2 (LM fine-tuning) settings. ``None`` means "chosen from the corpus size"."""

    frozen_epochs: int = 1            # epochs with only the embeddings / decoder trainable (fastai: 1)
    frozen_lr: float = 2e-2           # max lr of the frozen epochs (fastbook: fit_one_cycle(1, 2e-2))
    epochs: int | None = None         # unfrozen epochs; None: from corpus size (fastai's IMDb recipe: 10)
    lr: float = 2e-3                  # unfrozen max lr (fastbook 2e-3), one-cycle
    lr_decay: float = 2.6             # discriminative lrs: each lower layer group gets lr / 2.6 (1: none)
    bs: int | None = None             # rows per batch; None: 64, fewer for small corpora (enough steps/epoch)
    bptt: int = 72                    # tokens per row and step (truncated backpropagation through time)
    drop_mult: float = 0.3            # scales every dropout (fastai tutorial; learner default 1.0)
    wd: float = 0.1                   # decoupled weight decay (fastai tutorial LM wd)
    moms: tuple[float, float, float] = (0.8, 0.7, 0.8)  # Adam beta1 cycle of one-cycle (start, middle, end)
    schedule: str = "one_cycle"       # one_cycle, or stlr (ULMFiT paper: cut_frac 0.1, ratio 32)
    vocab: str = "extend"             # extend: keep the LM's vocab, add new frequent tokens; keep; target
    min_freq: int | None = None       # new tokens need this many occurrences; None: by corpus size (1 or 3)
    max_vocab: int = 60000            # vocabulary size cap
    valid_pct: float = 0.1            # seeded hold-out of the texts for validation perplexity
    precision: str = "fp32"           # fp32, bf16 (CPU or GPU), fp16 (GPU, dynamic loss scaling)
    clip: float | None = None         # max gradient norm; None: no clipping
    seed: int = 42                    # seeds everything before the model is rebuilt
    device: str | None = None         # cpu, cuda or cuda:N; None: cuda when available, else cpu

    def __post_init__(self) -> None:
        check_config(self, {
            "frozen_epochs": INT_GE0, "frozen_lr": POSITIVE, "epochs": optional(INT_GE0), "lr": POSITIVE,
            "lr_decay": POSITIVE, "bs": optional(INT_GE1), "bptt": INT_GE1, "drop_mult": NON_NEGATIVE,
            "wd": NON_NEGATIVE, "moms": MOMS, "schedule": one_of(*SCHEDULES),
            "vocab": one_of("extend", "keep", "target"), "min_freq": optional(INT_GE1), "max_vocab": INT_GE1,
            "valid_pct": FRACTION, "precision": one_of(*PRECISIONS), "clip": optional(POSITIVE), "seed": SEED,
            "device": DEVICE})
        if self.frozen_epochs == 0 and self.epochs == 0:
            raise ValueError("frozen_epochs=0 and epochs=0 would train nothing: give at least one epoch, or leave "
                             "the epochs out to have them chosen from the corpus size")


@dataclass
class LMPretrainConfig:
    """Pretraining from scratch (``ulmfit pretrain``)."""

    epochs: int = 3                   # one-cycle epochs
    lr: float = 5e-3                  # max lr
    bs: int = 64                      # rows per batch
    bptt: int = 72                    # tokens per row and step
    max_vocab: int = 60000            # vocabulary size cap
    min_freq: int = 3                 # a token needs this many occurrences to enter the vocabulary
    init_vocab: str = "keep"          # continuing a model (init): keep its vocabulary, or extend it
    valid_pct: float = 0.05           # seeded hold-out of the documents for validation perplexity
    wd: float = 0.1                   # decoupled weight decay
    moms: tuple[float, float, float] = (0.8, 0.7, 0.8)  # Adam beta1 cycle (start, middle, end)
    drop_mult: float = 1.0            # scales every dropout of the LM preset
    precision: str = "auto"           # auto (bf16 on GPUs and AMX CPUs, else fp32/fp16), fp32, bf16, fp16 (GPU)
    clip: float | None = None         # max gradient norm; None: no clipping
    seed: int = 42                    # seeds everything before the model is built
    device: str | None = None         # cpu, cuda or cuda:N; None: cuda when available, else cpu
    backwards: bool = False           # train on reversed text (the bwd half of a fwd + bwd ensemble)
    softmax: str = "sampled"          # training loss: sampled (batch targets + drawn words; ~2x faster) or full
    n_samples: int = 1024             # words drawn per step for the sampled softmax (validation is always full)

    def __post_init__(self) -> None:
        check_config(self, {
            "softmax": one_of("sampled", "full"), "n_samples": INT_GE1,
            "epochs": INT_GE1, "lr": POSITIVE, "bs": INT_GE1, "bptt": INT_GE1, "max_vocab": INT_GE1,
            "min_freq": INT_GE1, "init_vocab": one_of("keep", "extend"), "valid_pct": FRACTION,
            "wd": NON_NEGATIVE, "moms": MOMS, "drop_mult": NON_NEGATIVE, "precision": one_of(AUTO, *PRECISIONS),
            "clip": optional(POSITIVE), "seed": SEED, "backwards": one_of(True, False), "device": DEVICE})


# what `ulmfit pretrain` writes into its --out folder before the model: the default run folder (checkpoints,
# metrics) and a SentencePiece model trained there (with its piece list)
PRETRAIN_LEFTOVERS = ("run", "spm.model", "spm.vocab")
EVAL_BS = 16  # rows of evaluate() and of the training loops' validation (one perplexity definition)


def _auto_epochs(n_tokens: int) -> int:
    """Unfrozen LM fine-tuning epochs by corpus size: small corpora need more passes."""
    if n_tokens < 200_000:
        return 6
    if n_tokens < 2_000_000:
        return 4
    return 3


def auto_min_freq(n_texts: int) -> int:
    """Occurrences a token needs in the fine-tuning texts to get its own row, by the number of texts.

    fastai's 3 from 2,000 texts on. Below that the words that decide a text are often seen once or twice
    (MR's first 1,000 sentences: most hold-out sentences hold a word the pretrained vocabulary lacks), so
    every token of the texts gets a row (1). Chosen on the hold-out halves only, with the LM fine-tuned on the
    training part alone so that the halves are as unseen as a test split (``tune_classifier_recipe.py``'s
    default protocol since then, seeds 42-44, see docs/BENCHMARKS.md, ninth round): the default ensemble on MR-1000
    went from 68.00 to 69.67 %, the demo's stayed at 77.43 %, and every group of single classifiers gained
    (+0.7 to +1.7 points). From 2,000 texts the two tasks measured disagreed on 1 (MR +0.5, TREC-6 -0.2 points).
    """
    return 1 if n_texts < 2000 else 3


def _auto_bs(n_tokens: int, bptt: int, target_batches: int = 40) -> int:
    """Rows per batch: 64, reduced (down to 8) so that one epoch has at least ``target_batches`` batches."""
    bs = 64
    while bs > 8 and n_tokens // (bs * bptt) < target_batches:
        bs //= 2
    return bs


class LanguageModel(SavedModel):
    """An AWD-LSTM language model bundled with its vocabulary and tokenizer."""

    kind = "language_model"

    def __init__(self, model: torch.nn.Module, vocab, tokenizer, config, meta: dict[str, Any] | None = None):
        super().__init__(model, vocab, tokenizer, meta)
        self.config = config

    # ------------------------------------------------------------------ construction and persistence

    @classmethod
    def from_scratch(cls, vocab, tokenizer, config=None, backwards: bool = False) -> LanguageModel:
        """A randomly initialised model for ``vocab`` (``config``: an ``AWDLSTMConfig``, default LM preset)."""
        from ulmfit.models import AWDLSTMConfig, build_language_model

        config = config or AWDLSTMConfig()
        return cls(build_language_model(len(vocab), config), vocab, tokenizer, config, {"backwards": backwards})

    @classmethod
    def from_pretrained(cls, name_or_dir: str | Path, *, config=None, tokenizer=None) -> LanguageModel:
        """The one loader: a registry name (``pretrained.list_models()``), a folder written by :meth:`save`,
        or a fastai folder (``*.pth`` + ``*.pkl``).

        A registry name wins over a folder of the same spelling: pass ``"./NAME"`` for the folder.
        ``config`` (an ``AWDLSTMConfig``) sets the dropouts; the sizes always come from the weights (for a
        registered fastai entry it defaults to the entry's architecture). ``tokenizer`` replaces the saved
        tokenizer (fastai folders default to the spaCy tokenizer with fastai's rules).
        """
        from ulmfit.hub import registry

        folder = registry.locate(name_or_dir)
        entry = registry.get_entry(name_or_dir) if registry.is_registered(name_or_dir) else None
        is_fastai = entry.format == "fastai" if entry is not None else registry.is_fastai_folder(folder)
        if is_fastai:
            weights, vocab = registry.fastai_files(folder)
            if config is None and entry is not None and entry.arch:
                from ulmfit.models import AWDLSTMConfig

                config = AWDLSTMConfig.from_dict(dict(entry.arch))
            lm = cls.from_fastai(weights, vocab, config=config, tokenizer=tokenizer)
        else:
            if not (folder / "model.pt").is_file():
                from ulmfit.hub.model_folder import ModelFolderError

                raise ModelFolderError(
                    f"{folder} is not a saved model folder (no model.pt; expected "
                    f"{', '.join(registry.ULMFIT_FOLDER_FILES)}) nor a fastai model folder (*.pth + *.pkl)")
            lm = cls.load(folder, config=config, tokenizer=tokenizer)
        return lm

    @classmethod
    def load(cls, folder: str | Path, *, config=None, tokenizer=None) -> LanguageModel:
        """A folder written by :meth:`save` (``config``/``tokenizer`` as in :meth:`from_pretrained`)."""
        from ulmfit.models import build_language_model

        folder = folder_path(folder)
        saved = read_config(folder, cls.kind)
        arch = read_arch(saved, folder)
        if config is not None:
            arch = replace(config, emb_sz=arch.emb_sz, n_hid=arch.n_hid, n_layers=arch.n_layers,
                           pad_token=arch.pad_token)
        vocab = read_vocab(folder)
        if tokenizer is None:
            tokenizer = read_tokenizer(folder)
        model = build_checked(lambda: build_language_model(len(vocab), arch), load_state(folder), folder)
        model.eval()
        return cls(model, vocab, tokenizer, arch, saved.get("meta", {}))

    def save(self, folder: str | Path, half: bool = False) -> Path:
        """Write the model folder (weights, config, vocab, tokenizer spec). ``half``: fp16 weights.

        ``folder``: a new or empty folder, or a saved model's folder, which is replaced (see
        :func:`~ulmfit.hub.model_folder.check_output_folder`); ``ulmfit pretrain``'s own ``run/`` checkpoints and
        SentencePiece model may be there already."""
        if not isinstance(half, bool):
            raise TypeError(f"save: half must be True or False, got {half!r}")
        folder = check_output_folder(folder, own=PRETRAIN_LEFTOVERS)
        folder.mkdir(parents=True, exist_ok=True)
        save_state(folder, self.model.state_dict(), half=half)
        write_config(folder, self.kind, {"arch": self.config.to_dict(), "meta": self.meta})
        self.vocab.save(folder / "vocab.json")
        spec = self.tokenizer.to_dict(folder)
        write_json(folder / "tokenizer.json", spec)
        record = write_run_record(folder, self, **self._report_parts()) if self.training_log else []
        write_manifest(folder, saved_files(spec, "model.pt", "config.json", "vocab.json", "tokenizer.json", *record))
        return folder

    def _report_parts(self) -> dict:
        """Title, configuration, data sizes and headline figures of the last training call, for report.html."""
        hist = (self.meta.get("history") or [{}])[-1]
        metrics = hist.get("metrics") or {}
        what = "pretraining" if hist.get("stage") == "pretrain" else "fine-tuning"
        data = {"train documents": hist.get("train_documents"), "train tokens": hist.get("train_tokens"),
                "validation documents": hist.get("valid_documents"), "validation tokens": hist.get("valid_tokens"),
                "validation": hist.get("valid_source"), "vocabulary": len(self.vocab),
                "direction": "backward" if self.backwards else "forward"}
        if "parent" in self.meta:
            data["parent model"] = self.meta["parent"].get("name") or self.meta["parent"].get("source")
        summary = {"validation perplexity": metrics.get("perplexity"), "next-token accuracy": metrics.get("accuracy")}
        summary["training time"] = duration(hist.get("seconds", 0))
        config = {**hist.get("config", {}), "arch": self.config.to_dict()}
        return {"title": f"ULMFiT language model: {what}", "config": config, "data": data, "summary": summary}

    def export_fastai(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``lm.pth`` (fastai v2 LM state dict layout) and ``lm_vocab.pkl`` (list of str) into ``folder``;
        a backward model writes ``lm_bwd.pth``, the file-name convention fastai's own backward weights follow
        (``bwd`` in the name), which :meth:`from_fastai` reads back.

        fastai's ``learn.load_pretrained(wgts_fname, vocab_fname)`` accepts the pair.
        """
        from pretrained.fastai_io import save_fastai_vocab, to_fastai_state_dict
        from ulmfit.hub.model_folder import ModelFolderError, check_no_file_above

        folder = folder_path(folder)
        if folder.exists() and not folder.is_dir():
            raise ModelFolderError(f"folder {str(folder)!r} is a file; export_fastai writes two files into a folder")
        check_no_file_above(folder, "folder")
        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / ("lm_bwd.pth" if self.backwards else "lm.pth")
        vocab_path = folder / "lm_vocab.pkl"
        torch.save(to_fastai_state_dict(self.model.state_dict()), weights)
        save_fastai_vocab(list(self.vocab.itos), vocab_path)
        return weights, vocab_path

    @classmethod
    def from_fastai(cls, weights_pth: str | Path, vocab_pkl: str | Path, config=None,
                    tokenizer=None, backwards: bool | None = None) -> LanguageModel:
        """Load a fastai v1/v2 AWD-LSTM LM (``lstm_fwd.pth`` + ``itos_wt103.pkl``); the pickle is read safely.

        ``backwards``: whether the model reads text right to left; None: backward when ``config.backwards`` is
        set or the file name contains ``bwd`` (as fastai's ``bwd_wt103.pth`` and :meth:`export_fastai`'s
        ``lm_bwd.pth`` do).
        """
        from pretrained.fastai_io import (
            config_from_fastai_state_dict,
            from_fastai_state_dict,
            load_fastai_vocab,
            read_fastai_weights,
        )
        from ulmfit.models import build_language_model
        from ulmfit.text import Tokenizer, Vocab

        itos = load_fastai_vocab(vocab_pkl)
        state = from_fastai_state_dict(read_fastai_weights(weights_pth))
        n_rows = state["encoder.embedding.weight"].shape[0]
        if n_rows != len(itos):
            raise ValueError(f"{weights_pth} has {n_rows} embedding rows but {vocab_pkl} lists {len(itos)} "
                             "tokens: the two files do not belong together")
        # sizes (emb_sz, n_hid, n_layers) always come from the weights; dropouts from ``config`` or the LM preset
        sizes = config_from_fastai_state_dict(state)
        if config is not None:
            config = replace(config, emb_sz=sizes.emb_sz, n_hid=sizes.n_hid, n_layers=sizes.n_layers)
        else:
            config = sizes
        vocab = Vocab.from_itos(itos)
        model = build_language_model(len(vocab), config)
        _load_weights(model, state, Path(weights_pth))
        model.eval()
        if backwards is None:
            backwards = bool(config.backwards) or "bwd" in Path(weights_pth).name
        config = replace(config, backwards=bool(backwards))
        return cls(model, vocab, tokenizer or Tokenizer(), config,
                   {"backwards": bool(backwards), "source": f"fastai:{Path(weights_pth).name}"})

    # ------------------------------------------------------------------ training
    def _learner(self, train_ids, valid_ids, bs: int, bptt: int, *, wd, moms, precision, clip, seed, path,
                 progress, callbacks=(), n_samples: int | None = None, device: str | None = None):
        from ulmfit.data import LMLoader
        from ulmfit.models import LMLoss
        from ulmfit.models.sampled_softmax import unigram_proposal
        from ulmfit.train import Learner, RNNRegularizer, accuracy, perplexity
        from ulmfit.train.distributed import setup_distributed

        setup_distributed()  # under torchrun the loaders below read rank / world size: start the group first
        train_dl = LMLoader(train_ids, bs=bs, bptt=bptt, shuffle=True, seed=seed, vocab_size=len(self.vocab))
        valid_dl = None
        if valid_ids:  # laid out as evaluate() lays it out, whole on every rank under torchrun too: the epoch
            # lines, the saved figure and evaluate() on the same texts agree
            valid_dl = LMLoader(valid_ids, bs=min(EVAL_BS, _max_rows(valid_ids, bptt)), bptt=bptt,
                                vocab_size=len(self.vocab), rank=0, world_size=1)
        self.model.chunked_softmax = True  # no (B, T, V) logits in training steps; LMLoss applies the decoder
        proposal = None
        if n_samples is not None:  # sampled softmax: negatives drawn by training unigram counts ** 0.75
            counts = np.bincount(np.concatenate([np.asarray(a, dtype=np.int64) for a in train_ids]),
                                 minlength=len(self.vocab))
            proposal = unigram_proposal(torch.from_numpy(counts))
        loss = LMLoss(self.model, n_samples=n_samples, proposal=proposal)
        return Learner(self.model, train_dl, valid_dl, loss_func=loss, metrics=[accuracy, perplexity], wd=wd,
                       moms=moms, precision=precision, clip=clip, path=path, progress=progress, seed=seed,
                       device=device, callbacks=[RNNRegularizer(alpha=2.0, beta=1.0), *callbacks])

    def fine_tune(self, texts_or_source: Sequence[str] | str, *, valid: Sequence[str] | None = None,
                  config: LMFineTuneConfig | None = None, path: str | Path | None = None,
                  progress: bool = True, **overrides: Any) -> dict[str, float]:
        """ULMFiT stage 2: adapt the LM to the target corpus.

        First only the embeddings and decoder (tied) + decoder bias train for ``frozen_epochs`` epochs, then
        all layers with one-cycle (or STLR) and discriminative learning rates. ``texts_or_source`` is a list
        of texts or a data source name/path (its train + unsup texts). Returns the final validation metrics.
        """
        from ulmfit.data.split import holdout_split
        from ulmfit.text import Vocab
        from ulmfit.train import seed_everything
        from ulmfit.train.distributed import (
            broadcast_arrays,
            broadcast_object,
            is_distributed,
            is_main_process,
            setup_distributed,
        )

        config = with_overrides(config or LMFineTuneConfig(), overrides)
        check_schedule(config.schedule)
        check_precision(config.precision, config.device)  # before tokenizing: fails now, in one line
        seed_everything(config.seed)  # before anything random: vocabulary matching rebuilds the network
        texts = _texts_from(texts_or_source)
        if valid is not None:
            from ulmfit.text.tokenizer import check_texts

            valid = list(check_texts(valid, "valid"))
        min_freq = auto_min_freq(len(texts)) if config.min_freq is None else config.min_freq
        valid_source = "given (valid=)" if valid is not None else "none"
        if valid is None and config.valid_pct > 0 and len(texts) >= 10:
            train_idx, valid_idx = holdout_split(len(texts), config.valid_pct, config.seed)
            valid = [texts[i] for i in valid_idx]
            texts = [texts[i] for i in train_idx]
            valid_source = f"hold-out of the training texts (valid_pct={config.valid_pct:g}, seed={config.seed})"
        setup_distributed()  # under torchrun rank 0 alone tokenizes; the other ranks receive its vocabulary and ids
        train_ids = valid_ids = None
        if is_main_process():
            tokens = self.tokenizer.tokenize(list(texts), n_workers=workers_for(len(texts), None))
            valid_tokens = (self.tokenizer.tokenize(list(valid), n_workers=workers_for(len(valid), None))
                            if valid else [])
            if config.vocab != "keep":
                self._use_vocab(self._matched_vocab(tokens, config.vocab, min_freq, config.max_vocab))
            train_ids, valid_ids = self.ids(tokens), self.ids(valid_tokens)
        if is_distributed():
            self._use_vocab(Vocab.from_itos(broadcast_object(list(self.vocab.itos))))
            train_ids, valid_ids = broadcast_arrays(train_ids), broadcast_arrays(valid_ids)
        n_tokens = int(sum(len(a) for a in train_ids))
        bs = config.bs or _auto_bs(n_tokens, config.bptt)
        epochs = config.epochs if config.epochs is not None else _auto_epochs(n_tokens)
        self._set_dropout(config.drop_mult)
        log = TrainingLog()
        learn = self._learner(train_ids, valid_ids, bs, config.bptt, wd=config.wd, moms=config.moms,
                              precision=config.precision, clip=config.clip, seed=config.seed, path=path,
                              progress=progress, callbacks=[log], device=config.device)
        start = time.time()
        n_groups = len(self.model.layer_groups())
        n_stages = int(bool(config.frozen_epochs)) + int(bool(epochs))
        if config.frozen_epochs:
            learn.freeze()
            learn.stage = Stage("embeddings + decoder", 0, n_stages, epochs=config.frozen_epochs,
                                trainable=f"1 of {n_groups}", lrs=(config.frozen_lr, config.frozen_lr))
            learn.fit_one_cycle(config.frozen_epochs, config.frozen_lr)
        learn.unfreeze()
        if epochs:
            lowest = config.lr / config.lr_decay ** (n_groups - 1)
            lr = slice(lowest, config.lr) if config.lr_decay != 1 else config.lr
            learn.stage = Stage("all layers", n_stages - 1, n_stages, epochs=epochs,
                                trainable=f"{n_groups} of {n_groups}", lrs=(lowest, config.lr))
            fit_with_schedule(learn, config.schedule, epochs, lr)
        self.model.eval()
        metrics = self._final_metrics(valid_ids, config.bptt)
        history = self.meta.setdefault("history", [])
        history.append({"stage": "fine_tune", "train_tokens": n_tokens, "epochs": [config.frozen_epochs, epochs],
                        "train_documents": len(texts), "valid_documents": len(valid or []), "min_freq": min_freq,
                        "valid_tokens": int(sum(len(a) for a in valid_ids)),
                        "valid_source": valid_source, "skipped_steps": learn.n_skipped,
                        "bs": bs, "seconds": round(time.time() - start, 1), "threads": torch.get_num_threads(),
                        "config": jsonable(asdict(config)), "metrics": metrics})
        self._record_provenance(metrics)
        self.training_log = log.as_dict()
        return metrics

    def lr_find(self, texts_or_source: Sequence[str] | str, *, config: LMFineTuneConfig | None = None,
                start_lr: float = 1e-7, end_lr: float = 10.0, num_it: int = 100, plot: str | Path | None = None,
                **overrides: Any):
        """fastai's LR finder for fine-tuning this LM (all layers, the vocabulary as it is) on
        ``texts_or_source``: ``num_it`` steps with the lr growing exponentially; the weights are restored.
        Returns the ``LRFinderResult``; ``plot``: write the curve with the suggestion marked there (HTML)."""
        from ulmfit.report import write_lr_find_plot

        config = with_overrides(config or LMFineTuneConfig(), overrides)
        check_precision(config.precision, config.device)
        texts = _texts_from(texts_or_source)
        ids = self.ids(self.tokenizer.tokenize(list(texts), n_workers=workers_for(len(texts), None)))
        bs = config.bs or _auto_bs(int(sum(len(a) for a in ids)), config.bptt)
        learn = self._learner(ids, [], bs, config.bptt, wd=config.wd, moms=config.moms, precision=config.precision,
                              clip=config.clip, seed=config.seed, path=None, progress=False, device=config.device)
        learn.unfreeze()
        result = learn.lr_find(start_lr=start_lr, end_lr=end_lr, num_it=num_it)
        self.model.eval()
        if plot is not None:
            write_lr_find_plot(plot, result, "LR finder: language model fine-tuning, all layers")
        return result

    def _record_provenance(self, metrics: dict) -> None:
        """After fine-tuning: the model this one came from (its name and figures) becomes ``meta["parent"]``;
        ``meta["metrics"]`` are this model's own final validation figures."""
        parent = {k: self.meta.pop(k) for k in ("name", "metrics", "check_sample", "corpus", "source")
                  if k in self.meta}
        if parent:
            self.meta["parent"] = parent
        self.meta["name"] = f"fine-tuned from {parent.get('name') or parent.get('source') or 'a custom LM'}"
        self.meta["metrics"] = {f"valid_{k}" if k != "valid_loss" else k: v for k, v in metrics.items()}

    @classmethod
    def pretrain(cls, texts: Sequence[str], *, tokenizer=None, arch=None, config: LMPretrainConfig | None = None,
                 valid: Sequence[str] | None = None, path: str | Path | None = None, progress: bool = True,
                 resume: str | Path | None = None, n_workers: int | None = None, checkpoint_every: int = 500,
                 callbacks: Sequence = (), init: LanguageModel | str | Path | None = None) -> LanguageModel:
        """Pretrain an AWD-LSTM LM from scratch on ``texts`` (ULMFiT stage 1).

        With ``path``, a checkpoint is written there every ``checkpoint_every`` steps and at each epoch end;
        ``resume=path/checkpoint.pt`` continues an interrupted run to bitwise the same weights (CPU).
        ``config.seed`` seeds everything before the model is built: same seed, same data and threads ->
        the same model. Under torchrun rank 0 alone tokenizes; the other ranks receive its ids and vocabulary.

        ``init`` (a ``LanguageModel``, a saved folder or a registry name) continues pretraining that model
        instead of starting from random weights: its tokenizer, vocabulary, sizes and direction are kept
        (``tokenizer``/``arch`` must be left out), and ``config.epochs`` more epochs run on a new one-cycle
        schedule. Its history stays in ``meta["history"]`` before this run. With ``config.init_vocab="extend"``
        its vocabulary grows by the training texts' tokens it lacks that occur at least ``min_freq`` times (most
        frequent first, up to ``max_vocab`` tokens in all); their rows start from the mean embedding and mean
        decoder bias, as in :meth:`fine_tune`. With ``"keep"`` (the default) ``max_vocab``/``min_freq`` are not used.
        """
        from ulmfit.data.split import holdout_split
        from ulmfit.text import Tokenizer, Vocab
        from ulmfit.train import seed_everything
        from ulmfit.train.distributed import (
            broadcast_arrays,
            broadcast_object,
            is_distributed,
            is_main_process,
            setup_distributed,
        )

        config = config or LMPretrainConfig()
        check_precision(resolve_precision(config.precision, config.device), config.device)  # fails now, in one line
        if resume is not None and not Path(resume).is_file():  # before the corpus is tokenized
            raise FileNotFoundError(f"resume: checkpoint file not found: {resume}")
        base, init_name = cls._resolve_init(init, tokenizer, arch, config)
        if base is None and config.init_vocab != "keep":
            raise ValueError(f"config.init_vocab={config.init_vocab!r} extends the vocabulary of init=: pass init= "
                             "or leave init_vocab at 'keep'")
        seed_everything(config.seed)
        tokenizer = base.tokenizer if base is not None else tokenizer or Tokenizer()
        from ulmfit.text.tokenizer import check_texts

        texts = list(check_texts(texts, "texts"))
        if valid is not None:
            valid = list(check_texts(valid, "valid"))
        valid_source = "given (valid=)"
        if valid is None:
            train_idx, valid_idx = holdout_split(len(texts), config.valid_pct, config.seed)
            valid = [texts[i] for i in valid_idx]
            texts = [texts[i] for i in train_idx]
            valid_source = f"hold-out of the training texts (valid_pct={config.valid_pct:g}, seed={config.seed})"
        setup_distributed()  # under torchrun rank 0 alone tokenizes; the other ranks receive its ids
        vocab = train_ids = valid_ids = None
        if is_main_process():
            t0 = time.time()
            tokens = tokenizer.tokenize(texts, n_workers=n_workers)
            valid_tokens = tokenizer.tokenize(list(valid), n_workers=n_workers) if valid else []
            kept = "" if base is None else " (kept from init=)"
            if base is not None and config.init_vocab == "extend":
                size = len(base.vocab)
                base._use_vocab(base._matched_vocab(tokens, "extend", config.min_freq, config.max_vocab))
                kept = f" (init='s {size} + {len(base.vocab) - size} new tokens)"
            vocab = base.vocab if base is not None else Vocab.build(tokens, max_vocab=config.max_vocab,
                                                                     min_freq=config.min_freq)
            print(f"tokenized {len(texts)} train / {len(valid)} valid documents in {time.time() - t0:.0f}s; "
                  f"vocab {len(vocab)}{kept}", flush=True)
            train_ids, valid_ids = ([np.asarray(vocab.numericalize(t), dtype=np.int64) for t in token_lists]
                                    for token_lists in (tokens, valid_tokens))
        if is_distributed():
            vocab = Vocab.from_itos(broadcast_object(list(vocab.itos) if vocab is not None else None))
            if base is not None:  # an extended vocabulary: the other ranks match their copy of init= to it
                base._use_vocab(vocab)
            train_ids, valid_ids = broadcast_arrays(train_ids), broadcast_arrays(valid_ids)
        return cls._pretrain(train_ids, valid_ids, vocab, tokenizer, arch, config, base, init_name, valid_source,
                             path=path, progress=progress, resume=resume, checkpoint_every=checkpoint_every,
                             callbacks=callbacks)

    @classmethod
    def pretrain_ids(cls, train_ids: Sequence[np.ndarray], valid_ids: Sequence[np.ndarray] = (), *, vocab=None,
                     tokenizer=None, arch=None, config: LMPretrainConfig | None = None,
                     path: str | Path | None = None, progress: bool = True, resume: str | Path | None = None,
                     checkpoint_every: int = 500, callbacks: Sequence = (),
                     init: LanguageModel | str | Path | None = None) -> LanguageModel:
        """:meth:`pretrain` on a corpus tokenized and numericalized beforehand (no tokenizer runs here: for
        machines without spaCy, e.g. a GPU machine given the ids of a corpus tokenized elsewhere).

        ``train_ids`` / ``valid_ids``: one int array of ``vocab`` ids per document, in reading order (a backward
        model reverses them itself). ``vocab`` and ``tokenizer`` (saved with the model) are required, unless
        ``init`` gives them; ``config.max_vocab``, ``min_freq`` and ``valid_pct`` are not used.
        """
        config = config or LMPretrainConfig()
        check_precision(resolve_precision(config.precision, config.device), config.device)
        base, init_name = cls._resolve_init(init, tokenizer, arch, config)
        if config.init_vocab != "keep":
            raise ValueError(f"config.init_vocab={config.init_vocab!r} needs texts: pretrain_ids reads ids already "
                             "numericalized with a fixed vocabulary; use pretrain(texts, init=...) to extend it")
        if base is not None:
            if vocab is not None:
                raise ValueError("init= continues a model with its own vocabulary: leave vocab= out")
            vocab, tokenizer = base.vocab, base.tokenizer
        elif vocab is None or tokenizer is None:
            raise ValueError("pretrain_ids needs vocab= and tokenizer= (the ids' vocabulary and the tokenizer that "
                             "made them), or init=")
        n = len(vocab)
        for name, arrays in (("train_ids", train_ids), ("valid_ids", valid_ids)):
            for k, a in enumerate(arrays):
                a = np.asarray(a)
                if a.ndim != 1 or (a.size and (a.min() < 0 or a.max() >= n)):
                    raise ValueError(f"{name}[{k}] must be a 1-d array of ids in [0, {n}) for this vocab; got "
                                     f"shape {a.shape}" + (f", ids {a.min()}..{a.max()}" if a.size else ""))
        as_int64 = lambda arrays: [np.asarray(a, dtype=np.int64) for a in arrays]  # noqa: E731
        return cls._pretrain(as_int64(train_ids), as_int64(valid_ids), vocab, tokenizer, arch, config, base,
                             init_name, "given (valid_ids=)", path=path, progress=progress, resume=resume,
                             checkpoint_every=checkpoint_every, callbacks=callbacks)

    @classmethod
    def _resolve_init(cls, init, tokenizer, arch, config) -> tuple[LanguageModel | None, str | None]:
        """``init=`` as a private copy to train, and the name its history records (``(None, None)`` without)."""
        if init is None:
            return None, None
        if tokenizer is not None or arch is not None:
            raise ValueError("init= continues a model with its own tokenizer and sizes: leave tokenizer= and "
                             "arch= out")
        base = copy.deepcopy(init) if isinstance(init, LanguageModel) else cls.from_pretrained(init)
        if base.backwards != config.backwards:
            raise ValueError(f"init= is a {'backward' if base.backwards else 'forward'} model but "
                             f"config.backwards={config.backwards}: continue it in its own direction")
        return base, base.meta.get("name") or (str(init) if not isinstance(init, LanguageModel) else "init=")

    @classmethod
    def _pretrain(cls, train_ids, valid_ids, vocab, tokenizer, arch, config, base, init_name, valid_source, *,
                  path, progress, resume, checkpoint_every, callbacks) -> LanguageModel:
        """The training run of :meth:`pretrain` / :meth:`pretrain_ids`, on reading-order id arrays."""
        from ulmfit.models import AWDLSTMConfig
        from ulmfit.train import CheckpointCallback, seed_everything

        precision = resolve_precision(config.precision, config.device)
        seed_everything(config.seed)  # the initial weights do not depend on what tokenization drew
        if base is None:  # the saved arch records the direction too (metadata: the weights do not depend on it)
            arch = replace(arch or AWDLSTMConfig(), backwards=config.backwards)
        lm = base if base is not None else cls.from_scratch(vocab, tokenizer, arch, backwards=config.backwards)
        earlier = list(lm.meta.get("history", []))
        lm.meta = {"backwards": config.backwards}  # init='s name and card figures describe init, not this run
        lm._set_dropout(config.drop_mult)
        train_ids, valid_ids = lm._oriented(train_ids), lm._oriented(valid_ids)
        n_tokens = int(sum(len(a) for a in train_ids))
        checkpoints = [CheckpointCallback(every_n_steps=checkpoint_every)] if path is not None else []
        log = TrainingLog()
        learn = lm._learner(train_ids, valid_ids, config.bs, config.bptt, wd=config.wd, moms=config.moms,
                            precision=precision, clip=config.clip, seed=config.seed, path=path,
                            progress=progress, callbacks=[*checkpoints, *callbacks, log],
                            n_samples=config.n_samples if config.softmax == "sampled" else None, device=config.device)
        learn.stage = Stage("pretrain", 0, 1, epochs=config.epochs, lrs=(config.lr, config.lr))
        start = time.time()
        learn.fit_one_cycle(config.epochs, config.lr, resume=resume)
        lm.training_log = log.as_dict()
        lm.model.eval()
        metrics = lm._final_metrics(valid_ids, config.bptt)
        lm.meta.update({"history": [*earlier, {"stage": "pretrain", "train_tokens": n_tokens,
                                     "valid_tokens": int(sum(len(a) for a in valid_ids)),
                                     "train_documents": len(train_ids), "valid_documents": len(valid_ids),
                                     "valid_source": valid_source, "skipped_steps": learn.n_skipped,
                                     "epochs": config.epochs, "precision": precision,
                                     "seconds": round(time.time() - start, 1), "threads": torch.get_num_threads(),
                                     "config": jsonable(asdict(config)), "metrics": metrics,
                                     **({"init": init_name} if base is not None else {})}]})
        return lm

    def _final_metrics(self, valid_ids, bptt: int) -> dict[str, float]:
        """Validation loss, perplexity and accuracy by :meth:`evaluate`'s definition ({} without validation)."""
        if not valid_ids:
            return {}
        result = self._evaluate_ids(valid_ids, EVAL_BS, bptt)
        return {"valid_loss": result["loss"], "perplexity": result["perplexity"], "accuracy": result["accuracy"]}

    def _set_dropout(self, drop_mult: float) -> None:
        """Rebuild the network with every dropout scaled by ``drop_mult`` (weights kept)."""
        from ulmfit.models import build_language_model

        model = build_language_model(len(self.vocab), self.config.scaled(drop_mult))
        model.load_state_dict(self.model.state_dict())
        self.model = model

    def _matched_vocab(self, token_lists, mode: str, min_freq: int, max_vocab: int):
        """The vocabulary ``mode`` asks for on these token lists (``self.vocab`` when nothing is new): ``target``
        builds one from them; ``extend`` keeps this one and appends their tokens it lacks that occur at least
        ``min_freq`` times, most frequent first, up to ``max_vocab`` tokens in all (never fewer than it has)."""
        from ulmfit.text import Vocab

        if mode == "target":
            return Vocab.build(token_lists, max_vocab=max_vocab, min_freq=min_freq)
        if mode == "extend":
            counts = Counter(t for doc in token_lists for t in doc)
            known = set(self.vocab.itos)
            new = [t for t, c in counts.most_common() if c >= min_freq and t not in known]
            base = [t for t in self.vocab.itos if t != "xxfake"]
            return Vocab.from_itos((base + new)[: max(max_vocab, len(base))]) if new else self.vocab
        raise ValueError(f"vocab={mode!r}: expected 'extend', 'keep' or 'target'")

    def _use_vocab(self, new_vocab) -> None:
        """Vocabulary matching: shared tokens keep their rows, new ones get the mean row and mean bias."""
        from pretrained.fastai_io import match_embeddings
        from ulmfit.models import build_language_model

        if list(new_vocab.itos) == list(self.vocab.itos):
            return
        state = match_embeddings(self.model.state_dict(), list(self.vocab.itos), list(new_vocab.itos))
        model = build_language_model(len(new_vocab), self.config)
        _load_weights(model, state, Path("<vocabulary matching>"))
        self.model, self.vocab = model, new_vocab

    # ------------------------------------------------------------------ evaluation and generation
    def evaluate(self, texts: Sequence[str], bs: int = 16, bptt: int = 72) -> dict[str, float]:
        """Token-level loss, perplexity and next-token accuracy of ``texts`` as one stream (eval mode).

        The one perplexity definition of the library: exp(mean next-token cross entropy) over the texts
        laid out in ``bs`` parallel rows (state carried across ``bptt`` windows, full softmax, fp32).
        ``fine_tune``/``pretrain`` report exactly this for their validation texts (bs 16, their bptt).
        """
        ids = self.encode(texts)
        if int(sum(len(a) for a in ids)) < 2:
            raise ValueError("evaluate needs at least 2 tokens of text; got " + repr(list(texts)[:3]))
        return self._evaluate_ids(ids, bs, bptt)

    def evaluate_ids(self, ids: Sequence[np.ndarray], bs: int = 16, bptt: int = 72) -> dict[str, float]:
        """:meth:`evaluate` on documents already numericalized by ``self.vocab`` (one int array each, in reading
        order; a backward model reverses them itself)."""
        ids = [np.asarray(a, dtype=np.int64) for a in ids]
        if int(sum(len(a) for a in ids)) < 2:
            raise ValueError(f"evaluate_ids needs at least 2 ids; got {len(ids)} arrays")
        return self._evaluate_ids(self._oriented(ids), bs, bptt)

    @torch.no_grad()
    def _evaluate_ids(self, ids, bs: int, bptt: int) -> dict[str, float]:
        from ulmfit.data import LMLoader

        loader = LMLoader(ids, bs=min(bs, _max_rows(ids, bptt)), bptt=bptt, vocab_size=len(self.vocab))
        model = self.model.eval()
        device = next(model.parameters()).device
        model.reset()
        total_loss, total_correct, total = 0.0, 0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)[0].float()
            total_loss += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                                            reduction="sum").item()
            total_correct += (logits.argmax(-1) == y).sum().item()
            total += y.numel()
        loss = total_loss / total
        return {"loss": loss, "perplexity": math.exp(loss), "accuracy": total_correct / total, "tokens": total}

    def perplexity(self, texts: Sequence[str]) -> float:
        return self.evaluate(texts)["perplexity"]

    def accuracy(self, texts: Sequence[str]) -> float:
        """Next-token accuracy on ``texts``."""
        return self.evaluate(texts)["accuracy"]

    @torch.no_grad()
    def generate(self, prompt: str, n_words: int = 30, temperature: float = 1.0, seed: int | None = None,
                 no_unk: bool = True) -> str:
        """Sample ``n_words`` tokens after ``prompt`` and return the text (markers such as xxmaj applied)."""
        if not isinstance(prompt, str):
            raise TypeError(f"generate: prompt must be a str, got {type(prompt).__name__} ({prompt!r:.60})")
        for name, value, (ok, accepted) in (("n_words", n_words, INT_GE0), ("temperature", temperature, POSITIVE)):
            if not ok(value):
                raise ValueError(f"generate: {name} must be {accepted}, got {value!r}")
        if self.backwards:
            raise ValueError("generate() needs a forward model; this one was trained on reversed text")
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        model = self.model.eval()
        device = next(model.parameters()).device
        tokens = self.tokenizer.tokenize([prompt], n_workers=1)[0]
        ids = self.vocab.numericalize(tokens)
        never = {"xxpad", "xxfake", "xxbos"} | ({"xxunk"} if no_unk else set())
        banned = [i for i, t in enumerate(self.vocab.itos) if t in never]
        model.reset()
        logits = model(torch.tensor([ids], device=device))[0][0, -1].float()
        out = list(tokens)
        for _ in range(n_words):
            logits[banned] = -float("inf")
            probs = torch.softmax(logits / temperature, dim=-1).cpu()
            nxt = int(torch.multinomial(probs, 1, generator=generator))
            out.append(self.vocab.itos[nxt])
            logits = model(torch.tensor([[nxt]], device=device))[0][0, -1].float()
        model.reset()
        return detokenize(out)

    def __repr__(self) -> str:
        direction = "bwd" if self.backwards else "fwd"
        return (f"LanguageModel(vocab={len(self.vocab)}, emb_sz={self.config.emb_sz}, n_hid={self.config.n_hid}, "
                f"n_layers={self.config.n_layers}, direction={direction})")


def detokenize(tokens: Sequence[str]) -> str:
    """Undo the case markers and spacing of fastai-style tokens (best effort, for display)."""
    words: list[str] = []
    cap = upper = False
    rep: int | None = None
    for tok in tokens:
        if tok in ("xxbos", "xxeos", "xxpad", "xxfld"):
            continue
        if tok == "xxmaj":
            cap = True
            continue
        if tok == "xxup":
            upper = True
            continue
        if tok in ("xxrep", "xxwrep"):
            rep = -1
            continue
        if rep == -1 and tok.isdigit():
            rep = int(tok)
            continue
        word = tok.replace("\u2581", " ")
        word = word.upper() if upper else word.capitalize() if cap else word
        cap = upper = False
        if rep:
            word = word * rep if len(word) == 1 else " ".join([word] * rep)
            rep = None
        words.append(word)
    text = " ".join(words)
    for punct in (" .", " ,", " !", " ?", " ;", " :", " 's", " n't", " 're", " 've", " 'll", " 'm", " 'd", " )"):
        text = text.replace(punct, punct[1:])
    return text.replace("( ", "(").replace(" \n ", "\n").strip()


def check_schedule(schedule: str) -> None:
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r}: expected one of {SCHEDULES}")


def fit_with_schedule(learn, schedule: str, epochs: int, lr) -> None:
    """One-cycle (fastai) or slanted triangular (ULMFiT paper) learning rates for ``epochs`` epochs."""
    check_schedule(schedule)
    (learn.fit_stlr if schedule == "stlr" else learn.fit_one_cycle)(epochs, lr)


def _load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(
            part for part in (f"missing keys {missing[:5]}" if missing else "",
                              f"unexpected keys {unexpected[:5]}" if unexpected else "",
                              "shape mismatch " + ", ".join(f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                                                            for k in wrong[:5]) if wrong else "") if part)
        raise ValueError(f"weights from {source} do not fit this architecture: {detail}")
    model.load_state_dict(state)


def _texts_from(texts_or_source: Sequence[str] | str) -> list[str]:
    if isinstance(texts_or_source, (str, Path)):
        from ulmfit.data import load_source

        splits = load_source(str(texts_or_source))
        texts = [t for name in ("train", "unsup") if name in splits for t in splits[name].texts]
        if not texts:
            raise ValueError(f"data source {texts_or_source!r} has no 'train' or 'unsup' texts "
                             f"(found splits {sorted(splits)})")
        return texts
    texts = list(texts_or_source)
    if not texts:
        raise ValueError("fine_tune got an empty list of texts")
    return texts


def _max_rows(ids: Sequence[np.ndarray], bptt: int) -> int:
    n = int(sum(len(a) for a in ids))
    return max(1, min(64, (n - 1) // max(2, bptt // 4)))


