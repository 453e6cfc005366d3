"""What ``ulmfit predict`` reads and writes: texts from arguments, a file or stdin, as lines or CSV/TSV/JSONL,
classified batch by batch and written as text lines, CSV/TSV or JSONL.

Input (``--file PATH``, ``-`` or nothing for stdin; ``--format``):

* ``lines``: one text per line (the newline removed; an empty line is an empty text);
* ``csv`` / ``tsv``: a header row naming the columns, then one text per row (the header is never classified);
* ``jsonl``: one JSON object per line (blank lines are skipped; any other line that is not an object is an error).

Columns follow training's rules (:mod:`ulmfit.data.sources`): ``--text-col`` may be repeated and several columns
are joined as training joins them (``xxfld 1 <col1> xxfld 2 <col2>``); without it the ``text`` column is used, or
the only column of the first batch holding text (the id column and a ``label`` column are not candidates).
Label columns are ignored. ``--id-col`` (default ``id`` when present) is copied to the output. Training loads a
whole table at once, so this module has its own streaming reader: ``batch_size`` records are read, classified and
written at a time, and memory stays bounded for files of any size.

Bytes that are not UTF-8 become U+FFFD whatever the locale says, and lone surrogates (a non-UTF-8 byte in an
argument) are replaced too, so every text is classified and can be printed back.

Output (``--output PATH``, default stdout; ``--output-format``):

* ``text``: ``label<TAB>probability<TAB>text`` per text (multi-label: ``label1,label2<TAB>text``, ``-`` for none);
* ``csv`` / ``tsv``: ``[id,] [text,] label, probability, prob_<class>...`` (no ``probability`` for
  multi-label, whose ``label`` cell holds the labels joined by ``,``);
* ``jsonl``: ``{"id": ..., "text": ..., "label": ..., "probabilities": {class: p}}`` (multi-label: a list of
  labels).

``--no-text`` leaves the text out; ``--keep-columns`` copies every input column in front of the predictions (an
input column named like a prediction field is written as ``input_<name>``). A file given to ``--output`` is
written atomically: it appears complete or not at all.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ulmfit.data.sources import FLD, iter_json_lines, refuse_utf16
from ulmfit.errors import UsageError
from ulmfit.hub.atomic import atomic_write
from ulmfit.text.tokenizer import replace_unencodable

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "Predictor",
    "add_predict_arguments",
    "run_predict",
]

INPUT_FORMATS = ("auto", "lines", "csv", "tsv", "jsonl")
OUTPUT_FORMATS = ("auto", "text", "csv", "tsv", "jsonl")
DEFAULT_BATCH_SIZE = 256
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
_PROG = "ulmfit predict"
_SHOWN = 10  # record numbers listed in a warning


class Predictor(Protocol):
    """What :func:`run_predict` needs of a classifier (``TextClassifier`` and ``ClassifierEnsemble`` have it)."""

    classes: list[str]
    multi_label: bool

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """texts: N strings -> probabilities (N, C), columns in ``classes`` order."""

    def decide(self, probs: np.ndarray) -> list:
        """probs (N, C) -> N labels (multi-label: N lists of labels)."""


# --------------------------------------------------------------------------------------------- arguments
def _batch_size(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}")
    return n


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``ulmfit predict`` to its sub-parser ``p`` (see the module docstring)."""
    p.add_argument("model", type=Path, help="classifier folder")
    p.add_argument("texts", nargs="*", help="texts to classify (default: --file, else the lines of stdin)")
    p.add_argument("--file", type=Path, default=None, metavar="PATH", help="input file ('-': stdin)")
    p.add_argument("--format", choices=INPUT_FORMATS, default="auto",
                   help="input format (auto: .csv/.tsv/.jsonl/.json by suffix, anything else and stdin: lines)")
    p.add_argument("--text-col", action="append", dest="text_cols", default=None, metavar="NAME",
                   help="CSV/TSV/JSONL text column (repeat for several; they are joined with xxfld, as in "
                        "training; default: 'text', else the only text column)")
    p.add_argument("--id-col", default=None, metavar="NAME",
                   help="CSV/TSV/JSONL column copied to the output to identify each row (default: 'id' if present)")
    p.add_argument("--output", type=Path, default=None, metavar="PATH", help="output file (default: stdout)")
    p.add_argument("--output-format", choices=OUTPUT_FORMATS, default="auto",
                   help="auto: by --output's suffix (.csv/.tsv/.jsonl/.json), else text")
    p.add_argument("--json", action="store_true", help="same as --output-format jsonl")
    p.add_argument("--batch-size", type=_batch_size, default=DEFAULT_BATCH_SIZE, metavar="N",
                   help=f"texts read, classified and written at a time (default {DEFAULT_BATCH_SIZE})")
    p.add_argument("--keep-columns", action="store_true", help="copy every input column to CSV/TSV/JSONL output")
    p.add_argument("--no-text", action="store_true", help="leave the text out of CSV/TSV/JSONL output")


