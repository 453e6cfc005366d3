"""Registry of known pretrained AWD-LSTM language models: pure data (where, how big, what inside).

Entries follow torchvision's weights enums: a frozen ``ModelEntry`` carries the download URL (or the path
of a folder shipped inside this package), the expected size and sha256, the file format, the architecture
config (``AWDLSTMConfig`` field names), the tokenizer spec, vocab size, license, training corpus and reported
metrics. ``locate`` turns a name (or a local path) into a folder on disk, downloading through
``ulmfit.hub.download.fetch`` when needed. Like torchvision's weights registry, this module knows nothing
about model classes: ``LanguageModel.from_pretrained`` builds the model from what ``locate`` returns, and
``pretrained.load`` is a thin alias of it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ulmfit.errors import UlmfitError
from ulmfit.hub.download import fetch

__all__ = [
    "AWD_LSTM_LM_CONFIG",
    "DEFAULT",
    "twin_of",
    "FORMATS",
    "DIRECTIONS",
    "PACKAGE_DIR",
    "ModelEntry",
    "UnknownModelError",
    "count_lm_params",
    "fastai_files",
    "get_entry",
    "is_fastai_folder",
    "is_registered",
    "list_models",
    "locate",
]

# packaged paths are relative to the folder of the ``pretrained`` package (found, not imported)
PACKAGE_DIR = Path(find_spec("pretrained").submodule_search_locations[0]).resolve()
FORMATS = ("ulmfit", "fastai")  # "ulmfit": a saved model folder; "fastai": a .pth + itos .pkl (tarball)
DIRECTIONS = ("fwd", "bwd")
# Files a saved "ulmfit" model folder must hold (see docs/ARCHITECTURE.md, "Saved model folder").
ULMFIT_FOLDER_FILES = ("model.pt", "config.json", "vocab.json", "tokenizer.json")

# fastai 2.8.12's ``awd_lstm_lm_config`` (``fastai.text.models.awdlstm``), with AWDLSTMConfig's field names.
AWD_LSTM_LM_CONFIG: Mapping[str, Any] = MappingProxyType(
    dict(emb_sz=400, n_hid=1152, n_layers=3, pad_token=1, bidir=False, output_p=0.1, hidden_p=0.15,
         input_p=0.25, embed_p=0.02, weight_p=0.2, tie_weights=True, out_bias=True)
)

# fastai v1's special-token order (its ``text_spec_tok``), the order of the WT103 itos pickle.
_FASTAI_V1_SPECIAL_TOKENS = ("xxunk", "xxpad", "xxbos", "xxeos", "xxfld", "xxmaj", "xxup", "xxrep", "xxwrep")


# Registered entries use https; plain http is accepted only from this machine (local mirrors, tests).
_URL_PREFIXES = ("https://", "http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/")


class UnknownModelError(UlmfitError, ValueError):
    """A name that is neither a registered model nor an existing path."""


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class ModelEntry:
    """One pretrained language model; pure data (no download happens on construction)."""

    name: str  # registry key, e.g. "wt103-fwd"
    format: str  # one of FORMATS
    direction: str  # "fwd" reads left to right, "bwd" right to left
    url: str | None = None  # https URL of a tarball (downloaded + extracted into the cache)
    path: str | None = None  # or a folder shipped inside the pretrained package, relative to PACKAGE_DIR
    size_bytes: int | None = None  # expected download size; None = unknown (not checked)
    sha256: str | None = None  # expected download sha256; None = unknown (only the size is checked, if known)
    files: tuple[str, ...] = ()  # files expected inside the located folder
    arch: Mapping[str, Any] = field(default_factory=dict)  # AWDLSTMConfig field names -> values
    tokenizer: Mapping[str, Any] = field(default_factory=dict)  # tokenizer spec (type, lang, rules, ...)
    vocab_size: int | None = None
    num_params: int | None = None  # unique parameters of the LM (tied embedding/decoder counted once)
    license: str = ""
    corpus: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)  # reported metrics, name -> value
    notes: str = ""

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"ModelEntry {self.name!r}: format={self.format!r}; expected one of {FORMATS}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"ModelEntry {self.name!r}: direction={self.direction!r}; expected one of {DIRECTIONS}")
        if (self.url is None) == (self.path is None):
            raise ValueError(f"ModelEntry {self.name!r}: give exactly one of url= and path=")
        if self.url is not None and not self.url.startswith(_URL_PREFIXES):
            raise ValueError(
                f"ModelEntry {self.name!r}: url={self.url!r} must start with https:// "
                "(plain http only for a loopback mirror: http://127.0.0.1 or http://localhost)"
            )
        if self.sha256 is not None and (len(self.sha256) != 64 or not _is_hex(self.sha256)):
            raise ValueError(f"ModelEntry {self.name!r}: sha256={self.sha256!r} must be 64 hex digits or None")
        # Mappings are read-only views, so an entry cannot be edited by accident after registration.
        for name in ("arch", "tokenizer", "metrics"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def __hash__(self) -> int:  # dataclass' generated hash would fail on the mapping fields
        return hash(self.name)

    @property
    def packaged(self) -> bool:
        """True for a model shipped inside the package (no download)."""
        return self.path is not None

    @property
    def verification(self) -> str:
        """How a download is checked: "sha256", "size only", "none" (unverified) or "packaged"."""
        if self.packaged:
            return "packaged"
        if self.sha256 is not None:
            return "sha256"
        return "size only" if self.size_bytes is not None else "none"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (for model cards, ``ulmfit`` CLI listings)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out |= {k: json.loads(json.dumps(dict(out[k]))) for k in ("arch", "tokenizer", "metrics")}
        out["files"] = list(self.files)
        out["verification"] = self.verification
        return out


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def count_lm_params(vocab_size: int, arch: Mapping[str, Any]) -> int:
    """Unique parameters of an AWD-LSTM LM: embedding (tied with the decoder), decoder bias, the LSTMs.

    Layer k maps ``n_in -> n_out`` (``emb_sz -> n_hid -> ... -> emb_sz``); each has
    ``4*n_out*(n_in + n_out)`` weights and two biases of ``4*n_out`` (PyTorch keeps ``bias_ih`` and ``bias_hh``).
    """
    emb, hid, n_layers = int(arch["emb_sz"]), int(arch["n_hid"]), int(arch["n_layers"])
    sizes = [emb] + [hid] * (n_layers - 1) + [emb]
    lstm = sum(4 * n_out * (n_in + n_out) + 2 * 4 * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    embedding = vocab_size * emb
    decoder = (0 if arch.get("tie_weights", True) else vocab_size * emb) + (
        vocab_size if arch.get("out_bias", True) else 0
    )
    return embedding + decoder + lstm


# --- the entries -----------------------------------------------------------------------------------------

_WT103_VOCAB = 60000
_WT103_NOTES = (
    "fastai's AWD-LSTM language model pretrained on WikiText-103, as used by fastai v1 and v2 "
    "(fastai.data.external.URLs.WT103_FWD / WT103_BWD). The tarball holds the weights ({pth}) in fastai v1's "
    "state_dict layout and itos_wt103.pkl, a pickled list of 60000 tokens in fastai v1's special-token order "
    "(read with pretrained.fastai_io's restricted unpickler, never plain pickle). "
    "UNVERIFIED: the download size and sha256 were not available when this entry was written, so neither is "
    "checked (verification='none'); the vocab size 60000 is fastai's documented value, not checked against the file. "
    "num_params is computed with count_lm_params(60000, arch): embedding 60000*400 (tied with the decoder, counted "
    "once) + decoder bias 60000 + LSTMs 400->1152->1152->400 (20,273,280) = 44,333,280. "
    "Tokenizer: spaCy blank English with fastai v1's rules; v1 and v2 rule sets differ slightly, and tokens are "
    "matched to a new vocab by string, so v2 tokenization works with these weights."
)
_WT103_TOKENIZER = {
    "type": "spacy",
    "lang": "en",
    "rules": "fastai_v1",
    "special_tokens": list(_FASTAI_V1_SPECIAL_TOKENS),
}
_WT103_LICENSE = (
    "weights: published by fast.ai (fastai, Apache-2.0), no separate license stated for the file; "
    "training text: WikiText-103, CC BY-SA 3.0 (derived from Wikipedia)"
)
_WT103_CORPUS = (
    "WikiText-103 (Merity et al. 2016): ~103M tokens from verified Good and Featured English Wikipedia articles"
)


def _wt103(direction: str) -> ModelEntry:
    pth = f"lstm_{direction}.pth"
    return ModelEntry(
        name=f"wt103-{direction}",
        format="fastai",
        direction=direction,
        url=f"https://s3.amazonaws.com/fast-ai-modelzoo/wt103-{direction}.tgz",
        size_bytes=None,
        sha256=None,
        files=(pth, "itos_wt103.pkl"),
        arch=dict(AWD_LSTM_LM_CONFIG) | {"backwards": direction == "bwd"},
        tokenizer=_WT103_TOKENIZER,
        vocab_size=_WT103_VOCAB,
        num_params=count_lm_params(_WT103_VOCAB, AWD_LSTM_LM_CONFIG),
        license=_WT103_LICENSE,
        corpus=_WT103_CORPUS,
        metrics={},
        notes=_WT103_NOTES.format(pth=pth),
    )


DEFAULT = "ulmfit-en-fwd"

# The first release's small English LM (kept as an entry). Fields left None / empty here are read from
# the folder at lookup time
# (get_entry): config.json ("arch", "metrics", "num_params", "license", "corpus"), vocab.json (its length),
# tokenizer.json (the spec). Values written here are defaults the folder's files override.
def _shipped(name: str, direction: str, path: str, notes: str) -> ModelEntry:
    """An LM folder shipped inside the package; its figures are read from the folder (see above)."""
    return ModelEntry(
        name=name,
        format="ulmfit",
        direction=direction,
        path=path,
        files=ULMFIT_FOLDER_FILES,
        arch={},
        tokenizer={"type": "spacy", "lang": "en", "rules": "fastai"},
        vocab_size=None,
        num_params=None,
        license="Apache-2.0 (the project's license)",
        corpus="see MODEL_CARD.md in the model folder",
        metrics={},
        notes=notes,
    )


_EN_SMALL = _shipped("ulmfit-en-small-fwd", "fwd", "en_small_fwd",
                     "Small English AWD-LSTM LM shipped inside the package for the offline demo; see MODEL_CARD.md.")

def _en(direction: str) -> ModelEntry:
    """The shipped pair (forward and backward twin), pretrained on 18 NLTK corpora (6.4 M words)."""
    return _shipped(f"ulmfit-en-{direction}", direction, f"en_{direction}",
                    f"Small English AWD-LSTM LM ({direction}) shipped inside the package; see MODEL_CARD.md.")


_REGISTRY: dict[str, ModelEntry] = {e.name: e for e in (_en("fwd"), _en("bwd"), _EN_SMALL, _wt103("fwd"),
                                                        _wt103("bwd"))}


# --- lookup ----------------------------------------------------------------------------------------------


def twin_of(name: str) -> str | None:
    """The other direction of a registered fwd/bwd pair (``ulmfit-en-fwd`` <-> ``ulmfit-en-bwd``), or None."""
    for a, b in (("-fwd", "-bwd"), ("-bwd", "-fwd")):
        if isinstance(name, str) and name.endswith(a) and name[: -len(a)] + b in _REGISTRY:
            return name[: -len(a)] + b
    return None


def list_models() -> list[str]:
    """Names of the registered models, the default first."""
    return [DEFAULT] + sorted(n for n in _REGISTRY if n != DEFAULT)


def _unknown(name: str) -> UnknownModelError:
    return UnknownModelError(
        f"unknown pretrained model {name!r}; known models: {', '.join(list_models())} "
        "(or give the path of a saved model folder / a fastai .pth+.pkl folder)"
    )


def is_registered(name: object) -> bool:
    """Whether ``name`` is a registry name (a name wins over a path of the same spelling)."""
    return isinstance(name, str) and name in _REGISTRY


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; for a packaged model, completed from its folder's files if present."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise _unknown(str(name))
    entry = _REGISTRY[name]
    if entry.packaged:
        entry = _complete_from_folder(entry, PACKAGE_DIR / str(entry.path))
    return entry


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"could not read {path} as JSON: {e}") from e


def _complete_from_folder(entry: ModelEntry, folder: Path) -> ModelEntry:
    """Fill arch/metrics/vocab_size/num_params/tokenizer/license/corpus from a saved model folder's files.

    Keys are read from ``config.json`` (top level, else its ``meta``); ``vocab_size`` falls back to the length
    of ``vocab.json``; ``num_params``, when not recorded, is computed from arch and vocab size.
    """
    updates: dict[str, Any] = {}
    config_path = folder / "config.json"
    if config_path.is_file():
        config = _read_json(config_path)
        if not isinstance(config, dict):
            raise ValueError(f"{config_path} must hold a JSON object, got {type(config).__name__}")
        arch = config.get("arch", config.get("architecture", config.get("model_config")))
        if isinstance(arch, dict):
            updates["arch"] = arch
        meta = config.get("meta") if isinstance(config.get("meta"), dict) else {}
        for key in ("metrics", "num_params", "vocab_size", "license", "corpus"):
            value = config.get(key, meta.get(key))
            if value is not None:
                updates[key] = value
    vocab_path = folder / "vocab.json"
    if "vocab_size" not in updates and vocab_path.is_file():
        vocab = _read_json(vocab_path)
        itos = vocab.get("itos") if isinstance(vocab, dict) else vocab
        if isinstance(itos, list):
            updates["vocab_size"] = len(itos)
    tok_path = folder / "tokenizer.json"
    if tok_path.is_file():
        spec = _read_json(tok_path)
        if isinstance(spec, dict):
            updates["tokenizer"] = spec
    arch = updates.get("arch", entry.arch)
    vocab_size = updates.get("vocab_size", entry.vocab_size)
    known = vocab_size and {"emb_sz", "n_hid", "n_layers"} <= set(arch)
    if updates.get("num_params", entry.num_params) is None and known:
        updates["num_params"] = count_lm_params(vocab_size, arch)
    return dataclasses.replace(entry, **updates) if updates else entry


# --- locating files on disk ------------------------------------------------------------------------------


def locate(name_or_path: str | os.PathLike[str]) -> Path:
    """The folder holding a model's files: the shipped folder, a downloaded + extracted tarball, or a path.

    A registered name wins over a relative path of the same spelling. Downloads go through
    ``ulmfit.hub.download.fetch`` into its cache (``$ULMFIT_HOME``), so a second call is offline.
    Raises ``UnknownModelError`` (unknown name, non-existent path), ``FileNotFoundError`` (shipped folder
    incomplete, or a download without the expected files), or the downloader's ``DownloadError``.
    """
    if isinstance(name_or_path, str) and name_or_path in _REGISTRY:
        entry = _REGISTRY[name_or_path]
        return _locate_packaged(entry) if entry.packaged else _locate_download(entry)
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"name_or_path must be a registry name or a path, got {type(name_or_path).__name__}")
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise _unknown(str(name_or_path))
    return path


def _locate_packaged(entry: ModelEntry) -> Path:
    folder = PACKAGE_DIR / str(entry.path)
    missing = [f for f in entry.files if not (folder / f).is_file()]
    if missing:
        what = "does not exist" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        raise FileNotFoundError(
            f"the shipped model {entry.name!r} is missing from this installation: {folder} {what} "
            f"(a complete folder holds {', '.join(entry.files)}). Reinstall the package, or pass another "
            f"model name ({', '.join(n for n in list_models() if n != entry.name)}) or a saved model folder."
        )
    return folder


def _locate_download(entry: ModelEntry) -> Path:
    try:
        root = Path(fetch(str(entry.url), sha256=entry.sha256, size=entry.size_bytes, extract=True))
    except Exception as e:  # add which model was being fetched, keep the downloader's error type
        if hasattr(e, "add_note"):  # Python >= 3.11
            e.add_note(f"while fetching pretrained model {entry.name!r} (verification: {entry.verification})")
        raise
    folder = _folder_with(root, entry.files)
    if folder is None:
        raise FileNotFoundError(
            f"the download of {entry.name!r} from {entry.url} was extracted to {root}, but no folder there "
            f"holds {', '.join(entry.files)}"
        )
    return folder


def _folder_with(root: Path, files: tuple[str, ...]) -> Path | None:
    """``root`` or the first sub-folder (sorted, breadth first) holding all of ``files``."""
    if root.is_file():
        root = root.parent
    candidates = [root] + sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: (len(p.parts), p))
    for folder in candidates:
        if all((folder / f).is_file() for f in files):
            return folder
    return None


def fastai_files(name_or_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``(weights .pth, vocab .pkl)`` of a fastai-format model: a registry name or a folder.

    Like fastai, takes the first ``*.pth`` and the first ``*.pkl`` in the folder (sorted by name).
    """
    folder = locate(name_or_path)
    if folder.is_file():
        raise ValueError(f"{folder} is a file; expected a folder holding one .pth and one .pkl file")
    pths, pkls = sorted(folder.glob("*.pth")), sorted(folder.glob("*.pkl"))
    if not pths or not pkls:
        raise FileNotFoundError(
            f"{folder} is not a fastai model folder: it needs a weights file (*.pth) and a vocab file (*.pkl), "
            f"found {len(pths)} .pth and {len(pkls)} .pkl"
        )
    return pths[0], pkls[0]


def is_fastai_folder(folder: Path) -> bool:
    """A folder holding fastai-format files (*.pth + *.pkl) and no saved ``model.pt``."""
    return folder.is_dir() and not (folder / "model.pt").is_file() and any(folder.glob("*.pth"))
