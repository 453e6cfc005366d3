"""Tampered or inconsistent model folders are refused with a ModelFolderError naming the file (and key):
a changed tensor byte, a reordered or duplicated vocabulary, duplicate classes, a crash in the middle of
save, absurd sizes in config.json and malformed JSON."""

import json
import shutil

import pytest
import torch

from ulmfit.classifier import TextClassifier
from ulmfit.demo import load_demo_data
from ulmfit.hub.model_folder import ModelFolderError
from ulmfit.language_model import LanguageModel


@pytest.fixture(scope="module")
def lm_folder(tiny_lm_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved") / "lm"
    LanguageModel.load(tiny_lm_dir).save(folder)  # a save writes the manifest
    return folder


@pytest.fixture(scope="module")
def clf_folder(tiny_lm_dir, tmp_path_factory):
    (texts, labels), _ = load_demo_data()
    clf = TextClassifier.train(texts[:40], labels[:40], lm=LanguageModel.load(tiny_lm_dir), stage_epochs=(1,), bs=16,
                               progress=False)
    return clf.save(tmp_path_factory.mktemp("saved") / "clf")


@pytest.fixture
def copy(tmp_path):
    def make(folder):
        return shutil.copytree(folder, tmp_path / folder.name)
    return make


def test_a_saved_folder_has_a_manifest_and_loads(lm_folder, clf_folder):
    manifest = json.loads((lm_folder / "manifest.json").read_text())
    assert set(manifest["files"]) == {"model.pt", "config.json", "vocab.json", "tokenizer.json"}
    assert "labels.json" in json.loads((clf_folder / "manifest.json").read_text())["files"]
    LanguageModel.load(lm_folder)
    TextClassifier.load(clf_folder)


def test_64_bytes_overwritten_inside_the_tensor_data_are_detected(lm_folder, copy):
    folder = copy(lm_folder)
    data = bytearray((folder / "model.pt").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)  # inside a tensor's storage: torch.load would still read it
    (folder / "model.pt").write_bytes(bytes(data))
    with pytest.raises(ModelFolderError, match=r"model\.pt does not match its sha256/size in manifest\.json"):
        LanguageModel.load(folder)


def test_a_reordered_vocab_of_the_same_size_is_detected(lm_folder, copy):
    folder = copy(lm_folder)
    vocab = json.loads((folder / "vocab.json").read_text())
    vocab["itos"][10], vocab["itos"][11] = vocab["itos"][11], vocab["itos"][10]
    (folder / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(ModelFolderError, match=r"vocab\.json does not match"):
        LanguageModel.load(folder)


def test_duplicate_tokens_and_duplicate_classes_are_refused_even_without_a_manifest(lm_folder, clf_folder, copy):
    folder = copy(lm_folder)
    (folder / "manifest.json").unlink()  # an older folder: only the content checks remain
    vocab = json.loads((folder / "vocab.json").read_text())
    vocab["itos"][12] = vocab["itos"][11]
    (folder / "vocab.json").write_text(json.dumps(vocab))
    with pytest.warns(UserWarning, match="no manifest.json"), pytest.raises(ModelFolderError, match="more than once"):
        LanguageModel.load(folder)
    folder = copy(clf_folder)
    (folder / "manifest.json").unlink()
    labels = json.loads((folder / "labels.json").read_text())
    labels["classes"] = [labels["classes"][0]] * len(labels["classes"])
    (folder / "labels.json").write_text(json.dumps(labels))
    with pytest.warns(UserWarning), pytest.raises(ModelFolderError, match=r"labels\.json lists the class\(es\)"):
        TextClassifier.load(folder)


def test_a_crash_in_the_middle_of_save_leaves_a_folder_that_is_refused(lm_folder, copy, monkeypatch):
    folder = copy(lm_folder)
    lm = LanguageModel.load(folder)
    with torch.no_grad():
        next(lm.model.parameters()).add_(1.0)  # new weights

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after model.pt and config.json, before vocab.json

    monkeypatch.setattr(type(lm.vocab), "save", crash)
    with pytest.raises(KeyboardInterrupt):
        lm.save(folder)
    monkeypatch.undo()
    with pytest.raises(ModelFolderError, match=r"model\.pt does not match .*interrupted save"):
        LanguageModel.load(folder)


def test_huge_sizes_in_config_are_refused_before_anything_is_allocated(lm_folder, copy):
    folder = copy(lm_folder)
    (folder / "manifest.json").unlink()
    config = json.loads((folder / "config.json").read_text())
    config["arch"]["n_hid"] = 10**9
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning), pytest.raises(ModelFolderError, match=r"config\.json: arch\.n_hid=1000000000"):
        LanguageModel.load(folder)
    config["arch"]["n_hid"] = 40  # plausible but not what model.pt holds
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning), pytest.raises(ModelFolderError, match=r"model\.pt does not fit the architecture"):
        LanguageModel.load(folder)