def _is_stdio(path: Path | None) -> bool:
    return path is None or str(path) == "-"


def _output_format(args) -> str:
    fmt = args.output_format
    if args.json:
        if fmt not in ("auto", "jsonl"):
            raise UsageError(f"--json means --output-format jsonl; it conflicts with --output-format {fmt}")
        return "jsonl"
    if fmt != "auto":
        return fmt
    if not _is_stdio(args.output):
        return _SUFFIX_FORMATS.get(args.output.suffix.lower(), "text")
    return "text"


def _input_format(args) -> str:
    if args.texts:
        if args.file is not None:
            raise UsageError(f"give texts as arguments or --file {args.file}, not both")
        if args.format not in ("auto", "lines"):
            raise UsageError(f"--format {args.format} needs --file or stdin (texts given as arguments are lines)")
        return "lines"
    if args.format != "auto":
        return args.format
    if _is_stdio(args.file):
        return "lines"
    return _SUFFIX_FORMATS.get(args.file.suffix.lower(), "lines")


# --------------------------------------------------------------------------------------------- reading
@dataclass
class _Record:
    number: int                # line of the file where the record starts, or position of the argument (1-based)
    values: dict[str, Any]     # column -> value as read (str for lines/CSV/TSV, any JSON value for JSONL)


@dataclass
class _Table:
    name: str                  # the input as messages name it: the file as given, "stdin" or "arguments"
    kind: str                  # "lines", "csv", "tsv" or "jsonl"
    records: Iterator[_Record]
    header: list[str] | None   # CSV/TSV header and lines' ["text"]; None for JSONL (keys of the first batch)

    @property
    def unit(self) -> str:
        return "argument" if self.name == "arguments" else "line"


_UNDECODABLE = [0]  # bytes replaced by U+FFFD so far in this process, counted by the error handler below


def _replace_counted(err: UnicodeDecodeError) -> tuple[str, int]:
    _UNDECODABLE[0] += err.end - err.start
    return "\ufffd", err.end


codecs.register_error("ulmfit-replace-counted", _replace_counted)


@contextmanager
def _text_stream(path: Path | None, encoding: str, newline: str | None) -> Iterator[io.TextIOBase]:
    """A file or stdin decoded as ``encoding`` with invalid bytes replaced by U+FFFD, whatever the locale says;
    a warning at the end says how many bytes were replaced (training's readers warn the same way).

    A ``sys.stdin`` without a byte ``buffer`` (a test's ``io.StringIO``) is read as it is.
    """
    before = _UNDECODABLE[0]
    if path is not None and encoding.startswith("utf-8"):
        with open(path, "rb") as f:
            refuse_utf16(f.read(2), f"--file {path}")
    try:
        if path is not None:
            with open(path, encoding=encoding, errors="ulmfit-replace-counted", newline=newline) as f:
                yield f
            return
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is None:
            yield sys.stdin
            return
        stream = io.TextIOWrapper(buffer, encoding=encoding, errors="ulmfit-replace-counted", newline=newline)
        try:
            yield stream
        finally:
            stream.detach()  # closing the wrapper must not close sys.stdin's buffer
    finally:
        replaced = _UNDECODABLE[0] - before
        if replaced:
            _warn(f"{'stdin' if path is None else path}: {replaced} byte(s) are not valid {encoding.split('-sig')[0]} "
                  "and were read as U+FFFD (the texts were classified with it); save the file as UTF-8 to classify "
                  "them as written")


def _line_records(lines) -> Iterator[_Record]:
    for number, line in enumerate(lines, 1):
        yield _Record(number, {"text": line.rstrip("\n")})


