import json
import tarfile
import warnings
import zipfile

import pytest

from ulmfit.data.sources import DataWarning, SourceError, TextDataset, load_source, split_train_valid


def _write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


@pytest.fixture
def imdb(tmp_path):
    root = tmp_path / "aclImdb"
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            for i in range(2):
                _write(root / split / label / f"{i}_7.txt", f"{split} {label} review {i}")
        _write(root / split / "labeledBow.feat", "0:9 1:1")
        _write(root / split / "urls_pos.txt", "http://example.com")
    for i in range(3):
        _write(root / "train" / "unsup" / f"{i}_0.txt", f"unlabelled {i}")
    _write(root / "train" / "unsupBow.feat", "0:1")
    _write(root / "README", "readme")
    _write(root / "imdbEr.txt", "0.0490\n0.1101\n")
    _write(root / "imdb.vocab", "the\nand\n")
    _write(root / "train" / "pos" / "notes.log", "stray log")
    _write(root / "test" / "tmp_cache" / "junk.txt", "not a review")
    return tmp_path


def test_imdb_folder_ignores_stray_files(imdb):
    out = load_source(imdb)  # the parent folder: steps into the lone aclImdb/
    assert sorted(out) == ["test", "train", "unsup"]
    assert len(out["train"]) == 4 and out["train"].classes == ["neg", "pos"]
    assert out["test"].classes == ["neg", "pos"]
    assert sorted(out["test"].texts) == sorted(f"test {lab} review {i}" for lab in ("pos", "neg") for i in range(2))
    for text, label in zip(out["train"].texts, out["train"].labels):
        assert text.startswith(f"train {label} ")
    assert out["unsup"].labels is None and sorted(out["unsup"].texts) == [f"unlabelled {i}" for i in range(3)]
    only = load_source(imdb / "aclImdb", split="test")
    assert list(only) == ["test"]
    with pytest.raises(SourceError, match="available"):
        load_source(imdb, split="valid")


def test_imdb_from_local_archive(imdb, tmp_path):
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(imdb / "aclImdb", arcname="aclImdb")
    out = load_source(archive)
    assert len(out["train"]) == 4 and len(out["unsup"]) == 3


TREC = "DESC:manner How did serfdom develop ?\nENTY:cremat What films featured Batman ?\nHUM:ind Who was Caesar ?\n"


def test_trec_original_names_and_fine_labels(tmp_path):
    _write(tmp_path / "train_5500.label", TREC)
    _write(tmp_path / "TREC_10.label", b"NUM:date When was 1984 written \xf0 ?\n")  # latin-1 byte
    out = load_source(tmp_path)
    assert out["train"].labels == ["DESC", "ENTY", "HUM"]
    assert out["train"].texts[0] == "How did serfdom develop ?"
    assert out["test"].texts == ["When was 1984 written \u00f0 ?"]
    utf8 = _write(tmp_path / "utf8" / "train_5500.label", "HUM:ind Who wrote Pokémon ?\n")
    assert load_source(utf8)["train"].texts == ["Who wrote Pokémon ?"]
    fine = load_source(tmp_path / "train_5500.label", trec_labels="fine")
    assert fine["train"].labels == ["DESC:manner", "ENTY:cremat", "HUM:ind"]


def test_trec_nltk_qc_zip(tmp_path):
    archive = tmp_path / "qc.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("qc/README", "Experimental Data for Question Classification")
        zf.writestr("qc/train.txt", TREC)
        zf.writestr("qc/test.txt", "LOC:city Where is Aspen ?\n")
    out = load_source(archive)
    assert sorted(out) == ["test", "train"]
    assert out["test"].labels == ["LOC"]


def test_trec_bad_line(tmp_path):
    _write(tmp_path / "train_5500.label", TREC + "this line has no label\n")
    with pytest.raises(SourceError, match="line 4"):
        load_source(tmp_path / "train_5500.label")


def test_class_folders_with_and_without_splits(tmp_path):
    flat = tmp_path / "flat"
    for label in ("sports", "tech", "art"):
        _write(flat / label / "a.txt", f"about {label}")
    _write(flat / "LICENSE", "x")
    out = load_source(flat)
    assert list(out) == ["train"] and out["train"].classes == ["art", "sports", "tech"]
    split = tmp_path / "split"
    for s in ("train", "valid"):
        for label in ("x", "y"):
            _write(split / s / label / "1.txt", f"{s} {label}")
    out = load_source(split)
    assert sorted(out) == ["train", "valid"] and out["valid"].labels == ["x", "y"]
    corpus = tmp_path / "corpus_splits"
    _write(corpus / "train" / "a.txt", "doc a")
    _write(corpus / "valid" / "b.txt", "doc b")
    out = load_source(corpus)
    assert out["train"].texts == ["doc a"] and out["valid"].labels is None
    (corpus / "test").mkdir()
    with pytest.raises(SourceError, match="split folder .*test.* found: \\(empty\\)"):
        load_source(corpus)