@pytest.mark.filterwarnings("ignore:.*no manifest.json")
@pytest.mark.parametrize("what, content, message", [
    ("config.json", [1, 2], r"config\.json must hold a JSON object, found list"),
    ("config.json", {"format_version": 1, "kind": "language_model"}, r"config\.json has no 'arch' entry"),
    ("config.json", "{not json", r"config\.json is not valid JSON"),
])
def test_malformed_config_is_a_clear_error_naming_the_file_and_key(lm_folder, copy, what, content, message):
    folder = copy(lm_folder)
    (folder / "manifest.json").unlink()
    (folder / what).write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ModelFolderError, match=message):
        LanguageModel.load(folder)


def test_labels_without_classes_is_a_clear_error(clf_folder, copy):
    folder = copy(clf_folder)
    (folder / "manifest.json").unlink()
    (folder / "labels.json").write_text(json.dumps({"multi_label": False}))
    with pytest.warns(UserWarning), pytest.raises(ModelFolderError, match=r"labels\.json has no 'classes' entry"):
        TextClassifier.load(folder)


@pytest.mark.filterwarnings("ignore:.*no manifest.json")
@pytest.mark.parametrize("edit, message", [
    ({"multi_label": "yes"}, r"labels\.json: 'multi_label' must be true or false, found 'yes'"),
    ({"thresholds": ["x", None]}, r"labels\.json: 'thresholds' must list one number in \[0, 1\] per class \(2\)"),
    ({"thresholds": [5, 0.5]}, r"labels\.json: 'thresholds' must list one number in \[0, 1\] per class"),
    ({"n_classes": 3}, r"config\.json: 'n_classes' is 3 but .*labels\.json lists 2 classes"),
])
def test_edited_labels_and_class_count_are_refused_naming_the_file(clf_folder, copy, edit, message):
    folder = copy(clf_folder)
    (folder / "manifest.json").unlink()
    name = "config.json" if "n_classes" in edit else "labels.json"
    data = json.loads((folder / name).read_text())
    (folder / name).write_text(json.dumps({**data, **edit}))
    with pytest.raises(ModelFolderError, match=message):
        TextClassifier.load(folder)


@pytest.mark.filterwarnings("ignore:.*no manifest.json")
@pytest.mark.parametrize("name, content, message", [
    ("tokenizer.json", {}, r"tokenizer\.json: not a valid tokenizer spec \(.*'lang'"),
    ("vocab.json", ["a"], r"config\.json, vocab\.json and labels\.json do not describe a model that can be built "
                          r"\(.*pad_token"),
])
def test_edited_tokenizer_or_vocab_is_refused_naming_the_file(lm_folder, copy, name, content, message):
    folder = copy(lm_folder)
    (folder / "manifest.json").unlink()
    (folder / name).write_text(json.dumps(content))
    with pytest.raises(ModelFolderError, match=message):
        LanguageModel.load(folder)


def test_a_path_that_is_a_file_is_named_as_such(lm_folder):
    with pytest.raises(ModelFolderError, match="is a file, not a model folder"):
        LanguageModel.load(lm_folder / "model.pt")
