"""``ulmfit predict`` input and output: lines, CSV/TSV/JSONL in, text/CSV/TSV/JSONL out, streamed in batches.

A fake classifier (probabilities from the text's length) stands in for a model, so nothing here trains or loads
one; the arguments go through the real ``predict`` parser options (:func:`add_predict_arguments`).
"""

import argparse
import csv
import io
import json

import numpy as np
import pytest

from ulmfit.data.sources import DataWarning, load_source
from ulmfit.errors import UsageError
from ulmfit.predict_io import add_predict_arguments, run_predict


class FakeClassifier:
    """Deterministic from the text: P(pos) = (len(text) % 7 + 1) / 8. Records every batch it is given."""

    classes = ["neg", "pos"]
    multi_label = False

    def __init__(self, on_call=None):
        self.calls: list[list[str]] = []
        self.on_call = on_call

    def predict_proba(self, texts):
        assert isinstance(texts, list) and all(isinstance(t, str) for t in texts)
        self.calls.append(list(texts))
        if self.on_call is not None:
            self.on_call(self)
        p = np.array([(len(t) % 7 + 1) / 8 for t in texts], dtype=np.float32)
        return np.stack([1 - p, p], axis=1) if texts else np.zeros((0, 2), np.float32)

    def decide(self, probs):
        return [self.classes[i] for i in np.asarray(probs).argmax(axis=1)]

    @property
    def texts(self) -> list[str]:
        return [t for call in self.calls for t in call]


class FakeMultiLabel(FakeClassifier):
    """Three classes: a/b/c each on when the text holds that letter."""

    classes = ["a", "b", "c"]
    multi_label = True

    def predict_proba(self, texts):
        self.calls.append(list(texts))
        return np.array([[0.9 if c in t else 0.1 for c in self.classes] for t in texts], dtype=np.float32)

    def decide(self, probs):
        return [[c for c, p in zip(self.classes, row) if p >= 0.5] for row in probs]


def expected_pos(text: str) -> float:
    return float(np.float32((len(text) % 7 + 1) / 8))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ulmfit predict")
    add_predict_arguments(parser)
    return parser.parse_args(["model_dir", *argv])


def predict(argv: list[str], clf=None) -> tuple[int, FakeClassifier]:
    clf = clf or FakeClassifier()
    return run_predict(parse(argv), clf), clf


def write_csv(path, header, rows, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def read_csv(path, delimiter=","):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f, delimiter=delimiter))


REVIEWS = [("r1", "great value", "pos"), ("r2", "it broke, sadly", "neg"), ("r3", 'said "meh"\nthen left', "neg")]


# --------------------------------------------------------------------------------------------- formats
def test_csv_in_csv_out_keeps_ids_and_never_classifies_the_header(tmp_path):
    src = write_csv(tmp_path / "data.csv", ["id", "text", "label"], REVIEWS)
    n, clf = predict(["--file", str(src), "--output", str(tmp_path / "out.csv")])
    assert n == 3
    assert clf.texts == [text for _, text, _ in REVIEWS]  # header not among them; quoted newline kept
    rows = read_csv(tmp_path / "out.csv")
    assert rows[0] == ["id", "text", "label", "probability", "prob_neg", "prob_pos"]
    for (rid, text, _), row in zip(REVIEWS, rows[1:]):
        p = expected_pos(text)
        assert row[:3] == [rid, text, "pos" if p > 0.5 else "neg"]
        assert float(row[5]) == pytest.approx(p) and float(row[3]) == pytest.approx(max(p, 1 - p))
    assert len(rows) == 4
    assert "0.8999999" not in (tmp_path / "out.csv").read_text()  # float32 written in its short form