def test_folder_without_label_folders_errors(tmp_path):
    _write(tmp_path / "data" / "notes.md", "x")
    (tmp_path / "data" / "empty_dir").mkdir()
    with pytest.raises(SourceError, match=r"no label folders.*empty_dir/.*notes\.md"):
        load_source(tmp_path / "data", layout="folders")
    with pytest.raises(SourceError, match="neither a built-in name"):
        load_source(tmp_path / "does_not_exist")


def test_plain_text_per_file_and_per_line(tmp_path):
    corpus = tmp_path / "corpus"
    _write(corpus / "a.txt", "line one\nline two\n\n")
    _write(corpus / "b.txt", "other doc")
    per_file = load_source(corpus)
    assert per_file["train"].texts == ["line one\nline two\n\n", "other doc"]
    assert per_file["train"].labels is None
    per_line = load_source(corpus, per_line=True)
    assert per_line["train"].texts == ["line one", "line two", "other doc"]
    single = load_source(corpus / "a.txt")
    assert single["train"].texts == ["line one", "line two"]
    assert load_source(corpus / "a.txt", per_line=False)["train"].texts == ["line one\nline two\n\n"]


def test_sentence_polarity(tmp_path):
    _write(tmp_path / "sentence_polarity" / "rt-polarity.pos", "a fine film .\nwonderful .\n")
    _write(tmp_path / "sentence_polarity" / "rt-polarity.neg", "dull .\n")
    _write(tmp_path / "sentence_polarity" / "README.txt", "readme")
    out = load_source(tmp_path)
    assert out["train"].texts == ["a fine film .", "wonderful .", "dull ."]
    assert out["train"].labels == ["pos", "pos", "neg"]


def test_csv_multi_column_xxfld_and_multilabel(tmp_path):
    path = _write(tmp_path / "train.csv", 'title,body,tags\nHello,"A body, with comma",a;b\nBye,Short,\n')
    out = load_source(path, text_cols=["title", "body"], label_col="tags", label_delim=";")
    ds = out["train"]
    assert ds.texts == ["xxfld 1 Hello xxfld 2 A body, with comma", "xxfld 1 Bye xxfld 2 Short"]
    assert ds.labels == [["a", "b"], []] and ds.multi_label
    one = load_source(path, text_col="body", label_col="title")
    assert one["train"].texts == ["A body, with comma", "Short"] and one["train"].labels == ["Hello", "Bye"]


def test_csv_missing_values_error_or_drop(tmp_path):
    path = _write(tmp_path / "data.csv", "text,label\ngood,pos\n,neg\nfine,\n")
    with pytest.raises(SourceError, match=r"data\.csv: row 2 \(line 3\).*'text'"):
        load_source(path)
    with pytest.warns(DataWarning, match="dropped 2 row"):
        out = load_source(path, on_missing="drop")
    assert out["train"].texts == ["good"] and out["train"].labels == ["pos"]


def test_unknown_label_column_lists_columns(tmp_path):
    path = _write(tmp_path / "d.csv", "text,sentiment\nhi,pos\n")
    with pytest.raises(SourceError, match=r"d\.csv.*'label_x' \(--label-col / label_col=\); columns found: text, sent"):
        load_source(path, label_col="label_x")
    with pytest.raises(SourceError, match="no 'text' column") as info:
        load_source(_write(tmp_path / "e.csv", "review,label\nhi,pos\n"))
    assert "separated by" not in str(info.value)
    with pytest.raises(SourceError, match=r"columns found: text;label \(one column named 'text;label': the file seems "
                                          r"separated by ';', but a .csv file is read with commas"):
        load_source(_write(tmp_path / "f.csv", "text;label\nhi;pos\n"))


def test_a_split_column_is_said_to_be_unread(tmp_path):
    path = _write(tmp_path / "all.jsonl", '{"text": "a", "label": "x", "split": "train"}\n'
                                          '{"text": "b", "label": "y", "split": "test"}\n')
    with pytest.warns(DataWarning, match=r"all\.jsonl: its 'split' column is not read: one file is one split"):
        out = load_source(path)
    assert list(out) == ["train"] and out["train"].texts == ["a", "b"]


def test_jsonl_label_lists_stay_lists(tmp_path):
    jl = _write(tmp_path / "m.jsonl", '{"text": "a", "tags": ["x", "y"]}\n{"text": "b", "tags": []}\n')
    ds = load_source(jl, label_col="tags")["train"]
    assert ds.labels == [["x", "y"], []]


