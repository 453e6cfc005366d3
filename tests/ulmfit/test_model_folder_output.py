"""Where a save may write: a new or empty folder, or a saved model's folder, which it replaces without leaving the
old save's files behind. A file, a path below a file or a folder of other files is refused, naming the path, in
Python (``folder``) and in the shell (``--out``, before any training)."""

import json
import re

import pytest
import torch

from ulmfit.classifier import ClassifierEnsemble, TextClassifier
from ulmfit.cli import main
from ulmfit.demo import load_demo_data
from ulmfit.hub.model_folder import ModelFolderError, check_output_folder, write_manifest
from ulmfit.language_model import LanguageModel
from ulmfit.train import Learner


@pytest.fixture(scope="module")
def clf(tiny_lm_dir):
    (texts, labels), _ = load_demo_data()
    return TextClassifier.train(texts[:40], labels[:40], lm=LanguageModel.load(tiny_lm_dir), stage_epochs=(1,),
                                bs=16, progress=False)


def test_new_empty_and_saved_model_folders_are_accepted(tmp_path):
    assert check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    (tmp_path / "empty").mkdir()
    check_output_folder(tmp_path / "empty")
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "config.json").write_text('{"format_version": 1, "kind": "classifier"}')  # saved before manifests
    (saved / "notes.txt").write_text("a saved model's folder may hold more")
    check_output_folder(saved)
    other = tmp_path / "hf-model"  # another library's config.json: not ours to overwrite
    other.mkdir()
    (other / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelFolderError, match="holds other files \\(config.json\\)"):
        check_output_folder(other)
    leftovers = tmp_path / "leftovers"
    (leftovers / "run").mkdir(parents=True)
    check_output_folder(leftovers, own=("run",))
    with pytest.raises(ModelFolderError, match=r"holds other files \(run\)"):  # foreign unless the caller owns it
        check_output_folder(leftovers)


@pytest.mark.parametrize("case, message", [
    ("file", r"folder 'P/afile' is a file: a model is saved as a folder"),
    ("below", r"folder 'P/afile/sub': 'P/afile' is a file, so nothing can be written below it"),
    ("foreign", r"folder 'P/other' is a folder that holds other files \(a.txt, b.txt, c.txt and 1 more\), not a "
                "saved model"),
    ("empty", r"folder: the path is empty"),
])
def test_a_path_a_save_cannot_use_is_refused_by_name(tmp_path, case, message):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "other").mkdir()
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        (tmp_path / "other" / name).write_text("x")
    path = {"file": tmp_path / "afile", "below": tmp_path / "afile" / "sub", "foreign": tmp_path / "other",
            "empty": ""}[case]
    with pytest.raises(ModelFolderError, match=message.replace("P/", f"{tmp_path}/")):
        check_output_folder(path)


def test_a_classifier_save_refuses_a_folder_of_other_files_and_keeps_them(clf, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ModelFolderError, match="holds other files"):
        clf.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_saving_over_a_saved_model_leaves_none_of_its_old_files(clf, tmp_path):
    folder = tmp_path / "m"
    clf.save(folder)
    ClassifierEnsemble([clf, clf]).save(folder)  # an ensemble over a classifier: model.pt, vocab.json ... go
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "manifest.json", "member-0", "member-1",
                                                        "report.html"]
    assert isinstance(ClassifierEnsemble.load(folder), ClassifierEnsemble)
    ClassifierEnsemble([clf]).save(folder)  # a smaller ensemble: member-1 goes
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "manifest.json", "member-0", "report.html"]
    clf.save(folder)  # and a classifier over the ensemble
    assert not (folder / "member-0").exists()
    assert TextClassifier.load(folder).classes == clf.classes


