"""``ulmfit predict`` input that is not clean UTF-8: invalid bytes in ``--file`` or on stdin, lone surrogates in
arguments. Every line is still predicted; a bad character shows up as U+FFFD."""

import io
import json

import pytest

from ulmfit.cli import main
from ulmfit.demo import load_demo_data

BAD_BYTES = b"good one\n\xff\xfe bad\nanother good\n"
EXPECTED_TEXTS = ["good one", "\ufffd\ufffd bad", "another good"]


@pytest.fixture(scope="module")
def clf_dir(tiny_lm_dir, tmp_path_factory):
    (texts, labels), _ = load_demo_data()
    folder = tmp_path_factory.mktemp("clf_input")
    with open(folder / "train.jsonl", "w") as f:
        for text, label in zip(texts[:80], labels[:80]):
            f.write(json.dumps({"text": text, "label": label}) + "\n")
    out = folder / "model"
    main(["train-classifier", "--lm", str(tiny_lm_dir), "--data", str(folder / "train.jsonl"),
          "--out", str(out), "--stage-epochs", "1,0,0,1", "--bs", "16", "--quiet"])
    return out


def _rows(out: str) -> list[list[str]]:
    """``label<TAB>probability<TAB>text`` lines (the plain single-label output format)."""
    rows = [line.split("\t") for line in out.strip("\n").split("\n")]
    for label, prob, _ in rows:
        assert label in {"positive", "negative"} and 0.5 <= float(prob) <= 1
    return rows


def test_file_with_invalid_utf8_predicts_every_line(clf_dir, tmp_path, capsys):
    path = tmp_path / "in.txt"
    path.write_bytes(BAD_BYTES)
    main(["predict", str(clf_dir), "--file", str(path)])
    captured = capsys.readouterr()
    assert [text for *_, text in _rows(captured.out)] == EXPECTED_TEXTS
    assert captured.err == (f"ulmfit predict: warning: {path}: 2 byte(s) are not valid utf-8 and were read as U+FFFD "
                            "(the texts were classified with it); save the file as UTF-8 to classify them as "
                            "written\n")


def test_clean_utf8_gives_no_warning(clf_dir, tmp_path, capsys):
    path = tmp_path / "in.txt"
    path.write_text("good one\nstill \ufffd as written\n", encoding="utf-8")
    main(["predict", str(clf_dir), "--file", str(path)])
    assert capsys.readouterr().err == ""


class _BinaryStdin:
    """Stands in for ``sys.stdin``: only the byte buffer is there (reading text from it would be a bug)."""

    def __init__(self, data: bytes):
        self.buffer = io.BytesIO(data)

    def __iter__(self):
        raise AssertionError("stdin must be decoded from its byte buffer, not read with the locale's codec")


def test_stdin_with_invalid_utf8_predicts_every_line(clf_dir, capsys, monkeypatch):
    stdin = _BinaryStdin(BAD_BYTES)
    monkeypatch.setattr("sys.stdin", stdin)
    main(["predict", str(clf_dir)])
    captured = capsys.readouterr()
    assert [text for *_, text in _rows(captured.out)] == EXPECTED_TEXTS
    assert captured.err.startswith("ulmfit predict: warning: stdin: 2 byte(s) are not valid utf-8")
    assert not stdin.buffer.closed  # the decoding wrapper was detached, not closed


def test_text_stdin_without_buffer_is_read_as_is(clf_dir, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("first line\nlone \ud800 surrogate\n"))
    main(["predict", str(clf_dir)])
    assert [text for *_, text in _rows(capsys.readouterr().out)] == ["first line", "lone \ufffd surrogate"]


def test_lone_surrogate_argument(clf_dir, capsys):
    # What Python makes of a non-UTF-8 byte in argv (surrogateescape), and a plain lone surrogate.
    main(["predict", str(clf_dir), "bad \udcff byte", "\ud800", "fine"])
    assert [text for *_, text in _rows(capsys.readouterr().out)] == ["bad \ufffd byte", "\ufffd", "fine"]
    main(["predict", str(clf_dir), "bad \udcff byte", "--json"])
    record = json.loads(capsys.readouterr().out)
    assert record["text"] == "bad \ufffd byte" and set(record["probabilities"]) == {"positive", "negative"}


def test_warnings_in_the_shell_are_one_line_naming_the_command(clf_dir, tmp_path, capsys):
    data = tmp_path / "latin1.csv"
    data.write_bytes("text,label\nCaf\xe9 was nice,positive\nAwful,negative\n".encode("latin-1"))
    main(["evaluate", str(clf_dir), "--data", str(data), "--split", "train"])
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("ulmfit evaluate: warning: 1 file(s) had bytes that are not valid "
                                               "utf-8"), err


def test_utf16_files_are_refused_in_one_line_naming_the_file(clf_dir, tmp_path, capsys):
    data = tmp_path / "u16.csv"
    data.write_bytes("text,label\ngood,positive\n".encode("utf-16"))
    for argv in (["predict", str(clf_dir), "--file", str(data)],
                 ["evaluate", str(clf_dir), "--data", str(data), "--split", "train"]):
        with pytest.raises(SystemExit):
            main(argv)
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{data} is UTF-16" in err and "save it as UTF-8" in err, err


def test_empty_inputs_are_said_not_silent(clf_dir, tmp_path, capsys):
    data = tmp_path / "empty.csv"
    data.write_text("text,label\n")
    main(["predict", str(clf_dir), "--file", str(data)])
    expected = f"ulmfit predict: warning: {data}: no texts to classify (the input is empty but for its header)\n"
    assert capsys.readouterr().err == expected
    lines = tmp_path / "empty.txt"   # a file of lines has no header
    lines.write_text("")
    main(["predict", str(clf_dir), "--file", str(lines)])
    assert capsys.readouterr().err == f"ulmfit predict: warning: {lines}: no texts to classify (the input is empty)\n"
    main(["tokenize", str(data), "--out", str(tmp_path / "tok.txt")])
    captured = capsys.readouterr()
    assert captured.out == f"wrote {tmp_path / 'tok.txt'} (0 documents)\n"
    assert captured.err == f"ulmfit tokenize: warning: {data} holds no texts: {tmp_path / 'tok.txt'} is empty\n"
