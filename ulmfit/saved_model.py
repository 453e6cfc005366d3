"""What every saved text model shares (``LanguageModel``, ``TextClassifier``): the network, its vocabulary
and tokenizer, ``meta`` (direction, history, provenance), a public :meth:`SavedModel.encode`, and the
helpers that read and write the common parts of a model folder."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ulmfit.hub.model_folder import ModelFolderError, check_sizes, read_json, require

__all__ = ["SavedModel", "duration", "jsonable",
           "read_arch", "read_tokenizer", "read_vocab", "saved_files", "workers_for", "write_run_record"]


class SavedModel:
    """Base of the saved text models: ``model`` (the ``nn.Module``), ``vocab``, ``tokenizer``, ``meta``."""

    kind = ""

    def __init__(self, model: torch.nn.Module, vocab, tokenizer, meta: dict[str, Any] | None = None):
        self.model = model
        self.vocab = vocab
        self.tokenizer = tokenizer
        self.meta = dict(meta or {})
        # what the last training call recorded (ulmfit.train.training_log): saved as metrics.csv, steps.csv and
        # report.html beside the weights; None for a model loaded from a folder
        self.training_log: dict | None = None
        self.evaluation: dict | None = None  # classification metrics on the validation data, for the report

    @property
    def backwards(self) -> bool:
        """True for a model that reads text right to left (the ids are reversed)."""
        return bool(self.meta.get("backwards", False))

    def encode(self, texts: Sequence[str], n_workers: int | None = None) -> list[np.ndarray]:
        """Tokenize and numericalize ``texts`` -> one int64 array per document (reversed when backwards)."""
        if isinstance(texts, str):
            raise TypeError("encode expects a list of texts, got a single str; wrap it in a list")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__} ({text!r:.60}); expected str")
        return self.ids(self.tokenizer.tokenize(texts, n_workers=workers_for(len(texts), n_workers)))

    def ids(self, token_lists) -> list[np.ndarray]:
        """Token lists -> int64 id arrays (reversed when backwards)."""
        return self._oriented([np.asarray(self.vocab.numericalize(t), dtype=np.int64) for t in token_lists])

    def _oriented(self, ids: list[np.ndarray]) -> list[np.ndarray]:
        """Reading-order id arrays in the model's direction (reversed copies when backwards)."""
        return [a[::-1].copy() for a in ids] if self.backwards else ids


def write_run_record(folder: Path, model: SavedModel, *, title: str, config: dict, data: dict,
                     summary: dict) -> list[str]:
    """``metrics.csv``, ``steps.csv`` and ``report.html`` of ``model``'s last training call into ``folder``
    (nothing when the model was not trained in this process); returns the file names written."""
    if not model.training_log:
        return []
    from ulmfit.report import write_report
    from ulmfit.train.training_log import write_log

    log = model.training_log
    names = write_log(folder, log["epochs"], log["steps"])
    write_report(Path(folder) / "report.html", title=title, kind=model.kind, epochs=log["epochs"],
                 steps=log["steps"], config=config, data=data, evaluation=model.evaluation, summary=summary)
    return [*names, "report.html"]


def duration(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on (the reports' and the progress lines' time format)."""
    seconds = int(round(seconds or 0))
    h, m, sec = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def workers_for(n_texts: int, n_workers: int | None) -> int | None:
    """In-process tokenization for small inputs: starting worker processes costs more than it saves."""
    if n_workers is not None:
        return n_workers
    return 1 if n_texts < 2000 else None


def jsonable(obj: Any) -> Any:
    """A JSON-ready copy of a config dict (tuples become lists)."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def saved_files(tokenizer_spec: dict, *names: str) -> list[str]:
    """The files a save wrote: ``names`` plus a SentencePiece model copied into the folder."""
    extra = tokenizer_spec.get("model_file")
    return [*names, *([extra] if isinstance(extra, str) and not Path(extra).is_absolute() else [])]


def read_arch(saved: dict, folder: Path):
    """``config.json``'s ``arch`` as an ``AWDLSTMConfig``, sizes bounded, errors naming the file and key."""
    from ulmfit.models import AWDLSTMConfig

    path = Path(folder) / "config.json"
    arch = require(saved, "arch", dict, path)
    check_sizes(arch, path)
    try:
        return AWDLSTMConfig.from_dict(arch)
    except (TypeError, ValueError) as err:
        raise ModelFolderError(f"{path}: 'arch' is not a valid architecture ({err})") from None


def read_tokenizer(folder: Path):
    """``tokenizer.json`` as a tokenizer; a malformed spec is a ``ModelFolderError`` naming the file."""
    from ulmfit.text import tokenizer_from_dict

    path = Path(folder) / "tokenizer.json"
    try:
        return tokenizer_from_dict(read_json(path), folder)
    except ModelFolderError:
        raise
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFolderError(f"{path}: not a valid tokenizer spec ({err})") from None


def read_vocab(folder: Path):
    """``vocab.json``, refusing duplicate tokens (fastai's ``xxfake`` padding excepted)."""
    from ulmfit.text import Vocab

    path = Path(folder) / "vocab.json"
    try:
        vocab = Vocab.load(path)
    except (OSError, ValueError) as err:
        raise ModelFolderError(str(err)) from None
    dups = [t for t, n in Counter(vocab.itos).items() if n > 1 and t != "xxfake"]
    if dups:
        raise ModelFolderError(f"{path} lists {len(dups)} token(s) more than once (e.g. {dups[:3]}): a vocabulary "
                               "maps each token to one id; the file was edited or corrupted")
    return vocab