def test_files_the_old_manifest_did_not_list_are_never_removed(tmp_path):
    for name in ("a.bin", "b.bin", "user.txt"):
        (tmp_path / name).write_text(name)
    write_manifest(tmp_path, ["a.bin"])
    write_manifest(tmp_path, ["b.bin"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "manifest.json", "user.txt"]
    assert list(json.loads((tmp_path / "manifest.json").read_text())["files"]) == ["b.bin"]


def test_a_run_folder_that_is_a_file_is_refused_before_training(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match=r"path '.*afile' is a file; the run's metrics and checkpoints go in a "
                                         "folder"):
        Learner(torch.nn.Linear(2, 2), [], None, path=tmp_path / "afile")


@pytest.mark.parametrize("argv, message", [
    (["train-classifier", "--data", "DATA", "--out", "P/afile"], r"--out 'P/afile' is a file"),
    (["train-classifier", "--data", "DATA", "--out", "P/other"], r"--out 'P/other' is a folder that holds other files"),
    (["train-classifier", "--data", "DATA", "--out", "P/m", "--run-dir", "P/afile"], r"--run-dir 'P/afile' is a file"),
    (["finetune-lm", "--data", "DATA", "--out", "P/afile/sub"], r"--out 'P/afile/sub': 'P/afile' is a file"),
    (["pretrain", "--data", "DATA", "--out", "P/afile"], r"--out 'P/afile' is a file"),
    (["lr-find", "--data", "DATA", "--out", "P/other"], r"--out 'P/other' is a folder; give the path of a file"),
    (["tokenize", "DATA", "--out", "P/other"], r"--out 'P/other' is a folder; give the path of a file"),
    (["demo", "--out", "P/afile"], r"--out 'P/afile' is a file; the demo saves its models in a folder"),
    (["demo", "--out", "P/other"], r"--out 'P/other': the sub-folder 'P/other/lm' is a file"),
])
def test_the_shell_refuses_an_unusable_out_in_one_line_before_any_work(tmp_path, capsys, argv, message):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "lm").write_text("x")
    argv = [a.replace("P/", f"{tmp_path}/").replace("DATA", str(tmp_path / "no-data-needed.csv")) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(message.replace("P/", f"{tmp_path}/"), err), err


def test_ensemble_refuses_the_same_member_twice(clf, tmp_path, capsys):
    clf.save(tmp_path / "c")
    with pytest.raises(SystemExit):
        main(["ensemble", str(tmp_path / "c"), str(tmp_path / "e" / ".." / "c"), "--out", str(tmp_path / "e")])
    assert "is given twice (as " in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_an_edited_manifest_never_makes_a_save_delete_outside_its_folder(tmp_path):
    outside = tmp_path / "outside"
    (outside / "member-0").mkdir(parents=True)
    (outside / "victim.txt").write_text("keep me")
    (outside / "member-0" / "manifest.json").write_text("{}")
    folder = tmp_path / "m"
    (folder / "member-1").mkdir(parents=True)
    (folder / "member-1" / "manifest.json").write_text("{}")
    (folder / "notes").mkdir()
    (folder / "notes" / "manifest.json").write_text("{}")
    (folder / "member-2").symlink_to(outside / "member-0", target_is_directory=True)
    hostile = [str(outside / "victim.txt"), str(outside / "member-0" / "manifest.json"), "../outside/victim.txt",
               "member-2/manifest.json", "notes/manifest.json", "member-1/manifest.json"]
    (folder / "manifest.json").write_text(json.dumps({"files": {n: {} for n in hostile}}))
    (folder / "config.json").write_text("{}")
    write_manifest(folder, ["config.json"])
    assert (outside / "victim.txt").read_text() == "keep me" and (outside / "member-0" / "manifest.json").exists()
    assert (folder / "notes").is_dir() and (folder / "member-2").is_symlink()  # not a member folder; a link
    assert not (folder / "member-1").exists()  # the one stale member folder the old save listed


@pytest.mark.parametrize("folder", [None, 3, ["model"]])
def test_loaders_and_saves_name_a_path_that_is_not_one(clf, folder):
    from ulmfit.classifier import load_classifier
    from vision.learner import load_model

    loaders = (TextClassifier.load, ClassifierEnsemble.load, load_classifier, LanguageModel.load, load_model)
    for load in loaders:
        with pytest.raises(TypeError, match=r"^folder must be a model folder's path \(a str or pathlib.Path\), got "
                                            rf"{type(folder).__name__} "):
            load(folder)
    if folder is not None:  # None is the empty path (above)
        with pytest.raises(TypeError, match=r"^folder must be a model folder's path"):
            clf.save(folder)