@pytest.mark.parametrize("row, message", [
    ({"text": ["a", "b"], "label": "x"}, r"column 'text' holds an array \(\["),
    ({"text": {"body": "a"}, "label": "x"}, "column 'text' holds an object"),
    ({"text": True, "label": "x"}, r"column 'text' holds true/false \(true\); a text must be a string or a number"),
    ({"text": "a", "label": {"y": 1}}, r"column 'label' holds an object .*; a label must be a string, number or "),
])
def test_jsonl_values_that_are_no_text_are_refused_naming_the_line(tmp_path, row, message):
    jl = _write(tmp_path / "o.jsonl", '{"text": "fine", "label": "x"}\n' + json.dumps(row) + "\n")
    with pytest.raises(SourceError, match=rf"o.jsonl: row 2 \(line 2\), {message}"):  # not str(value) as a text
        load_source(jl)


def test_jsonl_numbers_and_booleans_read_as_strings_where_accepted_and_one_text_column_by_name(tmp_path):
    jl = _write(tmp_path / "b.jsonl", '{"body": 3, "ok": true}\n{"body": "c", "ok": false}\n')
    ds = load_source(jl, text_cols="body", label_col="ok")["train"]  # text_cols= one name, like text_col=
    assert ds.texts == ["3", "c"] and ds.labels == ["True", "False"]


def test_tsv_and_jsonl_and_split_files(tmp_path):
    tsv = _write(tmp_path / "t" / "train.tsv", "text\tlabel\nhello there\tgreet\n")
    _write(tmp_path / "t" / "test.tsv", "text\tlabel\nbye\tleave\n")
    out = load_source(tmp_path / "t")
    assert out["train"].texts == ["hello there"] and out["test"].labels == ["leave"]
    assert load_source(tsv)["train"].labels == ["greet"]
    rows = [{"text": "a b", "label": 1}, {"text": "c", "label": 0, "extra": True}]
    jl = _write(tmp_path / "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    out = load_source(jl)
    assert out["train"].texts == ["a b", "c"] and out["train"].labels == ["1", "0"]
    bad = _write(tmp_path / "bad.jsonl", '{"text": "a"}\n{not json}\n')
    with pytest.raises(SourceError, match="line 2"):
        load_source(bad)


def test_empty_texts_kept_with_warning(tmp_path):
    for i, text in enumerate(["real text", "", "   \n"]):
        _write(tmp_path / "c" / "pos" / f"{i}.txt", text)
    with pytest.warns(DataWarning, match="2 empty or whitespace-only"):
        out = load_source(tmp_path / "c")
    assert len(out["train"]) == 3


def test_undecodable_bytes_replaced_with_warning(tmp_path):
    path = _write(tmp_path / "corpus.txt", b"caf\xe9 ok\nsecond\n")
    with pytest.warns(DataWarning, match=r"1 replacement character.*corpus\.txt \(1\)"):
        out = load_source(path)
    assert out["train"].texts == ["caf\ufffd ok", "second"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_source(path, encoding="latin-1")["train"].texts[0] == "caf\u00e9 ok"


def test_ten_megabyte_document(tmp_path):
    big = "word " * 2_000_000
    _write(tmp_path / "big" / "pos" / "0.txt", big)
    _write(tmp_path / "big.csv", "text,label\n" + big + ",pos\n")
    assert len(load_source(tmp_path / "big")["train"].texts[0]) == len(big)
    assert len(load_source(tmp_path / "big.csv")["train"].texts[0]) == len(big)


def test_split_train_valid_seeded():
    ds = TextDataset([f"t{i}" for i in range(50)], [str(i % 2) for i in range(50)])
    train, valid = split_train_valid(ds, valid_pct=0.2, seed=3)
    assert len(valid) == 10 and len(train) == 40
    assert sorted(train.texts + valid.texts) == sorted(ds.texts)
    for text, label in zip(valid.texts, valid.labels):
        assert label == str(int(text[1:]) % 2)
    again = split_train_valid(ds, valid_pct=0.2, seed=3)[1]
    other = split_train_valid(ds, valid_pct=0.2, seed=4)[1]
    assert again.texts == valid.texts and other.texts != valid.texts
    with pytest.raises(ValueError, match="valid_pct"):
        split_train_valid(ds, valid_pct=1.5)


def test_hf_dataset_from_disk_and_json(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"])})
    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ["good", "bad"], "label": [1, 0]}, features=features),
        "test": datasets.Dataset.from_dict({"text": ["meh"], "label": [-1]}, features=features),
    })
    dd.save_to_disk(str(tmp_path / "saved"))
    out = load_source(f"hf:{tmp_path / 'saved'}")
    assert out["train"].texts == ["good", "bad"] and out["train"].labels == ["pos", "neg"]
    assert out["test"].labels is None
    assert repr(out["train"]) == "TextDataset(2 texts, labelled, classes=[neg, pos])"
    ml = datasets.Features({"text": datasets.Value("string"),
                            "tags": datasets.Sequence(datasets.ClassLabel(names=["a", "b", "c"]))})
    datasets.Dataset.from_dict({"text": ["x", "y"], "tags": [[0, 2], []]}, features=ml).save_to_disk(
        str(tmp_path / "ml"))
    out = load_source(f"hf:{tmp_path / 'ml'}", label_col="tags")
    assert out["train"].labels == [["a", "c"], []] and out["train"].multi_label
    with pytest.raises(SourceError, match=r"unknown label column 'nope'.*columns found: text, tags"):
        load_source(f"hf:{tmp_path / 'ml'}", label_col="nope")
    jl = _write(tmp_path / "d.jsonl", '{"q": "hi", "a": "yo", "y": "x"}\n{"q": "bye", "a": "ciao", "y": "z"}\n')
    out = load_source("hf:json", hf_kwargs={"data_files": {"train": str(jl)}, "cache_dir": str(tmp_path / "hfc")},
                      text_cols=["q", "a"], label_col="y")
    assert out["train"].texts == ["xxfld 1 hi xxfld 2 yo", "xxfld 1 bye xxfld 2 ciao"]
    assert out["train"].labels == ["x", "z"]