def test_tsv_in_jsonl_out(tmp_path):
    src = write_csv(tmp_path / "data.tsv", ["id", "text"], [(r, t) for r, t, _ in REVIEWS], delimiter="\t")
    predict(["--file", str(src), "--output", str(tmp_path / "out.jsonl")])
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["r1", "r2", "r3"]
    assert list(records[0]) == ["id", "text", "label", "probabilities"]
    assert records[1]["text"] == "it broke, sadly"
    assert records[1]["probabilities"]["pos"] == pytest.approx(expected_pos("it broke, sadly"))


def test_jsonl_in_text_out(tmp_path, capsys):
    src = tmp_path / "data.jsonl"
    src.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t, _ in REVIEWS) + "\n\n")  # blank: skipped
    n, _ = predict(["--file", str(src)])
    assert n == 3
    lines = capsys.readouterr().out.split("\n")
    assert lines[-1] == ""
    p = expected_pos("great value")
    assert lines[0] == f"{'pos' if p > 0.5 else 'neg'}\t{max(p, 1 - p):.3f}\tgreat value"


def test_lines_file_in_csv_out(tmp_path):
    src = tmp_path / "texts.txt"
    src.write_text("text\nsecond line\n\nfourth\n")  # a first line "text" is a text here, not a header
    n, clf = predict(["--file", str(src), "--output-format", "csv"], FakeClassifier())
    assert clf.texts == ["text", "second line", "", "fourth"] and n == 4


def test_lines_file_to_csv_file(tmp_path):
    src = tmp_path / "texts.txt"
    src.write_text("one\ntwo\n")
    predict(["--file", str(src), "--output", str(tmp_path / "o.csv")])
    rows = read_csv(tmp_path / "o.csv")
    assert rows[0] == ["text", "label", "probability", "prob_neg", "prob_pos"]
    assert [r[0] for r in rows[1:]] == ["one", "two"]


def test_arguments_keep_the_plain_output_exactly(capsys):
    predict(["great value", "bad \udcff byte"])
    lines = capsys.readouterr().out.splitlines()
    for line, text in zip(lines, ["great value", "bad \ufffd byte"]):
        p = expected_pos(text)
        assert line == f"{'pos' if p > 0.5 else 'neg'}\t{max(p, 1 - p):.3f}\t{text}"


def test_json_alias_is_the_legacy_record(capsys):
    predict(["fine", "--json"])
    record = json.loads(capsys.readouterr().out)
    assert list(record) == ["text", "label", "probabilities"] and record["text"] == "fine"
    predict(["fine", "--output-format", "jsonl"])
    assert json.loads(capsys.readouterr().out) == record
    with pytest.raises(UsageError, match="^--json means --output-format jsonl; it conflicts with --output-format csv$"):
        predict(["fine", "--json", "--output-format", "csv"])


def test_tsv_output_and_no_text(tmp_path, capsys):
    src = write_csv(tmp_path / "data.csv", ["id", "text"], [("a", "x"), ("b", "yy")])
    predict(["--file", str(src), "--output-format", "tsv", "--no-text"])
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["id", "label", "probability", "prob_neg", "prob_pos"] and [r[0] for r in rows[1:]] == ["a", "b"]


def test_multi_label_text_csv_and_jsonl(tmp_path, capsys):
    predict(["ab", "zz"], FakeMultiLabel())
    assert capsys.readouterr().out == "a,b\tab\n-\tzz\n"
    predict(["ab", "zz", "--output-format", "csv"], FakeMultiLabel())
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["text", "label", "prob_a", "prob_b", "prob_c"]
    assert rows[1][:2] == ["ab", "a,b"] and rows[2][:2] == ["zz", ""]
    predict(["ca", "--json"], FakeMultiLabel())
    assert json.loads(capsys.readouterr().out)["label"] == ["a", "c"]