def _csv_table(stream, name: str, kind: str) -> _Table:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # single documents can be megabytes long
    reader = csv.reader(stream, delimiter="\t" if kind == "tsv" else ",")
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise UsageError(f"{name} line 1: {e}") from e
    if not header:
        raise UsageError(f"{name}: no header row (a {kind.upper()} input needs a first row naming its columns)")
    seen: set[str] = set()
    for col in header:
        if col in seen:
            raise UsageError(f"{name}: column {col!r} appears twice in the header ({', '.join(header)})")
        seen.add(col)

    def records() -> Iterator[_Record]:
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise UsageError(f"{name} line {start}: {e}") from e
            if not row:
                continue  # a blank line, as csv.DictReader (and so training) skips it
            if len(row) > len(header):
                sep = "tab" if kind == "tsv" else "comma"
                raise UsageError(f"{name} line {start}: {len(row)} fields but the header has {len(header)} "
                                 f"({', '.join(header)}); quote cells that hold a {sep}")
            yield _Record(start, dict(zip(header, row)))  # a short row's missing cells are empty

    return _Table(name, kind, records(), header)


def _jsonl_records(stream, name: str) -> Iterator[_Record]:
    for number, obj in iter_json_lines(stream, name, error=UsageError):
        yield _Record(number, obj)


@contextmanager
def _read_input(args, kind: str) -> Iterator[_Table]:
    if args.texts:
        yield _Table("arguments", "lines", _line_records(args.texts), ["text"])
        return
    path = None if _is_stdio(args.file) else args.file
    name = "stdin" if path is None else str(path)
    if path is not None and not path.exists():
        raise UsageError(f"--file {path} not found")
    if path is not None and path.is_dir():
        raise UsageError(f"--file {path} is a folder; give a file of texts")
    if kind == "lines":
        with _text_stream(path, "utf-8", None) as stream:
            yield _Table(name, kind, _line_records(stream), ["text"])
        return
    # utf-8-sig drops a byte-order mark, as training's table reader does; CSV needs newline="" for quoted newlines
    with _text_stream(path, "utf-8-sig", "" if kind in ("csv", "tsv") else None) as stream:
        if kind == "jsonl":
            yield _Table(name, kind, _jsonl_records(stream, name), None)
        else:
            yield _csv_table(stream, name, kind)


# --------------------------------------------------------------------------------------------- columns
def _cell(value: Any) -> str:
    """A text cell as training reads it (``str(value)``), a missing one (None, absent key) as ``""``."""
    return "" if value is None else value if isinstance(value, str) else str(value)


def _join_fields(cells: list[str]) -> str:
    """Several text columns joined as training joins them (fastai's mark_fields): ``xxfld 1 a xxfld 2 b``."""
    return cells[0] if len(cells) == 1 else " ".join(f"{FLD} {k + 1} {v}" for k, v in enumerate(cells))


def _looks_like_text(value: Any) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False  # a number written as a string, e.g. a CSV score or id column


def _columns(table: _Table, first_batch: list[_Record], text_cols: list[str] | None, id_col: str | None) -> list[str]:
    if table.header is not None:
        return table.header
    if not first_batch:  # an empty JSONL input: nothing to check the columns against
        return [*(text_cols or ["text"]), *([id_col] if id_col else [])]
    columns: dict[str, None] = {}
    for record in first_batch:
        columns.update(dict.fromkeys(record.values))
    return list(columns)


def _pick_columns(table: _Table, columns: list[str], first_batch: list[_Record], text_cols: list[str] | None,
                  id_col: str | None) -> tuple[list[str], str | None]:
    """(text columns, id column): training's rules, plus a default for files without a ``text`` column."""
    listing = ", ".join(columns) if columns else "none"
    if table.kind == "lines":
        for flag, value in (("--text-col", text_cols and text_cols[0]), ("--id-col", id_col)):
            if value:
                raise UsageError(f"{flag} {value}: {table.name} is read as lines, which have no columns "
                                 "(pass --format csv, tsv or jsonl)")
        return ["text"], None
    if id_col is not None and id_col not in columns:
        raise UsageError(f"--id-col {id_col}: no such column in {table.name} (columns: {listing})")
    if id_col is None and "id" in columns:
        id_col = "id"
    if text_cols:
        for col in text_cols:
            if col not in columns:
                raise UsageError(f"--text-col {col}: no such column in {table.name} (columns: {listing})")
        return list(text_cols), id_col
    if "text" in columns:
        return ["text"], id_col
    candidates = [c for c in columns if c not in (id_col, "label")
                  and (not first_batch or any(_looks_like_text(r.values.get(c)) for r in first_batch))]
    if len(candidates) == 1:
        return candidates, id_col
    found = f"{len(candidates)} text columns ({', '.join(candidates)})" if candidates else "no text column"
    raise UsageError(f"{table.name} has no 'text' column and {found}; pass --text-col NAME (columns: {listing})")