def test_real_nltk_data(shared_data):
    qc = load_source(shared_data / "nltk" / "qc.zip")
    assert len(qc["train"]) == 5452 and len(qc["test"]) == 500 and len(qc["train"].classes) == 6
    mr = load_source(shared_data / "nltk" / "sentence_polarity.zip")
    assert len(mr["train"]) == 10662


def test_builtin_trec_downloads_then_works_offline(server, monkeypatch):
    import ulmfit.data.sources as sources

    server.files["train_5500.label"] = TREC.encode("latin-1")
    server.files["TREC_10.label"] = b"LOC:city Where is Aspen ?\n"
    monkeypatch.setattr(sources, "TREC_URLS", {"train": f"{server.url}/train_5500.label",
                                               "test": f"{server.url}/TREC_10.label"})
    out = load_source("trec6", progress=False)
    assert out["train"].labels == ["DESC", "ENTY", "HUM"] and out["test"].texts == ["Where is Aspen ?"]
    server.files.clear()  # cached now: no network needed
    assert load_source("trec50", progress=False)["train"].labels[0] == "DESC:manner"


def test_builtin_imdb_downloads_archive(server, monkeypatch, imdb, tmp_path):
    import io

    import ulmfit.data.sources as sources

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(imdb / "aclImdb", arcname="aclImdb")
    server.files["aclImdb_v1.tar.gz"] = buf.getvalue()
    monkeypatch.setattr(sources, "IMDB_URL", f"{server.url}/aclImdb_v1.tar.gz")
    out = load_source("imdb", split=["train", "unsup"], progress=False)
    assert len(out["train"]) == 4 and len(out["unsup"]) == 3


def test_builtin_uses_copy_placed_in_cache(monkeypatch):
    import ulmfit.data.sources as sources
    from ulmfit.data.download import cache_dir

    _write(cache_dir() / "trec" / "train_5500.label", TREC)
    _write(cache_dir() / "trec" / "TREC_10.label", "LOC:city Where is Aspen ?\n")
    monkeypatch.setattr(sources, "TREC_URLS", {"train": "http://127.0.0.1:9/train_5500.label",
                                               "test": "http://127.0.0.1:9/TREC_10.label"})
    assert len(load_source("trec6", progress=False)["train"]) == 3


def test_a_symlink_to_a_class_folder_is_not_read_as_a_second_class(tmp_path):
    for label in ("neg", "pos"):
        (tmp_path / "data" / label).mkdir(parents=True)
        (tmp_path / "data" / label / "0.txt").write_text(f"a {label} text")
    (tmp_path / "data" / "again").symlink_to(tmp_path / "data" / "pos", target_is_directory=True)
    with pytest.warns(DataWarning, match="already read as a class folder"):
        train = load_source(tmp_path / "data")["train"]
    assert sorted(set(train.labels)) == ["neg", "pos"] and len(train.texts) == 2


def test_a_lone_split_folder_keeps_its_split_name(tmp_path):
    for label in ("pos", "neg"):
        (tmp_path / "data" / "test" / label).mkdir(parents=True)
        (tmp_path / "data" / "test" / label / "0.txt").write_text(f"a {label} review")
    out = load_source(tmp_path)  # steps into the lone data/ folder, but not into test/
    assert sorted(out) == ["test"] and sorted(out["test"].labels) == ["neg", "pos"]