# --------------------------------------------------------------------------------------------- columns
def test_two_text_columns_are_joined_as_training_joins_them(tmp_path):
    rows = [("1", "Nice", "works well", "pos"), ("2", "Bad", "", "neg")]
    src = write_csv(tmp_path / "data.csv", ["id", "title", "body", "label"], rows)
    _, clf = predict(["--file", str(src), "--text-col", "title", "--text-col", "body",
                      "--output", str(tmp_path / "o.csv")])
    assert clf.texts == ["xxfld 1 Nice xxfld 2 works well", "xxfld 1 Bad xxfld 2 "]
    with pytest.warns(DataWarning, match="dropped 1 row"):
        training = load_source(src, text_cols=["title", "body"], on_missing="drop")["train"].texts
    assert training == clf.texts[:1]  # training drops the row with an empty cell; the join is the same
    assert [r[0] for r in read_csv(tmp_path / "o.csv")[1:]] == ["1", "2"]


def test_unknown_text_column_is_one_exact_line(tmp_path):
    src = write_csv(tmp_path / "data.csv", ["id", "text", "label"], REVIEWS)
    with pytest.raises(UsageError) as info:
        predict(["--file", str(src), "--text-col", "review"])
    assert str(info.value) == f"--text-col review: no such column in {src} (columns: id, text, label)"
    with pytest.raises(UsageError, match=r"^--id-col doc: no such column in .*data\.csv \(columns: id, text, label\)$"):
        predict(["--file", str(src), "--id-col", "doc", "--output-format", "csv"])


def test_default_text_column_is_the_only_text_column(tmp_path, capsys):
    src = write_csv(tmp_path / "data.csv", ["id", "score", "review", "label"], [("1", "4.5", "good", "pos")])
    _, clf = predict(["--file", str(src)])
    assert clf.texts == ["good"]
    capsys.readouterr()
    two = write_csv(tmp_path / "two.csv", ["id", "title", "body"], [("1", "t", "b")])
    with pytest.raises(UsageError) as info:
        predict(["--file", str(two)])
    assert str(info.value) == (f"{two} has no 'text' column and 2 text columns (title, body); pass --text-col NAME "
                               "(columns: id, title, body)")


def test_id_column_by_name(tmp_path):
    src = tmp_path / "data.jsonl"
    src.write_text('{"doc": 7, "text": "a"}\n{"doc": 9, "text": "b"}\n')
    predict(["--file", str(src), "--id-col", "doc", "--output", str(tmp_path / "o.jsonl")])
    records = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["doc"] for r in records] == [7, 9]  # JSON types kept


def test_keep_columns_copies_everything_and_renames_clashes(tmp_path):
    rows = [(r, t, lab, "en") for r, t, lab in REVIEWS]
    src = write_csv(tmp_path / "data.csv", ["id", "text", "label", "lang"], rows)
    _, clf = predict(["--file", str(src), "--keep-columns", "--output", str(tmp_path / "o.csv")])
    assert clf.texts == [t for _, t, _ in REVIEWS]  # the input labels are not used
    rows = read_csv(tmp_path / "o.csv")
    assert rows[0] == ["id", "text", "input_label", "lang", "label", "probability", "prob_neg", "prob_pos"]
    assert rows[1][:4] == ["r1", "great value", "pos", "en"]


def test_keep_columns_with_other_text_columns_appends_the_classified_text(tmp_path):
    src = tmp_path / "data.jsonl"
    src.write_text('{"id": 1, "title": "A", "body": "b", "meta": {"k": 1}}\n')
    predict(["--file", str(src), "--keep-columns", "--text-col", "title", "--text-col", "body",
             "--output", str(tmp_path / "o.jsonl")])
    record = json.loads((tmp_path / "o.jsonl").read_text())
    assert list(record) == ["id", "title", "body", "meta", "text", "label", "probabilities"]
    assert record["meta"] == {"k": 1} and record["text"] == "xxfld 1 A xxfld 2 b"


# --------------------------------------------------------------------------------------------- stdin
def test_stdin_lines_and_csv(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("first line\nlone \ud800 surrogate\n"))
    _, clf = predict([])
    assert clf.texts == ["first line", "lone \ufffd surrogate"]
    assert len(capsys.readouterr().out.splitlines()) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("id,text\n5,hello\n"))
    _, clf = predict(["--file", "-", "--format", "csv", "--output-format", "jsonl"])
    assert clf.texts == ["hello"] and json.loads(capsys.readouterr().out)["id"] == "5"