@dataclass
class _Layout:
    """Which fields each output record has, in order, and where their values come from."""

    fmt: str
    classes: list[str]
    multi_label: bool
    text_cols: list[str]
    copied: list[tuple[str, str]]           # (input column, output name); the text column is "" -> "text"
    text_last: bool                         # a "text" field after the copied columns
    known: frozenset[str]                   # the input columns (JSONL: the keys of the first batch)
    unknown: dict[str, None] = field(default_factory=dict)  # JSONL keys first seen after the first batch

    @classmethod
    def build(cls, table: _Table, first_batch: list[_Record], args, fmt: str, clf: Predictor) -> _Layout:
        columns = _columns(table, first_batch, args.text_cols, args.id_col)
        text_cols, id_col = _pick_columns(table, columns, first_batch, args.text_cols, args.id_col)
        with_text = not args.no_text
        if args.keep_columns:
            # the one text column named "text" is written in place (as classified); other text columns are
            # kept as read and the classified text, if wanted, follows them
            in_place = with_text and text_cols == ["text"]
            wanted = [c for c in columns if with_text or c not in text_cols]
            text_last = with_text and not in_place
        else:
            in_place = False
            wanted = [id_col] if id_col is not None else []
            text_last = with_text
        reserved = {"label", "probability", "probabilities", *(f"prob_{c}" for c in clf.classes)}
        if text_last:
            reserved.add("text")
        copied = []
        for col in wanted:
            if in_place and col == "text":
                copied.append(("", "text"))
                continue
            name = col
            while name in reserved:
                name = f"input_{name}"
            reserved.add(name)
            copied.append((col, name))
        return cls(fmt, list(clf.classes), bool(clf.multi_label), text_cols, copied, text_last, frozenset(columns))

    def header(self) -> list[str]:
        """CSV/TSV column names."""
        names = [name for _, name in self.copied] + (["text"] if self.text_last else []) + ["label"]
        if not self.multi_label:
            names.append("probability")
        return names + [f"prob_{c}" for c in self.classes]

    def format_header(self) -> str:
        buf = io.StringIO()
        self._csv_writer(buf).writerow(self.header())
        return buf.getvalue()

    def _csv_writer(self, buf: io.StringIO):
        return csv.writer(buf, delimiter="\t" if self.fmt == "tsv" else ",", lineterminator="\n")

    def text(self, record: _Record) -> str:
        return replace_unencodable(_join_fields([_cell(record.values.get(c)) for c in self.text_cols]))

    def note_unknown(self, record: _Record) -> None:
        """Remember the keys of a JSONL record that no output column copies (it came after the first batch)."""
        self.unknown.update(dict.fromkeys(k for k in record.values if k not in self.known))

    # ------------------------------------------------------------------ one batch -> output text
    def format(self, batch: list[_Record], texts: list[str], labels: list, probs: np.ndarray) -> str:
        if self.fmt == "text":
            if self.multi_label:
                lines = [f"{','.join(label) or '-'}\t{text}" for text, label in zip(texts, labels)]
            else:
                lines = [f"{label}\t{row.max():.3f}\t{text}" for text, label, row in zip(texts, labels, probs)]
            return "".join(line + "\n" for line in lines)
        if self.fmt == "jsonl":
            out = []
            for record, text, label, row in zip(batch, texts, labels, probs):
                obj = self._copied(record, text, missing=_ABSENT)
                obj["label"] = list(label) if self.multi_label else label
                obj["probabilities"] = dict(zip(self.classes, map(float, row)))
                out.append(json.dumps(obj, ensure_ascii=False) + "\n")
            return "".join(out)
        buf = io.StringIO()
        writer = self._csv_writer(buf)
        for record, text, label, row in zip(batch, texts, labels, probs):
            cells = [_csv_value(v) for v in self._copied(record, text, missing=None).values()]
            cells.append(",".join(label) if self.multi_label else label)
            if not self.multi_label:
                cells.append(str(row.max()))
            writer.writerow(cells + [str(p) for p in row])  # numpy's shortest repr: 0.9, not 0.8999999761581421
        return buf.getvalue()

    def _copied(self, record: _Record, text: str, missing: Any) -> dict[str, Any]:
        obj = {}
        for col, name in self.copied:
            value = text if not col else record.values.get(col, missing)
            if value is not _ABSENT:
                obj[name] = value
        if self.text_last:
            obj["text"] = text
        return obj


