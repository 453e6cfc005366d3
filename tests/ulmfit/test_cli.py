"""The ``ulmfit`` command end to end on tiny data (in-process through ``ulmfit.cli.main``)."""

import json
import re

import pytest

from tests.ulmfit.conftest import tiny_corpus
from ulmfit.cli import main
from ulmfit.demo import load_demo_data
from ulmfit.errors import UlmfitError


@pytest.fixture(scope="module")
def labelled_csv(tmp_path_factory):
    (texts, labels), (vtexts, vlabels) = load_demo_data()
    folder = tmp_path_factory.mktemp("csvdata")
    for name, (t, lab) in {"train": (texts[:80], labels[:80]), "test": (vtexts[:24], vlabels[:24])}.items():
        with open(folder / f"{name}.jsonl", "w") as f:
            for text, label in zip(t, lab):
                f.write(json.dumps({"text": text, "label": label}) + "\n")
    return folder


@pytest.fixture(scope="module")
def clf_dir(tiny_lm_dir, labelled_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("clf") / "model"
    main(["train-classifier", "--lm", str(tiny_lm_dir), "--data", str(labelled_csv / "train.jsonl"),
          "--out", str(out), "--stage-epochs", "1,0,0,1", "--bs", "16", "--quiet"])
    return out


def test_pretrain_and_finetune_lm(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, text in enumerate(tiny_corpus()[:120]):
        (corpus / f"doc{i}.txt").write_text(text)
    out = tmp_path / "lm"
    main(["pretrain", "--data", str(corpus), "--out", str(out), "--emb-sz", "16", "--n-hid", "24", "--n-layers", "2",
          "--epochs", "1", "--bs", "8", "--bptt", "16", "--min-freq", "2", "--valid-pct", "0.1", "--quiet",
          "--n-workers", "1"])
    assert "validation perplexity" in capsys.readouterr().out
    assert (out / "run" / "metrics.csv").is_file() or any((out / "run").glob("metrics.*"))
    out2 = tmp_path / "lm2"
    main(["finetune-lm", "--lm", str(out), "--data", str(corpus), "--out", str(out2), "--epochs", "1", "--bs", "8",
          "--quiet"])
    assert (out2 / "model.pt").is_file()
    from ulmfit.language_model import LMFineTuneConfig

    used = json.loads((out2 / "config.json").read_text())["meta"]["history"][-1]["config"]
    assert used["drop_mult"] == LMFineTuneConfig().drop_mult  # options not given fall back to the config
    assert used["epochs"] == 1 and used["bs"] == 8
    for folder, stages in ((out, ["pretrain"]), (out2, ["embeddings + decoder", "all layers"])):
        rows = (folder / "metrics.csv").read_text().splitlines()
        assert rows[0].startswith("stage,stage_index,epoch,step,lr,train_loss")
        assert [r.split(",")[0] for r in rows[1:]] == stages
        html = (folder / "report.html").read_text()
        assert all(f">{name}<" in html for name in stages) and 'id="lr"' in html


def test_train_classifier_writes_the_run_record_into_the_model_folder(clf_dir):
    rows = (clf_dir / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["head only", "all layers"]  # --stage-epochs 1,0,0,1
    html = (clf_dir / "report.html").read_text()
    for section in ('id="loss"', 'id="confusion"', 'id="per-class"', 'id="config"', 'id="data"'):
        assert section in html, section


def test_a_closed_pipe_ends_quietly(clf_dir, tmp_path):
    import subprocess
    import sys

    texts = tmp_path / "many.txt"
    texts.write_text("a fine product\n" * 3000)
    done = subprocess.run(f"{sys.executable} -m ulmfit.cli predict {clf_dir} --file {texts} | head -1",
                          shell=True, capture_output=True, text=True)
    assert done.stdout.count("\n") == 1 and done.stderr == "", done.stderr


def test_predict_arguments_and_json(clf_dir, capsys):
    main(["predict", str(clf_dir), "great value, would buy again", "awful, it broke"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    label, prob, text = lines[0].split("\t")
    assert label in {"positive", "negative"} and 0.5 <= float(prob) <= 1 and text == "great value, would buy again"
    main(["predict", str(clf_dir), "fine", "--json"])
    record = json.loads(capsys.readouterr().out)
    assert set(record["probabilities"]) == {"positive", "negative"}
    assert record["label"] == max(record["probabilities"], key=record["probabilities"].get)


def test_predict_from_file_and_stdin(clf_dir, tmp_path, capsys, monkeypatch):
    f = tmp_path / "in.txt"
    f.write_text("one\ntwo\nthree\n")
    main(["predict", str(clf_dir), "--file", str(f)])
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("first line\nsecond line\n"))
    main(["predict", str(clf_dir)])
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_evaluate_json_and_table(clf_dir, labelled_csv, capsys):
    main(["evaluate", str(clf_dir), "--data", str(labelled_csv / "test.jsonl"), "--split", "test", "--json"])
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 24 and 0 <= metrics["accuracy"] <= 1
    main(["evaluate", str(clf_dir), "--data", str(labelled_csv / "test.jsonl"), "--split", "test"])
    out = capsys.readouterr().out
    assert "accuracy" in out and "confusion matrix" in out


def test_bad_model_folder_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["predict", str(tmp_path / "missing"), "text"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ulmfit predict: error: ") and "does not exist" in err and err.count("\n") == 1


def test_train_classifier_validates_on_a_training_holdout_unless_a_split_is_named(tiny_lm_dir, labelled_csv,
                                                                                   tmp_path, capsys):
    common = ["--lm", str(tiny_lm_dir), "--data", str(labelled_csv), "--stage-epochs", "1", "--bs", "16", "--quiet"]
    main(["train-classifier", *common, "--out", str(tmp_path / "a"), "--seed", "3"])
    out = capsys.readouterr().out
    record = json.loads((tmp_path / "a" / "config.json").read_text())["meta"]["history"][-1]
    assert record["valid_source"].startswith("hold-out of the training data") and "seed=3" in record["valid_source"]
    assert record["train_documents"] == 72  # 8 of the 80 training texts held out; the 24 test texts unused
    assert "validation (hold-out of the training data" in out
    main(["train-classifier", *common, "--out", str(tmp_path / "b"), "--valid-split", "test"])
    assert "validation (split 'test', 24 texts): accuracy " in capsys.readouterr().out
    main(["train-classifier", *common, "--out", str(tmp_path / "d"), "--valid-pct", "0"])
    assert "no validation: --valid-pct 0 holds no texts out" in capsys.readouterr().out  # said, not silent
    with pytest.raises(SystemExit) as info:
        main(["train-classifier", *common, "--out", str(tmp_path / "c"), "--valid-split", "dev"])
    assert info.value.code == 2
    assert re.search(r"^ulmfit train-classifier: error: --valid-split 'dev'.*found", capsys.readouterr().err)


def test_a_label_the_hold_out_took_entirely_is_named_with_the_file_and_flags(tiny_lm_dir, tmp_path, capsys):
    from tests.ulmfit.test_classifier import _rare_label_in_the_holdout

    texts, labels = _rare_label_in_the_holdout()
    data = tmp_path / "rare.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels)))
    with pytest.raises(SystemExit) as info:
        main(["train-classifier", "--lm", str(tiny_lm_dir), "--data", str(data), "--out", str(tmp_path / "clf"),
              "--quiet"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"ulmfit train-classifier: error: {data}: --valid-pct 0.1 holds out 2 of the 21 texts, and with "
                   "them all 1 labelled ['neutral'], so training could not learn that label: add texts of it, lower "
                   "--valid-pct, or pass --valid-split NAME")


def test_multi_label_cells_that_look_joined_need_label_delim(tiny_lm_dir, tmp_path, capsys):
    data = tmp_path / "topics.csv"
    data.write_text("text,topics\nslow delivery,delivery\ncold food and rude staff,food;service\n")
    with pytest.raises(SystemExit) as info:
        main(["train-classifier", "--lm", str(tiny_lm_dir), "--data", str(data), "--label-col", "topics",
              "--multi-label", "--out", str(tmp_path / "clf"), "--quiet"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"ulmfit train-classifier: error: {data}: --multi-label reads each label cell as one label, and "
        "'food;service' looks like several: add --label-delim ';' to split them")


def test_pretrain_with_a_diverging_lr_fails_with_one_line_and_writes_no_model(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(tiny_corpus()[:60]))
    out = tmp_path / "lm"
    with pytest.raises(SystemExit) as info:
        main(["pretrain", "--data", str(corpus), "--out", str(out), "--emb-sz", "16", "--n-hid", "24", "--n-layers",
              "2", "--epochs", "2", "--bs", "8", "--bptt", "16", "--min-freq", "2", "--quiet", "--n-workers", "1",
              "--lr", "1e6", "--checkpoint-every", "2"])
    assert info.value.code == 2
    msg = capsys.readouterr().err
    assert msg.startswith("ulmfit pretrain: error: training diverged") and msg.count("\n") == 1
    assert "learning rate(s)" in msg
    assert not (out / "model.pt").exists()
    import torch

    ckpt = out / "run" / "checkpoint.pt"
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=True)["model"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_json_output_never_contains_nan():
    from ulmfit.cli import dumps_json

    text = dumps_json({"accuracy": float("nan"), "per_class": {"a": {"f1": float("inf")}}, "n": 3})
    assert json.loads(text) == {"accuracy": None, "per_class": {"a": {"f1": None}}, "n": 3}


def test_fp16_without_a_gpu_fails_in_one_line_before_any_work(tiny_lm_dir, labelled_csv, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: fp16 is valid here")
    for command in (["train-classifier", "--lm", str(tiny_lm_dir), "--data", str(labelled_csv)],
                    ["finetune-lm", "--lm", str(tiny_lm_dir), "--data", str(labelled_csv)]):
        with pytest.raises(SystemExit) as info:
            main([*command, "--out", str(tmp_path / "m"), "--precision", "fp16", "--quiet"])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "error: --precision fp16 needs a CUDA GPU" in err and "use bf16" in err and err.count("\n") == 1
    assert not (tmp_path / "m").exists()


def test_device_and_bad_values_are_one_line_in_flag_terms(tiny_lm_dir, labelled_csv, tmp_path, capsys):
    import torch

    cases = [(["--device", "gpu"], "error: --device gpu: expected 'cpu', 'cuda' or 'cuda:N'"),
             (["--bs", "0"], "error: --bs 0: expected an int >= 1"),   # None is the flag left out
             (["--lr", "-1"], "error: --lr -1.0: expected a finite number > 0"),
             (["--lr", "inf"], "error: --lr inf: expected a finite number > 0"),
             (["--epochs", "4", "--stage-epochs", "1,1,1,1"],
              "error: pass --epochs (a total, 4) or --stage-epochs (per stage, (1, 1, 1, 1)), not both"),
             (["--stage-epochs", "1,1,1,1", "--stage-lr-mults", "1,2"],
              "error: --stage-lr-mults (1.0, 2.0) needs an entry for each of the 4 stages in --stage-epochs (1, 1, 1, "
              "1)")]
    if not torch.cuda.is_available():
        cases.append((["--device", "cuda"], "error: --device cuda but no CUDA GPU is available; use --device cpu"))
    for extra, expected in cases:
        with pytest.raises(SystemExit) as info:
            main(["train-classifier", "--lm", str(tiny_lm_dir), "--data", str(tmp_path / "missing.csv"),
                  "--out", str(tmp_path / "m"), *extra])
        err = capsys.readouterr().err
        assert info.value.code == 2 and expected in err and err.count("\n") == 1, err


@pytest.mark.parametrize("argv, expected", [
    (["pretrain", "--data", "X", "--out", "Y", "--emb-sz", "0"], "error: --emb-sz must be a positive int, got 0"),
    (["pretrain", "--data", "X", "--out", "Y", "--checkpoint-every", "0"],
     "error: argument --checkpoint-every: expected an int >= 1, got '0'"),
    (["demo", "--seed", "-1"], "error: argument --seed: expected an int in [0, 4294967296), got '-1'"),
    (["lr-find", "--data", "X", "--bs", "0"], "error: argument --bs: expected an int >= 1, got '0'"),
    (["tokenize", "X", "--out", "Y", "--n-workers", "0"], "error: argument --n-workers: expected an int >= 1, got '0'"),
    (["finetune-lm", "--data", "EMPTY", "--out", "Y"], "holds no texts (a header without rows, or empty files?)"),
    (["tokenize", "X", "--out", "Y", "--lang", "zz"],
     "error: --lang 'zz' is not a spaCy language code; accepted: af, "),
    (["pretrain", "--data", "X", "--out", "Y", "--lang", "zz"],
     "error: --lang 'zz' is not a spaCy language code; accepted: af, "),
    (["pretrain", "--data", "X", "--out", "Y", "--resume", "X"],
     "/X: no such checkpoint file (a run writes RUN_DIR/checkpoint.pt)"),
    (["pretrain", "--data", "X", "--out", "Y", "--init", "ulmfit-en-fwd", "--lang", "de"],
     "error: --init ulmfit-en-fwd keeps that model's tokenizer, vocabulary and sizes: leave out --lang"),
])
def test_bad_numbers_fail_before_any_work_naming_the_flag(tmp_path, capsys, argv, expected):
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "EMPTY" / "train.csv").write_text("text,label\n")
    argv = [str(tmp_path / a) if a in ("X", "Y", "EMPTY") else a for a in argv]  # X, Y are never read
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and expected in capsys.readouterr().err


@pytest.mark.parametrize("content, command, expected", [
    ("text,foo\nnice,pos\n", "train-classifier", "its training texts have no labels. A CSV, TSV or JSONL file needs a "
                                                  "'label' column (--label-col NAME names another)"),
    ("text,label\n", "train-classifier", "holds no training texts (an empty file, or a header without rows?)"),
    ("", "train-classifier", "no header row found (a CSV/TSV source needs named columns)"),
    ("text,label\nnice,pos\ngood,pos\n", "train-classifier", "all 2 training texts have the label 'pos'; a "
                                                             "classifier needs at least 2 (--label-col names"),
    ("text,label\nnice,pos\n", "evaluate", "has no labelled split 'test' (found ['train']); choose one with --split"),
    ("text,label\nnice,positive\nmeh,neutral\n", "evaluate-train", "split 'train': unknown label 'neutral' at "
                                                                     "position 1"),
])
def test_data_without_labels_or_rows_is_one_line_naming_the_file(tiny_lm_dir, clf_dir, tmp_path, capsys, content,
                                                                 command, expected):
    data = tmp_path / "data.csv"
    data.write_text(content)
    argv = (["train-classifier", "--lm", str(tiny_lm_dir), "--data", str(data), "--out", str(tmp_path / "m")]
            if command == "train-classifier" else ["evaluate", str(clf_dir), "--data", str(data)])
    if command == "evaluate-train":
        argv += ["--split", "train"]
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and f"{data}" in err and expected in err, err


def test_an_empty_text_file_is_said_to_be_empty(tiny_lm_dir, tmp_path, capsys):
    data = tmp_path / "empty.txt"
    data.write_text("")
    with pytest.raises(SystemExit):
        main(["train-classifier", "--lm", str(tiny_lm_dir), "--data", str(data), "--out", str(tmp_path / "m")])
    assert capsys.readouterr().err == (f"ulmfit train-classifier: error: {data} holds no training texts (an empty "
                                       "file, or a header without rows?)\n")


def test_training_options_come_from_the_configs_with_help_and_defaults(capsys):
    import dataclasses

    from ulmfit.classifier import ClassifierConfig
    from ulmfit.cli import build_parser
    from ulmfit.language_model import LMFineTuneConfig, LMPretrainConfig

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    for command, cls in (("pretrain", LMPretrainConfig), ("finetune-lm", LMFineTuneConfig),
                         ("train-classifier", ClassifierConfig)):
        actions = {a.dest: a for a in sub[command]._actions}
        for f in dataclasses.fields(cls):
            assert f.name in actions, (command, f.name)
            assert actions[f.name].default is None  # left out -> the config's own default
            assert "default: " in actions[f.name].help, (command, f.name)
        assert all(a.help for a in sub[command]._actions), command


def test_a_bad_option_value_names_the_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train-classifier", "--data", "x", "--out", "y", "--stage-epochs", "a,b"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --stage-epochs: invalid value 'a,b': expected comma-separated ints, e.g. 1,1,1,2" in err
    with pytest.raises(SystemExit):
        main(["finetune-lm", "--data", "x", "--out", "y", "--vocab", "Extend"])
    assert "argument --vocab: invalid choice: 'Extend'" in capsys.readouterr().err


def test_lr_find_cautions_when_its_two_suggestions_are_far_apart():
    from types import SimpleNamespace

    from ulmfit.cli import lr_find_summary

    close = lr_find_summary(SimpleNamespace(suggestion=2e-3, lr_min=8e-3, lrs=[0] * 50))
    assert close == "suggested lr 2.00e-03 (steepest descent); min-loss lr / 10: 8.00e-03; 50 steps"
    apart = lr_find_summary(SimpleNamespace(suggestion=1.75e-7, lr_min=2.92e-2, lrs=[0] * 50))
    assert apart.splitlines()[1].startswith("the two suggestions are 166857x apart: the loss curve is noisy")


def test_lr_find_writes_a_plot_with_the_suggestion(tiny_lm_dir, labelled_csv, tmp_path, capsys):
    out = tmp_path / "plots" / "lr.html"
    main(["lr-find", "--lm", str(tiny_lm_dir), "--data", str(labelled_csv / "train.jsonl"), "--out", str(out),
          "--num-it", "12", "--bs", "16"])
    printed = capsys.readouterr().out
    assert "suggested lr" in printed and str(out) in printed
    html = out.read_text()
    suggestion = printed.split("suggested lr ")[1].split()[0]
    assert "<svg" in html and f"suggested lr {suggestion}" in html and "<script" not in html
    main(["lr-find", "--for", "finetune-lm", "--lm", str(tiny_lm_dir), "--data", str(labelled_csv / "train.jsonl"),
          "--out", str(out), "--num-it", "8", "--bs", "8"])
    assert "suggested lr" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["lr-find", "--data", str(labelled_csv / "train.jsonl"), "--start-lr", "1", "--end-lr", "0.1"])
    assert info.value.code == 2 and "--start-lr 1 --end-lr 0.1" in capsys.readouterr().err


def test_version_and_the_printed_predict_command_runs_as_printed(clf_dir, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ulmfit.cli_prog import runnable
    from ulmfit.version import __version__

    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "ulmfit").is_file():
        pytest.skip("ulmfit is not installed as a console script in this environment")
    # a shell that was never activated: PATH without the environment's bin folder
    env = {**os.environ, "PATH": os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                                  if Path(p).resolve() != bin_dir.resolve()) or "/usr/bin:/bin"}
    printed = subprocess.run([sys.executable, "-c", "from ulmfit.cli_prog import runnable; print(runnable())"],
                             env=env, capture_output=True, text=True, cwd=tmp_path, check=True).stdout.strip()
    assert printed != "ulmfit" and Path(printed).is_file()
    done = subprocess.run(f'{printed} predict {clf_dir} "a fine product"', shell=True, env=env, cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.count("\t") == 2, done.stderr
    version = subprocess.run(f"{printed} --version", shell=True, env=env, capture_output=True, text=True)
    assert version.stdout.strip() == f"ulmfit {__version__}"
    assert runnable() in ("ulmfit", str(bin_dir / "ulmfit")) or runnable().endswith("/ulmfit")


def test_source_errors_speak_in_flags(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    csv.write_text("review,label\ngood,pos\n,neg\n")
    for extra, expected in (([], "--text-col NAME in the shell"),
                            (["--text-col", "review"], "--on-missing drop in the shell")):
        with pytest.raises(SystemExit):
            main(["train-classifier", "--data", str(csv), "--out", str(tmp_path / "m"), *extra])
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err


def test_hf_source_offline_fails_fast_in_one_line(tmp_path, capsys, monkeypatch):
    import time

    from ulmfit.hub import hf

    monkeypatch.setattr(hf, "hub_reachable", lambda timeout=3.0: False)
    pytest.importorskip("datasets")  # imported outside the clock: on a loaded machine the import alone takes ~15 s
    start = time.time()
    with pytest.raises(SystemExit) as info:
        main(["train-classifier", "--data", "hf:surely-not-cached-dataset", "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and "cannot reach huggingface.co" in err
    assert time.time() - start < 15  # no half-minute of retries


def test_label_delim_reaches_the_source_reader(tmp_path):
    from ulmfit.cli import _source_kwargs, build_parser
    from ulmfit.data import load_source

    data = tmp_path / "topics.csv"
    data.write_text('text,topics\n"Rude waiter, cold soup.",service;food\n"Slow delivery.",delivery\n')
    args = build_parser().parse_args(["train-classifier", "--data", str(data), "--out", str(tmp_path / "m"),
                                      "--label-col", "topics", "--label-delim", ";", "--multi-label"])
    assert args.multi_label is True
    assert load_source(data, **_source_kwargs(args))["train"].labels == [["service", "food"], ["delivery"]]


def test_debug_is_accepted_after_the_sub_command_too(tmp_path):
    from vision.cli import main as vision_main

    with pytest.raises(UlmfitError):  # the traceback's exception instead of the one line
        main(["predict", str(tmp_path / "no-model"), "a text", "--debug"])
    with pytest.raises(ValueError, match="does not exist"):
        vision_main(["predict", str(tmp_path / "no-model"), "x.png", "--debug"])


def _split_folders(root, splits):
    for split, texts in splits.items():
        (root / split).mkdir(parents=True)
        for i, text in enumerate(texts):
            (root / split / f"{i}.txt").write_text(text)
    return root


def test_corpus_reader_never_trains_on_the_test_split(tmp_path):
    from ulmfit.cli import _corpus_texts

    both = _split_folders(tmp_path / "a", {"Train": ["train text"], "Test": ["test text"]})
    assert _corpus_texts(str(both)) == ["train text"]  # split names in any case
    no_train = _split_folders(tmp_path / "b", {"valid": ["valid text"], "test": ["test text"]})
    assert _corpus_texts(str(no_train)) == ["valid text"]  # the fallback takes other splits, never test


def test_a_corpus_with_only_a_test_split_is_one_clear_error(tiny_lm_dir, tmp_path, capsys):
    only_test = _split_folders(tmp_path / "c", {"test": ["test text one", "test text two"]})
    with pytest.raises(SystemExit) as info:
        main(["finetune-lm", "--lm", str(tiny_lm_dir), "--data", str(only_test), "--out", str(tmp_path / "lm"),
              "--quiet"])
    assert info.value.code == 2
    msg = capsys.readouterr().err
    assert msg.count("\n") == 1 and "outside its test split" in msg and "['test']" in msg
    assert not (tmp_path / "lm").exists()


@pytest.fixture
def determinism_reset():
    import os

    import torch

    had_cublas = "CUBLAS_WORKSPACE_CONFIG" in os.environ
    yield
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = False
    if not had_cublas:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def test_deterministic_switches_torch_to_deterministic_kernels(tiny_lm_dir, labelled_csv, tmp_path,
                                                              determinism_reset):
    import torch

    assert not torch.are_deterministic_algorithms_enabled()
    main(["train-classifier", "--lm", str(tiny_lm_dir), "--data", str(labelled_csv / "train.jsonl"),
          "--out", str(tmp_path / "m"), "--stage-epochs", "1", "--bs", "16", "--quiet", "--deterministic"])
    assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    assert (tmp_path / "m" / "model.pt").is_file()  # every CPU kernel the training uses has a deterministic form


def test_every_training_command_takes_deterministic():
    from ulmfit.cli import build_parser
    from vision.cli import build_parser as vision_parser

    for argv in (["demo"], ["pretrain", "--data", "x", "--out", "y"], ["finetune-lm", "--data", "x", "--out", "y"],
                 ["train-classifier", "--data", "x", "--out", "y"]):
        assert build_parser().parse_args([*argv, "--deterministic"]).deterministic is True
        assert build_parser().parse_args(argv).deterministic is False
    assert vision_parser().parse_args(["train", "--data", "x", "--deterministic"]).deterministic is True


def test_ensemble_combines_classifier_folders_scores_and_predicts(tiny_lm_dir, clf_dir, labelled_csv, tmp_path,
                                                                 capsys):
    other = tmp_path / "other"
    main(["train-classifier", "--lm", str(tiny_lm_dir), "--data", str(labelled_csv / "train.jsonl"), "--out",
          str(other), "--stage-epochs", "1,0,0,1", "--bs", "16", "--quiet", "--seed", "7"])
    capsys.readouterr()
    ens = tmp_path / "ens"
    main(["ensemble", str(clf_dir), str(other), "--out", str(ens), "--data", str(labelled_csv), "--split", "test"])
    text = capsys.readouterr().out
    assert f"{clf_dir}: accuracy " in text and f"{other}: accuracy " in text and "ensemble on test:" in text
    assert f"predict {ens}" in text
    page = (ens / "report.html").read_text()
    assert 'href="member-0/report.html"' not in page and 'id="confusion"' in page  # loaded members: not linked
    main(["evaluate", str(ens), "--data", str(labelled_csv), "--json"])
    scored = json.loads(capsys.readouterr().out)
    assert scored["n"] == 24 and f"accuracy: {scored['accuracy']:.4f}" in text
    main(["predict", str(ens), "A lovely quiet room.", "--json"])
    assert json.loads(capsys.readouterr().out.splitlines()[0])["label"] in ("negative", "positive")


@pytest.mark.parametrize("argv, message", [
    (["ONE"], "ulmfit ensemble needs two or more classifier folders; got 1"),
    (["ONE", "ENS"], "is an ensemble already; pass its member folders"),
    (["ONE", "MEMBER", "--data", "CSV", "--split", "valid"], "has no labelled split 'valid' (found ['test', 'train'])"),
])
def test_ensemble_errors_are_one_line(clf_dir, labelled_csv, tmp_path, capsys, argv, message):
    from ulmfit.classifier import ClassifierEnsemble, TextClassifier

    ClassifierEnsemble([TextClassifier.load(clf_dir)] * 2).save(tmp_path / "ens")
    names = {"ONE": str(clf_dir), "ENS": str(tmp_path / "ens"), "MEMBER": str(tmp_path / "ens" / "member-0"),
             "CSV": str(labelled_csv)}
    with pytest.raises(SystemExit) as info:
        main(["ensemble", *(names.get(a, a) for a in argv), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_ensemble_members_must_share_their_classes(tiny_lm_dir, clf_dir, tmp_path, capsys):
    data = tmp_path / "three.csv"
    rows = [f"text {i} is {w},{w}" for i in range(12) for w in ("red", "green", "blue")]
    data.write_text("text,label\n" + "\n".join(rows) + "\n")
    three = tmp_path / "three"
    main(["train-classifier", "--lm", str(tiny_lm_dir), "--data", str(data), "--out", str(three),
          "--stage-epochs", "1,0,0,0", "--bs", "8", "--quiet"])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["ensemble", str(clf_dir), str(three), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must share their classes" in err and str(three) in err


def test_a_sentencepiece_vocabulary_the_corpus_cannot_fill_is_named_by_its_flag(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(tiny_corpus()[:40]) + "\n")
    with pytest.raises(SystemExit) as info:
        main(["pretrain", "--data", str(corpus), "--out", str(tmp_path / "lm"), "--tokenizer", "sentencepiece",
              "--sp-vocab-size", "20000", "--quiet"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert re.search(r"error: --sp-vocab-size 20000 is too large for this corpus \(40 texts\): it fills at most \d+\. "
                     r"Lower --sp-vocab-size or add text\.$", err), err