class _BinaryStdin:
    """Stands in for ``sys.stdin``: only the byte buffer is there (reading text from it would be a bug)."""

    def __init__(self, data: bytes):
        self.buffer = io.BytesIO(data)

    def __iter__(self):
        raise AssertionError("stdin must be decoded from its byte buffer, not read with the locale's codec")


def test_stdin_bytes_are_utf8_with_replacement(monkeypatch):
    stdin = _BinaryStdin(b"good one\n\xff\xfe bad\n")
    monkeypatch.setattr("sys.stdin", stdin)
    _, clf = predict([])
    assert clf.texts == ["good one", "\ufffd\ufffd bad"] and not stdin.buffer.closed
    stdin = _BinaryStdin(b"\xef\xbb\xbfid,text\r\n1,caf\xc3\xa9\r\n")  # BOM and CRLF, as Excel writes
    monkeypatch.setattr("sys.stdin", stdin)
    _, clf = predict(["--format", "csv", "--output-format", "csv"])
    assert clf.texts == ["café"] and not stdin.buffer.closed


def test_file_with_invalid_utf8(tmp_path):
    src = tmp_path / "data.csv"
    src.write_bytes(b"id,text\n1,ok\n2,\xff bad\n")
    _, clf = predict(["--file", str(src)])
    assert clf.texts == ["ok", "\ufffd bad"]


# --------------------------------------------------------------------------------------------- errors
def test_broken_jsonl_line_names_the_line(tmp_path):
    src = tmp_path / "data.jsonl"
    src.write_text('{"text": "a"}\n[1, 2]\n')
    with pytest.raises(UsageError) as info:
        predict(["--file", str(src)])
    assert str(info.value) == f"{src} line 2: not a JSON object (got an array)"
    src.write_text('{"text": "a"}\n\n{"text": oops}\n')
    with pytest.raises(UsageError, match=r"data\.jsonl line 3: invalid JSON \(Expecting value\)$"):
        predict(["--file", str(src)])


def test_failed_run_leaves_no_output_file(tmp_path):
    src = tmp_path / "data.jsonl"
    src.write_text("".join(json.dumps({"text": f"t{i}"}) + "\n" for i in range(50)) + "not json\n")
    out = tmp_path / "out.csv"
    with pytest.raises(UsageError, match="line 51"):
        predict(["--file", str(src), "--batch-size", "8", "--output", str(out)])
    assert list(tmp_path.iterdir()) == [src]  # neither out.csv nor a temporary file


def test_usage_errors(tmp_path):
    with pytest.raises(UsageError, match=f"^--file {tmp_path / 'x.csv'} not found$"):
        predict(["--file", str(tmp_path / "x.csv")])
    txt = tmp_path / "t.txt"
    txt.write_text("a\n")
    with pytest.raises(UsageError, match="^--text-col body: .*t.txt is read as lines"):
        predict(["--file", str(txt), "--text-col", "body", "--output-format", "csv"])
    with pytest.raises(UsageError, match="^--keep-columns needs CSV/TSV/JSONL output"):
        predict(["--file", str(txt), "--keep-columns"])
    with pytest.raises(UsageError, match="not both"):
        predict(["some text", "--file", str(txt)])
    with pytest.raises(UsageError, match="^--format csv needs --file or stdin"):
        predict(["some text", "--format", "csv"])
    with pytest.raises(UsageError, match="^--id-col doc needs CSV/TSV/JSONL output"):
        predict(["some text", "--id-col", "doc"])
    bad = write_csv(tmp_path / "bad.csv", ["id", "text"], [("1", "a", "extra")])
    with pytest.raises(UsageError, match=r"bad\.csv line 2: 3 fields but the header has 2 \(id, text\)"):
        predict(["--file", str(bad)])
    with pytest.raises(SystemExit):
        parse(["x", "--batch-size", "0"])