_ABSENT = object()  # a JSONL key a record does not have: left out of its JSONL output


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------------------------- predicting
def _batches(records: Iterator[_Record], size: int) -> Iterator[list[_Record]]:
    while batch := list(islice(records, size)):
        yield batch


def _warn(message: str) -> None:
    print(f"{_PROG}: warning: {message}", file=sys.stderr)


def _numbers(unit: str, numbers: list[int], total: int) -> str:
    shown = ", ".join(map(str, numbers)) + (" ..." if total > len(numbers) else "")
    return f"{unit}{'s' if total > 1 else ''} {shown}"


def _predict_stream(table: _Table, clf: Predictor, args, fmt: str, out) -> int:
    layout = None
    n = 0
    empty: list[int] = []
    n_empty = 0
    for batch in _batches(table.records, args.batch_size):
        if layout is None:
            layout = _Layout.build(table, batch, args, fmt, clf)
            if fmt in ("csv", "tsv"):
                out.write(layout.format_header())
        texts = [layout.text(r) for r in batch]
        probs = np.asarray(clf.predict_proba(texts))
        if probs.shape != (len(texts), len(layout.classes)):
            raise ValueError(f"the classifier returned probabilities of shape {probs.shape} for {len(texts)} texts "
                             f"and {len(layout.classes)} classes")
        labels = clf.decide(probs)
        for record in batch:
            if args.keep_columns and table.kind == "jsonl":
                layout.note_unknown(record)
            if not any(_cell(record.values.get(c)).strip() for c in layout.text_cols):
                n_empty += 1
                if len(empty) < _SHOWN:
                    empty.append(record.number)
        # a lone surrogate can still come from a JSON escape in a copied column
        out.write(replace_unencodable(layout.format(batch, texts, labels, probs)))
        out.flush()
        n += len(batch)
    if layout is None and fmt in ("csv", "tsv"):
        layout = _Layout.build(table, [], args, fmt, clf)
        out.write(layout.format_header())
        out.flush()
    if n == 0 and table.name != "arguments":
        header = table.header and table.kind in ("csv", "tsv")  # lines get the header ["text"] without a header row
        _warn(f"{table.name}: no texts to classify (the input is empty{' but for its header' if header else ''})")
    if n_empty:
        _warn(f"{table.name}: {n_empty} empty text(s) classified as empty strings "
              f"({_numbers(table.unit, empty, n_empty)})")
    if layout is not None and layout.unknown:
        _warn(f"{table.name}: column(s) {', '.join(layout.unknown)} first appear after the first "
              f"{args.batch_size} records and were not copied (--keep-columns takes the columns of the first batch; "
              "raise --batch-size to include them)")
    return n


def run_predict(args: argparse.Namespace, classifier: Predictor) -> int:
    """Classify the texts ``args`` names (parsed by :func:`add_predict_arguments`) with ``classifier`` and write
    the predictions; returns the number of texts classified.

    Raises :class:`~ulmfit.errors.UsageError` (one line naming the flag and the file) for a missing file, an
    unknown column, a JSONL line that is not a JSON object, or flags that do not go together.
    """
    fmt = _output_format(args)
    kind = _input_format(args)
    if fmt == "text":
        for flag, given in (("--keep-columns", args.keep_columns), ("--no-text", args.no_text),
                            (f"--id-col {args.id_col}", args.id_col is not None)):
            if given:
                raise UsageError(f"{flag} needs CSV/TSV/JSONL output (--output-format csv, tsv or jsonl); the text "
                                 "output is 'label<TAB>probability<TAB>text'")
    if not _is_stdio(args.output) and args.output.is_dir():
        raise UsageError(f"--output {args.output} is a folder; give a file name")
    with _read_input(args, kind) as table:
        if _is_stdio(args.output):
            return _predict_stream(table, classifier, args, fmt, sys.stdout)
        n = 0

        def write(f) -> None:
            nonlocal n
            out = io.TextIOWrapper(f, encoding="utf-8", newline="")
            try:
                n = _predict_stream(table, classifier, args, fmt, out)
            finally:
                out.flush()
                out.detach()  # atomic_write closes (and fsyncs) the file itself

        atomic_write(args.output, write)
        return n
