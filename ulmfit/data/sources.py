"""Text data sources, named the same way everywhere (CLI and API).

A source is one of:

* a built-in name that downloads into the cache: ``imdb`` (aclImdb v1), ``trec6`` / ``trec50`` (Li & Roth's
  TREC question classification, coarse / fine labels). A copy placed by hand in the cache is used offline,
  and a local copy of the same data can always be given as a path instead;
* a local path (a file, a folder or an archive .zip/.tar.gz/.tgz/.tar, which is extracted into the cache) in
  one of the layouts below;
* ``hf:NAME`` for a Hugging Face dataset (``datasets.load_dataset(NAME)``, or ``load_from_disk`` when NAME is a
  folder written by ``save_to_disk``).

Layouts (``layout="auto"`` detects them in this order):

``imdb`` / ``folders``
    one folder per class, ``root/<label>/*.txt``, optionally under split folders ``root/<split>/<label>/*.txt``
    (splits: train, test, valid, validation, dev; a split folder holding only ``*.txt`` files is an unlabelled
    split, one document per file). The IMDb folder ``aclImdb/{train,test}/{pos,neg}/*.txt`` is
    this layout; its ``train/unsup`` folder becomes the unlabelled split ``unsup``; loose files (``*.feat``,
    ``urls_*.txt``, README, logs) are ignored.
``trec``
    TREC label files, one ``COARSE:fine question`` per line: ``train_5500.label`` / ``TREC_10.label`` or NLTK's
    ``qc/train.txt`` / ``qc/test.txt``. ``trec_labels="coarse"`` (6 classes) or ``"fine"`` (50, ``COARSE:fine``).
    The original files are Latin-1: without ``encoding=``, a TREC file that is not valid UTF-8 is read as Latin-1.
``polarity``
    ``rt-polarity.pos`` / ``rt-polarity.neg`` (sentence polarity, "MR"): one sentence per line, split ``train``.
``table``
    ``.csv`` / ``.tsv`` / ``.jsonl`` files with named columns (a folder of ``<split>.csv`` files gives splits).
    Several ``text_cols`` are joined as fastai does: ``xxfld 1 <col1> xxfld 2 <col2>``. ``label_delim`` splits
    multi-label cells.
``text``
    a plain-text corpus, unlabelled: a file (one document per line by default) or a folder of ``*.txt`` files
    (one document per file by default); ``per_line`` selects.

Every loader returns ``{split: TextDataset}``. Texts are never dropped silently: empty or whitespace-only texts
are kept and counted in a :class:`DataWarning`; undecodable bytes are replaced (U+FFFD) and the files named in
a warning; a missing CSV/JSONL value is an error naming the file, row and column unless ``on_missing="drop"``.
In per-line text files, blank lines separate documents and are not documents themselves.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ulmfit.data.split import holdout_split
from ulmfit.errors import UlmfitError
from ulmfit.hub.archive import extract_local
from ulmfit.user_warning import warn

__all__ = [
    "iter_json_lines",
    "TextDataset",
    "DataWarning",
    "SourceError",
    "refuse_utf16",
    "BUILTIN_SOURCES",
    "load_source",
    "split_train_valid",
    "LAYOUTS",
]

FLD = "xxfld"
LAYOUTS = ("auto", "imdb", "folders", "trec", "polarity", "table", "text")
SPLIT_NAMES = ("train", "test", "valid", "validation", "dev")
_TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")
_ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
_TREC_LINE = re.compile(r"^([A-Z]+):(\S+)\s+(.*)$")
_TREC_FILES = {"train_5500.label": "train", "trec_10.label": "test", "trest_10.label": "test"}

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
TREC_URLS = {
    "train": "https://cogcomp.seas.upenn.edu/Data/QA/QC/train_5500.label",
    "test": "https://cogcomp.seas.upenn.edu/Data/QA/QC/TREC_10.label",
}
BUILTIN_SOURCES = {
    "imdb": "IMDb movie reviews (Maas et al. 2011): train/test 25k each, pos/neg, plus 50k unlabelled (unsup)",
    "trec6": "TREC question classification (Li & Roth 2002), 6 coarse classes: train 5,452, test 500",
    "trec50": "TREC question classification (Li & Roth 2002), 50 fine classes (COARSE:fine): train 5,452, test 500",
}


class DataWarning(UserWarning):
    """Something in the data deserves a look (empty texts, undecodable bytes, dropped rows) but was handled."""


class SourceError(UlmfitError, ValueError):
    """A source name, path, layout or column could not be used; the message lists what is accepted."""


@dataclass
class TextDataset:
    """Raw texts and their labels: ``labels`` is None (unlabelled), one string per text, or a list of strings
    per text (multi-label)."""

    texts: list[str]
    labels: list[str] | list[list[str]] | None = None

    def __post_init__(self) -> None:
        if self.labels is not None and len(self.labels) != len(self.texts):
            raise ValueError(f"labels has {len(self.labels)} entries but texts has {len(self.texts)}")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def multi_label(self) -> bool:
        return bool(self.labels) and isinstance(self.labels[0], list)

    @property
    def classes(self) -> list[str]:
        """Sorted distinct labels ([] when unlabelled)."""
        if self.labels is None:
            return []
        if self.multi_label:
            return sorted({lab for labs in self.labels for lab in labs})
        return sorted(set(self.labels))

    def __repr__(self) -> str:
        kind = "unlabelled" if self.labels is None else ("multi-label" if self.multi_label else "labelled")
        classes = self.classes
        shown = ", ".join(classes[:6]) + (", ..." if len(classes) > 6 else "")
        return f"TextDataset({len(self.texts)} texts, {kind}" + (f", classes=[{shown}])" if classes else ")")

    def subset(self, idxs: Sequence[int]) -> TextDataset:
        idxs = list(idxs)
        labels = None if self.labels is None else [self.labels[i] for i in idxs]
        return TextDataset([self.texts[i] for i in idxs], labels)


# --------------------------------------------------------------------------------------------- reading
def refuse_utf16(head: bytes, name: str) -> None:
    """Raise ``SourceError`` when a file's first bytes ``head`` are a UTF-16 byte-order mark: read as UTF-8 it
    would give NUL-riddled column names instead of a clear message. ``name``: the file as the user gave it."""
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise SourceError(f"{name} is UTF-16 (it starts with a UTF-16 byte-order mark, as Excel's 'Unicode text' "
                          "export does), not UTF-8: save it as UTF-8 (CSV UTF-8 in Excel)")


class _Decoder:
    """Decodes bytes, replacing undecodable ones, and remembers which files needed it.

    ``fallback``: a second encoding tried before replacing (TREC files are Latin-1, but UTF-8 copies exist).
    """

    def __init__(self, encoding: str, fallback: str | None = None):
        for enc in (encoding, fallback):
            if enc is not None:
                try:
                    codecs.lookup(enc)
                except LookupError as e:
                    raise SourceError(f"encoding {enc!r} is not a known codec (e.g. 'utf-8', 'latin-1')") from e
        self.encoding, self.fallback = encoding, fallback
        self.bad: list[tuple[str, int]] = []

    def read(self, path: Path) -> str:
        data = path.read_bytes()
        if self.encoding.lower().startswith("utf-8"):
            refuse_utf16(data[:2], str(path))
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError:
            pass
        if self.fallback is not None:
            try:
                return data.decode(self.fallback)
            except UnicodeDecodeError:
                pass
        text = data.decode(self.encoding, errors="replace")
        self.bad.append((str(path), text.count("\ufffd")))
        return text

    def warn(self) -> None:
        if self.bad:
            shown = ", ".join(f"{p} ({n})" for p, n in self.bad[:5])
            if len(self.bad) > 5:
                shown += f" and {len(self.bad) - 5} more"
            warn(
                f"{len(self.bad)} file(s) had bytes that are not valid {self.encoding}; "
                f"{sum(n for _, n in self.bad)} replacement character(s) U+FFFD were put in their place: "
                f"{shown} (save them as UTF-8, or read them with load_source(..., encoding=...) in Python)",
                DataWarning,
            )


def _lines(text: str) -> list[str]:
    return [line.rstrip("\r") for line in text.split("\n")]


def _text_files(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))


def _listing(folder: Path, limit: int = 12) -> str:
    entries = sorted(folder.iterdir(), key=lambda p: p.name)
    names = [p.name + ("/" if p.is_dir() else "") for p in entries[:limit]]
    more = f" ... ({len(entries) - limit} more)" if len(entries) > limit else ""
    return (", ".join(names) + more) if names else "(empty)"


# --------------------------------------------------------------------------------------------- layouts
def _label_dirs(folder: Path, pattern: str) -> list[Path]:
    """Subfolders of ``folder`` that directly hold files matching ``pattern``. A symlink to a folder that is
    already listed (the same texts twice, under a second label) is skipped with a warning."""
    candidates = [d for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")
                  and _text_files(d, pattern)]
    seen: dict[str, Path] = {}
    for d in sorted(candidates, key=lambda d: d.is_symlink()):  # real folders first, then links
        real = os.path.realpath(d)
        if real in seen:
            warn(f"{d} is a link to {seen[real]}, which is already read as a class folder: skipped "
                 "(its texts would count twice, under a second label)", DataWarning)
            continue
        seen[real] = d
    return [d for d in candidates if seen.get(os.path.realpath(d)) == d]


def _load_class_folders(root: Path, dec: _Decoder, pattern: str) -> dict[str, TextDataset]:
    splits = [d for d in sorted(root.iterdir()) if d.is_dir() and d.name.lower() in SPLIT_NAMES]
    out: dict[str, TextDataset] = {}
    if splits:
        for split_dir in splits:
            labelled = _label_dirs(split_dir, pattern)
            names = {d.name for d in labelled}
            unsup = None
            is_imdb = {"pos", "neg"} <= names and ("unsup" in names or any(split_dir.glob("*.feat")))
            if is_imdb:
                # aclImdb: only pos/ and neg/ are labels; train/unsup holds the unlabelled reviews.
                unsup = split_dir / "unsup" if "unsup" in names else None
                labelled = [d for d in labelled if d.name in ("pos", "neg")]
            if not labelled:
                loose = _text_files(split_dir, pattern)
                if not loose:
                    raise SourceError(
                        f"split folder {split_dir} has no label folders holding {pattern} files and no {pattern} "
                        f"files of its own; found: {_listing(split_dir)}"
                    )
                # <split>/*.txt without label folders: an unlabelled split (e.g. a corpus with train/valid)
                out[split_dir.name] = TextDataset([dec.read(p) for p in loose], None)
                continue
            out[split_dir.name] = _read_labelled(labelled, dec, pattern)
            if unsup is not None:
                out["unsup"] = TextDataset([dec.read(p) for p in _text_files(unsup, pattern)], None)
        return out
    labelled = _label_dirs(root, pattern)
    if not labelled:
        raise SourceError(
            f"{root} has no label folders (expected <label>/{pattern} or <split>/<label>/{pattern}); found: "
            f"{_listing(root)}"
        )
    return {"train": _read_labelled(labelled, dec, pattern)}


def _read_labelled(label_dirs: list[Path], dec: _Decoder, pattern: str) -> TextDataset:
    texts, labels = [], []
    for d in label_dirs:
        for p in _text_files(d, pattern):
            texts.append(dec.read(p))
            labels.append(d.name)
    return TextDataset(texts, labels)


def _is_trec_file(path: Path) -> bool:
    if path.name.lower() in _TREC_FILES:
        return True
    try:
        with open(path, "rb") as f:
            first = f.readline(4096).decode("latin-1").strip()
    except OSError:
        return False
    return bool(_TREC_LINE.match(first))


def _trec_split(path: Path) -> str:
    name = path.name.lower()
    if name in _TREC_FILES:
        return _TREC_FILES[name]
    stem = path.stem.lower()
    if stem in SPLIT_NAMES:
        return stem
    return "test" if "test" in stem or "trec_10" in stem else "train"


def _load_trec_file(path: Path, dec: _Decoder, trec_labels: str) -> TextDataset:
    texts, labels = [], []
    for lineno, line in enumerate(_lines(dec.read(path)), 1):
        if not line.strip():
            continue
        m = _TREC_LINE.match(line)
        if m is None:
            raise SourceError(
                f"{path}, line {lineno}: expected 'COARSE:fine question' (TREC format), got {line[:80]!r}"
            )
        coarse, fine, question = m.groups()
        texts.append(question)
        labels.append(coarse if trec_labels == "coarse" else f"{coarse}:{fine}")
    return TextDataset(texts, labels)


def _load_trec(paths: list[Path], dec: _Decoder, trec_labels: str) -> dict[str, TextDataset]:
    out: dict[str, TextDataset] = {}
    for p in paths:
        split = _trec_split(p)
        if split in out:
            raise SourceError(f"two TREC files map to split {split!r}: {p} and another; pass one file at a time")
        out[split] = _load_trec_file(p, dec, trec_labels)
    return out


def _load_polarity(root: Path, dec: _Decoder) -> dict[str, TextDataset]:
    texts, labels = [], []
    for label in ("pos", "neg"):
        for line in _lines(dec.read(root / f"rt-polarity.{label}")):
            if line.strip():
                texts.append(line.strip())
                labels.append(label)
    return {"train": TextDataset(texts, labels)}


def _load_text(path: Path, dec: _Decoder, per_line: bool | None, pattern: str) -> dict[str, TextDataset]:
    if path.is_file():
        files, per_line = [path], True if per_line is None else per_line
    else:
        files = _text_files(path, pattern) or [
            p for p in _text_files(path, "*") if not p.name.lower().startswith("readme")
        ]
        if not files:
            raise SourceError(f"{path} holds no text files matching {pattern!r}; found: {_listing(path)}")
        per_line = False if per_line is None else per_line
    texts: list[str] = []
    for p in files:
        content = dec.read(p)
        if per_line:
            texts.extend(line for line in _lines(content) if line.strip())
        else:
            texts.append(content)
    return {"train": TextDataset(texts, None)}


# --------------------------------------------------------------------------------------------- tables
@dataclass
class _TableOptions:
    text_cols: list[str] | None
    label_col: str | None
    label_delim: str | None
    on_missing: str


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true/false",
               type(None): "null", dict: "an object"}


def iter_json_lines(lines: Iterable[str], where: str, error: type[Exception] = SourceError
                    ) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line of a JSON-lines text; a line that is not JSON or
    not an object raises ``error`` naming ``where`` and the line (training's reader and predict's share it)."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise error(f"{where} line {number}: invalid JSON ({e.msg})") from e
        if not isinstance(obj, dict):
            raise error(f"{where} line {number}: not a JSON object (got {_JSON_TYPES.get(type(obj), 'a value')})")
        yield number, obj


def _separator_hint(columns: list[str]) -> str:
    """For a header read as one column that holds ``;`` or ``|`` (another separator): what to do, else ``""``."""
    sep = next((s for s in ";|" if len(columns) == 1 and s in columns[0]), None)
    return (f" (one column named {columns[0]!r}: the file seems separated by '{sep}', but a .csv file is read "
            "with commas and a .tsv file with tabs; save it with one of those)") if sep else ""


def _pick_columns(path: Path, columns: list[str], opts: _TableOptions) -> tuple[list[str], str | None]:
    text_cols = opts.text_cols
    if text_cols is None:
        if "text" not in columns:
            raise SourceError(
                f"{path}: no 'text' column; name the text column(s) (--text-col NAME in the shell, "
                f"load_source(..., text_cols=[...]) in Python) among the columns found: {', '.join(columns)}"
                f"{_separator_hint(columns)}"
            )
        text_cols = ["text"]
    for c in text_cols:
        if c not in columns:
            raise SourceError(f"{path}: unknown text column {c!r} (--text-col / text_cols=); columns found: "
                              f"{', '.join(columns)}")
    label_col = opts.label_col
    if label_col is None:
        label_col = "label" if "label" in columns else None
    elif label_col not in columns:
        raise SourceError(f"{path}: unknown label column {label_col!r} (--label-col / label_col=); columns found: "
                          f"{', '.join(columns)}")
    return text_cols, label_col


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def _rows_to_dataset(path: Path, rows, columns: list[str], opts: _TableOptions, first_line: int) -> TextDataset:
    """rows: iterable of dicts; first_line: file line number of the first row (for messages)."""
    text_cols, label_col = _pick_columns(path, columns, opts)
    if "split" in columns and "split" not in text_cols + [label_col]:
        warn(f"{path}: its 'split' column is not read: one file is one split (named after the file: train.csv, "
             "test.csv, ...), so give each split its own file", DataWarning)
    texts: list[str] = []
    labels: list = []
    dropped = 0
    used = text_cols + ([label_col] if label_col else [])
    for i, row in enumerate(rows):
        missing = [c for c in used if _missing(row.get(c))]
        if label_col and opts.label_delim is not None and label_col in missing and row.get(label_col) == "":
            missing.remove(label_col)  # an empty multi-label cell means "no labels"
        if missing:
            if opts.on_missing == "drop":
                dropped += 1
                continue
            raise SourceError(
                f"{path}: row {i + 1} (line {first_line + i}) has no value in column {missing[0]!r}; fix the "
                "file, or skip such rows (--on-missing drop in the shell, load_source(..., on_missing='drop') in "
                "Python)"
            )
        for c in used:  # JSONL and HF values: CSV/TSV cells are always strings
            value = row[c]
            if isinstance(value, dict) or (isinstance(value, (list, bool)) and c != label_col):  # true: a label
                raise SourceError(f"{path}: row {i + 1} (line {first_line + i}), column {c!r} holds "
                                  f"{_JSON_TYPES[type(value)]} ({json.dumps(value, default=str)[:60]}); a "
                                  + ("label must be a string, number or true/false (or, multi-label, an array of them)"
                                     if c == label_col else "text must be a string or a number"))
        values = [str(row[c]) for c in text_cols]
        if len(values) == 1:
            texts.append(values[0])
        else:
            # fastai's _join_texts with mark_fields: "xxfld 1 a xxfld 2 b"
            texts.append(" ".join(f"{FLD} {k + 1} {v}" for k, v in enumerate(values)))
        if label_col:
            raw = row[label_col]
            if isinstance(raw, list):  # a JSON list of labels (JSONL): multi-label as it stands
                labels.append([str(v).strip() for v in raw if str(v).strip()])
            elif opts.label_delim is not None:
                labels.append([s.strip() for s in str(raw).split(opts.label_delim) if s.strip()])
            else:
                labels.append(str(raw))
    if dropped:
        warn(f"{path}: dropped {dropped} row(s) with missing values (on_missing='drop')", DataWarning)
    return TextDataset(texts, labels if label_col else None)


def _load_table_file(path: Path, dec: _Decoder, opts: _TableOptions) -> TextDataset:
    content = dec.read(path)
    if content.startswith("\ufeff"):
        content = content[1:]
    if path.suffix.lower() == ".jsonl":
        records, columns = [], []
        seen = set()
        for _, obj in iter_json_lines(content.split("\n"), str(path)):
            records.append(obj)
            for k in obj:
                if k not in seen:
                    seen.add(k)
                    columns.append(k)
        return _rows_to_dataset(path, records, columns, opts, first_line=1)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # single documents can be megabytes long
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter)
    columns = list(reader.fieldnames or [])
    if not columns:
        raise SourceError(f"{path}: no header row found (a CSV/TSV source needs named columns)")
    return _rows_to_dataset(path, reader, columns, opts, first_line=2)


def _table_files(root: Path) -> list[Path]:
    return [p for p in sorted(root.iterdir()) if p.is_file() and p.suffix.lower() in _TABLE_SUFFIXES]


def _load_tables(paths: list[Path], dec: _Decoder, opts: _TableOptions) -> dict[str, TextDataset]:
    if len(paths) == 1:
        stem = paths[0].stem.lower()
        return {stem if stem in SPLIT_NAMES else "train": _load_table_file(paths[0], dec, opts)}
    out: dict[str, TextDataset] = {}
    for p in paths:
        stem = p.stem.lower()
        if stem not in SPLIT_NAMES:
            continue
        if stem in out:
            raise SourceError(f"two table files give split {stem!r} in {p.parent}; keep one")
        out[stem] = _load_table_file(p, dec, opts)
    if not out:
        raise SourceError(
            f"{paths[0].parent} holds several table files but none named after a split ({', '.join(SPLIT_NAMES)}); "
            "pass one file as the source"
        )
    return out


# --------------------------------------------------------------------------------------------- detection
def _descend(root: Path) -> Path:
    """Step into a lone subfolder (an archive's top folder such as ``aclImdb/`` or ``qc/``), never into a
    split folder: a lone ``test/`` stays the test split, not the data."""
    while True:
        entries = [p for p in root.iterdir() if not p.name.startswith(".") and not p.name.startswith("__MACOSX")]
        dirs = [p for p in entries if p.is_dir()]
        files = [p for p in entries if p.is_file() and not p.name.lower().startswith("readme")]
        if len(dirs) == 1 and not files and dirs[0].name.lower() not in SPLIT_NAMES:
            root = dirs[0]
        else:
            return root


def _detect(root: Path, pattern: str) -> str:
    if root.is_file():
        if root.suffix.lower() in _TABLE_SUFFIXES:
            return "table"
        if _is_trec_file(root):
            return "trec"
        return "text"
    if (root / "rt-polarity.pos").is_file() and (root / "rt-polarity.neg").is_file():
        return "polarity"
    files = [p for p in sorted(root.iterdir()) if p.is_file()]
    if any(p.name.lower() in _TREC_FILES for p in files):
        return "trec"
    if _table_files(root):
        return "table"
    candidates = [p for p in files if p.suffix.lower() in (".txt", ".label")]
    if candidates and all(_is_trec_file(p) for p in candidates) and {_trec_split(p) for p in candidates} <= set(
        SPLIT_NAMES
    ) and any(p.stem.lower() in SPLIT_NAMES or p.suffix.lower() == ".label" for p in candidates):
        return "trec"
    if any(d.is_dir() and d.name.lower() in SPLIT_NAMES for d in root.iterdir()) or _label_dirs(root, pattern):
        return "folders"
    if _text_files(root, pattern) or files:
        return "text"
    raise SourceError(
        f"cannot tell the layout of {root}: found {_listing(root)}; accepted layouts: <label>/*.txt folders, "
        "<split>/<label>/*.txt (aclImdb), TREC label files, rt-polarity.pos/.neg, .csv/.tsv/.jsonl, plain text"
    )


def _download_builtin(name: str, progress: bool) -> Path:
    from ulmfit.hub.download import cache_dir, download, fetch

    if name == "imdb":
        return fetch(IMDB_URL, progress=progress)
    folder = cache_dir() / "trec"
    for url in TREC_URLS.values():
        download(url, dest_dir=folder, progress=progress)
    return folder


def _load_hf_hub(name: str, hf_config, hf_kwargs):
    """The Hub dataset ``name`` (offline: from the cache only, at once); a failure names the source."""
    from ulmfit.hub.hf import HubDatasetError, load_hub_dataset

    try:
        return load_hub_dataset(name, hf_config, **(hf_kwargs or {}))
    except HubDatasetError as err:
        raise SourceError(f"source 'hf:{name}': {err.reason}; download it once with a network, or pass a folder "
                          f"saved with Dataset.save_to_disk as hf:PATH") from err


def _load_hf(name: str, split, text_cols, label_col, label_delim, hf_config, hf_kwargs) -> dict[str, TextDataset]:
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a declared dependency
        raise SourceError(f"source 'hf:{name}' needs the 'datasets' package: pip install datasets") from e
    if not name:
        raise SourceError("source 'hf:' needs a dataset name or a save_to_disk folder, e.g. 'hf:imdb'")
    if Path(name).is_dir():
        ds = datasets.load_from_disk(name)
    else:
        ds = _load_hf_hub(name, hf_config, hf_kwargs)
    if isinstance(ds, datasets.Dataset):
        ds = {"train": ds}
    out: dict[str, TextDataset] = {}
    for split_name, part in ds.items():
        if split is not None and split_name not in split:
            continue
        columns = list(part.column_names)
        opts = _TableOptions(text_cols, label_col, label_delim, "error")
        where = Path(f"hf:{name}[{split_name}]")
        tcols, lcol = _pick_columns(where, columns, opts)
        col_values = [part[c] for c in tcols]
        texts = []
        for k, values in enumerate(zip(*col_values)):
            if any(v is None for v in values):
                raise SourceError(f"{where}: row {k + 1} has no value in one of the columns {tcols}")
            vals = [str(v) for v in values]
            texts.append(vals[0] if len(vals) == 1 else " ".join(f"{FLD} {i + 1} {v}" for i, v in enumerate(vals)))
        labels = None
        if lcol is not None:
            labels = _hf_labels(part, lcol, label_delim, where)
        out[split_name] = TextDataset(texts, labels)
    return out


def _hf_labels(part, lcol: str, label_delim: str | None, where: Path):
    import datasets

    feature = part.features[lcol]
    raw = part[lcol]
    inner = getattr(feature, "feature", None)
    if isinstance(feature, datasets.ClassLabel):
        if all(v == -1 for v in raw):
            return None  # e.g. an unlabelled test split
        if any(v == -1 for v in raw):
            raise SourceError(f"{where}: some rows have no label (-1) in column {lcol!r}")
        return [feature.int2str(int(v)) for v in raw]
    if isinstance(inner, datasets.ClassLabel) or isinstance(feature, list):
        names = inner if isinstance(inner, datasets.ClassLabel) else (
            feature[0] if feature and isinstance(feature[0], datasets.ClassLabel) else None
        )
        return [[names.int2str(int(v)) if names else str(v) for v in vals] for vals in raw]
    if raw and isinstance(raw[0], list):
        return [[str(v) for v in vals] for vals in raw]
    if any(v is None for v in raw):
        raise SourceError(f"{where}: some rows have no value in label column {lcol!r}")
    if label_delim is not None:
        return [[s.strip() for s in str(v).split(label_delim) if s.strip()] for v in raw]
    return [str(v) for v in raw]


# --------------------------------------------------------------------------------------------- public
def load_source(
    source: str | Path,
    *,
    split: str | Sequence[str] | None = None,
    layout: str = "auto",
    text_col: str | None = None,
    text_cols: Sequence[str] | None = None,
    label_col: str | None = None,
    label_delim: str | None = None,
    trec_labels: str = "coarse",
    per_line: bool | None = None,
    pattern: str = "*.txt",
    encoding: str | None = None,
    on_missing: str = "error",
    hf_config: str | None = None,
    hf_kwargs: dict | None = None,
    progress: bool = True,
) -> dict[str, TextDataset]:
    """Load a text source into ``{split: TextDataset}`` (see the module docstring for sources and layouts).

    Args:
        source: a built-in name (``imdb``, ``trec6``, ``trec50``), a local path, or ``hf:NAME``.
        split: keep only this split (or these splits); an unknown split is an error listing the available ones.
        layout: ``"auto"`` or one of ``LAYOUTS`` to skip detection.
        text_col / text_cols: table/HF text column(s) (default ``"text"``); several are joined with xxfld marks.
        label_col: table/HF label column (default ``"label"`` when present, else unlabelled).
        label_delim: split label cells on this delimiter (multi-label).
        trec_labels: ``"coarse"`` (TREC-6) or ``"fine"`` (TREC-50, ``COARSE:fine``).
        per_line: plain text: one document per line (default for a file) or per file (default for a folder).
        pattern: glob for text files in folders.
        encoding: text encoding (default utf-8, with a Latin-1 fallback for TREC files); bytes that do not
            decode are replaced (U+FFFD) and counted in a warning naming the files.
        on_missing: ``"error"`` or ``"drop"`` (with a warning count) for rows missing a table value.
        hf_config, hf_kwargs: passed to ``datasets.load_dataset``.
    """
    if layout not in LAYOUTS:
        raise SourceError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if trec_labels not in ("coarse", "fine"):
        raise SourceError(f"trec_labels must be 'coarse' or 'fine', got {trec_labels!r}")
    if on_missing not in ("error", "drop"):
        raise SourceError(f"on_missing must be 'error' or 'drop', got {on_missing!r}")
    if text_col is not None and text_cols is not None:
        raise SourceError("pass either text_col or text_cols, not both")
    if isinstance(text_cols, str):  # one column, as split= takes one name
        text_cols = [text_cols]
    cols = [text_col] if text_col is not None else (list(text_cols) if text_cols is not None else None)
    if cols is not None and (not cols or not all(isinstance(c, str) for c in cols)):
        raise SourceError(f"text_cols must be a non-empty list of column names, got {text_cols!r}")
    wanted = None if split is None else ([split] if isinstance(split, str) else list(split))

    name = str(source)
    if name.startswith("hf:"):
        out = _load_hf(name[3:], wanted, cols, label_col, label_delim, hf_config, hf_kwargs)
        return _finish(out, wanted, name)

    path = Path(name).expanduser()
    if not path.exists():
        key = name.lower()
        if key in BUILTIN_SOURCES:
            path = _download_builtin(key, progress)
            if key.startswith("trec"):
                trec_labels = "fine" if key == "trec50" else "coarse"
        else:
            raise SourceError(
                f"source {name!r} is neither a built-in name ({', '.join(BUILTIN_SOURCES)}), an existing path, "
                "nor 'hf:NAME'"
            )
    if path.is_file() and path.name.lower().endswith(_ARCHIVE_SUFFIXES):
        path = extract_local(path)
    if path.is_dir():
        path = _descend(path)

    kind = _detect(path, pattern) if layout == "auto" else layout
    if encoding is not None:
        dec = _Decoder(encoding)
    else:
        dec = _Decoder("utf-8", fallback="latin-1" if kind == "trec" else None)
    if kind in ("imdb", "folders"):
        if not path.is_dir():
            raise SourceError(f"layout {kind!r} needs a folder, got the file {path}")
        out = _load_class_folders(path, dec, pattern)
    elif kind == "trec":
        if path.is_file():
            paths = [path]
        else:
            paths = [p for p in sorted(path.iterdir()) if p.is_file() and p.suffix.lower() in (".txt", ".label")
                     and _is_trec_file(p)]
            if not paths:
                raise SourceError(f"{path} holds no TREC label files ('COARSE:fine question'); found {_listing(path)}")
        out = _load_trec(paths, dec, trec_labels)
    elif kind == "polarity":
        root = path.parent if path.is_file() else path
        if not (root / "rt-polarity.pos").is_file() or not (root / "rt-polarity.neg").is_file():
            raise SourceError(f"layout 'polarity' needs rt-polarity.pos and rt-polarity.neg in {root}")
        out = _load_polarity(root, dec)
    elif kind == "table":
        paths = [path] if path.is_file() else _table_files(path)
        if not paths:
            raise SourceError(f"{path} holds no .csv/.tsv/.jsonl files; found {_listing(path)}")
        out = _load_tables(paths, dec, _TableOptions(cols, label_col, label_delim, on_missing))
    else:
        out = _load_text(path, dec, per_line, pattern)
    dec.warn()
    return _finish(out, wanted, name)


def _finish(out: dict[str, TextDataset], wanted: list[str] | None, name: str) -> dict[str, TextDataset]:
    if wanted is not None:
        missing = [s for s in wanted if s not in out]
        if missing:
            raise SourceError(f"source {name!r} has no split {missing[0]!r}; available: {sorted(out)}")
        out = {s: out[s] for s in wanted}
    for split_name, ds in out.items():
        empty = [i for i, t in enumerate(ds.texts) if not t.strip()]
        if empty:
            shown = ", ".join(map(str, empty[:10])) + (" ..." if len(empty) > 10 else "")
            warn(
                f"source {name!r}, split {split_name!r}: {len(empty)} empty or whitespace-only text(s) kept "
                f"(indices {shown})",
                DataWarning,
            )
    return out


def split_train_valid(dataset: TextDataset, valid_pct: float = 0.1, seed: int = 0) -> tuple[TextDataset, TextDataset]:
    """Seeded random split by :func:`ulmfit.data.split.holdout_split` (``round(valid_pct * N)`` items, at
    least one, go to validation). Returns ``(train, valid)`` in the original order; the same seed gives the
    same split."""
    if not 0.0 < valid_pct < 1.0:
        raise ValueError(f"valid_pct must be in (0, 1), got {valid_pct!r}")
    train_idx, valid_idx = holdout_split(len(dataset), valid_pct, seed)
    return dataset.subset(sorted(train_idx.tolist())), dataset.subset(sorted(valid_idx.tolist()))