def test_empty_texts_are_classified_and_counted_once(tmp_path, capsys):
    src = write_csv(tmp_path / "data.csv", ["id", "text"], [("1", "a"), ("2", ""), ("3", "  "), ("4", "b")])
    _, clf = predict(["--file", str(src), "--batch-size", "2"])
    assert clf.texts == ["a", "", "  ", "b"]
    err = capsys.readouterr().err.splitlines()
    assert err == [f"ulmfit predict: warning: {src}: 2 empty text(s) classified as empty strings (lines 3, 4)"]


def test_header_only_csv_writes_the_header(tmp_path):
    src = write_csv(tmp_path / "data.csv", ["id", "text"], [])
    n, clf = predict(["--file", str(src), "--output", str(tmp_path / "o.csv")])
    assert n == 0 and clf.calls == []
    assert read_csv(tmp_path / "o.csv") == [["id", "text", "label", "probability", "prob_neg", "prob_pos"]]
    only = write_csv(tmp_path / "only.csv", ["id", "review"], [])
    predict(["--file", str(only), "--output", str(tmp_path / "p.csv")])
    assert read_csv(tmp_path / "p.csv")[0][:3] == ["id", "text", "label"]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert predict(["--file", str(empty), "--output", str(tmp_path / "e.csv")])[0] == 0
    assert read_csv(tmp_path / "e.csv") == [["text", "label", "probability", "prob_neg", "prob_pos"]]


# --------------------------------------------------------------------------------------------- streaming
class _CountingStdin:
    """A text stdin (no byte buffer) that counts the lines read from it."""

    def __init__(self, text: str):
        self.lines = text.splitlines(keepends=True)
        self.read = 0

    def __iter__(self):
        for line in self.lines:
            self.read += 1
            yield line


def test_2000_rows_stream_in_batches_in_order(tmp_path, monkeypatch):
    rows = [(f"id{i:04d}", "word " * (i % 13)) for i in range(2000)]
    text = "id,text\n" + "".join(f"{rid},{t}\n" for rid, t in rows)
    stdin = _CountingStdin(text)
    stdout = io.StringIO()
    monkeypatch.setattr("sys.stdin", stdin)
    monkeypatch.setattr("sys.stdout", stdout)
    seen = []  # (lines read so far, rows written so far) at each classifier call

    def on_call(clf):
        seen.append((stdin.read, len(stdout.getvalue().splitlines())))

    n, clf = predict(["--format", "csv", "--output-format", "csv", "--batch-size", "64"], FakeClassifier(on_call))
    assert n == 2000 and len(clf.calls) == 32 and max(map(len, clf.calls)) == 64
    classified = sum(map(len, clf.calls[:-1]))
    assert classified == 31 * 64
    for k, (lines_read, rows_written) in enumerate(seen):
        assert lines_read <= 1 + (k + 1) * 64  # the reader is never ahead by more than one batch
        assert rows_written == 1 + k * 64  # the header and the earlier batches are out before this one
    out = list(csv.reader(io.StringIO(stdout.getvalue())))
    assert out[0][0] == "id" and [r[0] for r in out[1:]] == [rid for rid, _ in rows]
    assert [r[1] for r in out[1:]] == [t for _, t in rows]
    assert sum(r == out[0] for r in out) == 1  # one header


def test_big_file_to_file_matches_one_batch(tmp_path):
    src = write_csv(tmp_path / "big.csv", ["id", "text", "label"],
                    [(str(i), f"text number {i}" * (i % 5), "x") for i in range(2000)])
    _, small = predict(["--file", str(src), "--batch-size", "64", "--output", str(tmp_path / "a.csv")])
    _, whole = predict(["--file", str(src), "--batch-size", "5000", "--output", str(tmp_path / "b.csv")])
    assert all(len(c) <= 64 for c in small.calls) and len(whole.calls) == 1
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
