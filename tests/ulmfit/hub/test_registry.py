"""Tests for ulmfit.hub.registry: entries as data, locating/downloading files; LanguageModel.from_pretrained
(and pretrained.load, its alias) dispatching on what the registry located."""

import dataclasses
import functools
import hashlib
import http.server
import io
import json
import socket
import tarfile
import threading
from pathlib import Path

import pytest

import pretrained
from ulmfit.hub import registry
from ulmfit.models import AWDLSTMConfig, build_language_model

NAMES = pretrained.list_models()


# --- entries are well-formed data ---------------------------------------------------------------------


def test_names_unique_and_default_first():
    assert len(NAMES) == len(set(NAMES)) == 5
    assert NAMES[0] == pretrained.DEFAULT == "ulmfit-en-fwd"
    assert {"ulmfit-en-bwd", "ulmfit-en-small-fwd"} <= set(NAMES)
    assert {"wt103-fwd", "wt103-bwd"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_entry_is_well_formed(name):
    entry = pretrained.get_entry(name)
    assert entry.name == name
    assert entry.format in registry.FORMATS
    assert entry.direction in registry.DIRECTIONS
    assert (entry.url is None) != (entry.path is None)
    if entry.url is not None:
        assert entry.url.startswith("https://")
    assert entry.sha256 is None or (len(entry.sha256) == 64 and int(entry.sha256, 16) >= 0)
    valid_keys = {f.name for f in dataclasses.fields(AWDLSTMConfig)}
    assert set(entry.arch) <= valid_keys, set(entry.arch) - valid_keys
    assert entry.files and entry.license and entry.corpus and entry.notes
    assert isinstance(entry.tokenizer.get("type"), str)
    json.dumps(entry.to_dict())  # JSON-able, for listings and model cards
    with pytest.raises(TypeError):
        entry.arch["emb_sz"] = 1  # read-only: an entry cannot be edited after registration
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.url = "https://example.org/x.tgz"


@pytest.mark.parametrize("direction", ["fwd", "bwd"])
def test_wt103_entries(direction):
    entry = pretrained.get_entry(f"wt103-{direction}")
    assert entry.url == f"https://s3.amazonaws.com/fast-ai-modelzoo/wt103-{direction}.tgz"
    assert entry.format == "fastai" and entry.direction == direction
    assert entry.files == (f"lstm_{direction}.pth", "itos_wt103.pkl")
    assert entry.vocab_size == 60000
    assert AWDLSTMConfig.from_dict(dict(entry.arch)).backwards == (direction == "bwd")
    for key, value in registry.AWD_LSTM_LM_CONFIG.items():
        assert entry.arch[key] == value
    # Neither checksum nor size is known: the entry must say so rather than carry made-up values.
    assert entry.sha256 is None and entry.size_bytes is None
    assert entry.verification == "none" and "UNVERIFIED" in entry.notes
    assert entry.num_params == registry.count_lm_params(60000, entry.arch) == 44_333_280


def test_count_lm_params_matches_fastai_reference():
    # ULMFIT_FACTS.md section e: fastai's get_language_model(AWD_LSTM, 1000) has 20,674,280 unique parameters.
    assert registry.count_lm_params(1000, registry.AWD_LSTM_LM_CONFIG) == 20_674_280


@pytest.mark.parametrize("tie", [True, False])
def test_count_lm_params_matches_a_built_model(tie):
    cfg = AWDLSTMConfig(emb_sz=6, n_hid=10, n_layers=3, tie_weights=tie)
    net = build_language_model(37, cfg)
    unique = {id(p): p.numel() for p in net.parameters()}
    assert registry.count_lm_params(37, dataclasses.asdict(cfg)) == sum(unique.values())


def test_entry_validation_errors():
    good = dict(name="x", format="fastai", direction="fwd", url="https://example.org/x.tgz")
    registry.ModelEntry(**good)
    with pytest.raises(ValueError, match="format='onnx'"):
        registry.ModelEntry(**good | {"format": "onnx"})
    with pytest.raises(ValueError, match="direction='left'"):
        registry.ModelEntry(**good | {"direction": "left"})
    with pytest.raises(ValueError, match="must start with https://"):
        registry.ModelEntry(**good | {"url": "http://example.org/x.tgz"})
    with pytest.raises(ValueError, match="exactly one of url= and path="):
        registry.ModelEntry(**good | {"path": "folder"})
    with pytest.raises(ValueError, match="sha256='abc'"):
        registry.ModelEntry(**good | {"sha256": "abc"})
    assert registry.ModelEntry(**good | {"size_bytes": 10}).verification == "size only"
    assert registry.ModelEntry(**good | {"sha256": "0" * 64}).verification == "sha256"


def test_unknown_name_lists_known_ones(tmp_path):
    for call in (pretrained.get_entry, pretrained.locate):
        with pytest.raises(pretrained.UnknownModelError) as info:
            call("wt103-fwdd")
        message = str(info.value)
        assert "'wt103-fwdd'" in message and all(name in message for name in NAMES)
    with pytest.raises(ValueError, match="known models"):
        pretrained.locate(tmp_path / "no_such_folder")
    assert pretrained.locate(tmp_path) == tmp_path  # an existing path is returned as is


# --- the shipped folder ----------------------------------------------------------------------------------


@pytest.fixture
def package_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "PACKAGE_DIR", tmp_path)
    return tmp_path


def test_shipped_model_missing_is_a_clear_error(package_dir):
    with pytest.raises(FileNotFoundError, match="ulmfit-en-fwd.*does not exist"):
        pretrained.locate(pretrained.DEFAULT)
    folder = package_dir / "en_fwd"
    folder.mkdir()
    (folder / "model.pt").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="lacks config.json, vocab.json, tokenizer.json"):
        pretrained.locate(pretrained.DEFAULT)


def _write_small_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"")
    arch = {"emb_sz": 16, "n_hid": 32, "n_layers": 2}
    config = {"format_version": 1, "kind": "language_model", "arch": arch, "meta": {"metrics": {"valid_ppl": 99.5}}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "vocab.json").write_text(json.dumps({"itos": ["xxunk", "xxpad", "a", "b"]}))
    (folder / "tokenizer.json").write_text(json.dumps({"type": "spacy", "lang": "en"}))


def test_shipped_model_entry_is_completed_from_its_folder(package_dir):
    _write_small_folder(package_dir / "en_fwd")
    assert pretrained.locate(pretrained.DEFAULT) == package_dir / "en_fwd"
    entry = pretrained.get_entry(pretrained.DEFAULT)
    assert entry.arch == {"emb_sz": 16, "n_hid": 32, "n_layers": 2}
    assert entry.metrics == {"valid_ppl": 99.5}
    assert entry.vocab_size == 4
    assert entry.tokenizer == {"type": "spacy", "lang": "en"}
    assert entry.verification == "packaged"
    assert entry.num_params == registry.count_lm_params(4, entry.arch)  # computed: not recorded in the folder


# --- load / import_fastai hand over to LanguageModel (its two leaf loaders are stand-ins here) ------------


@pytest.fixture
def fake_lm(monkeypatch):
    from ulmfit.language_model import LanguageModel

    calls = []

    def load(cls, folder, **kwargs):
        calls.append(("load", Path(folder), kwargs))
        return "lm"

    def from_fastai(cls, weights_pth, vocab_pkl, **kwargs):
        calls.append(("from_fastai", Path(weights_pth), Path(vocab_pkl), kwargs))
        return "lm"

    monkeypatch.setattr(LanguageModel, "load", classmethod(load))
    monkeypatch.setattr(LanguageModel, "from_fastai", classmethod(from_fastai))
    return calls


def test_load_dispatches_on_folder_format(tmp_path, package_dir, fake_lm):
    _write_small_folder(package_dir / "en_fwd")
    assert pretrained.load(pretrained.DEFAULT) == "lm"
    assert fake_lm[-1] == ("load", package_dir / "en_fwd", {"config": None, "tokenizer": None})

    fastai_dir = tmp_path / "fastai_model"
    fastai_dir.mkdir()
    (fastai_dir / "lm.pth").write_bytes(b"w")
    (fastai_dir / "vocab.pkl").write_bytes(b"v")
    pretrained.load(fastai_dir, tokenizer=None)
    assert fake_lm[-1] == ("from_fastai", fastai_dir / "lm.pth", fastai_dir / "vocab.pkl",
                           {"config": None, "tokenizer": None})

    with pytest.raises(ValueError, match="not a saved model folder"):
        pretrained.load(tmp_path / "fastai_model" / "lm.pth")


def test_load_forwards_keywords_that_from_pretrained_accepts(tmp_path, package_dir, fake_lm):
    # regression: pretrained.load(folder, **kw) used to pass keywords from_pretrained did not take (TypeError)
    from ulmfit.language_model import LanguageModel

    _write_small_folder(package_dir / "en_fwd")
    config = AWDLSTMConfig(emb_sz=16, n_hid=32, n_layers=2, output_p=0.0)
    for call in (pretrained.load, LanguageModel.from_pretrained):
        assert call(package_dir / "en_fwd", config=config, tokenizer="tok") == "lm"
        assert fake_lm[-1] == ("load", package_dir / "en_fwd", {"config": config, "tokenizer": "tok"})
    with pytest.raises(TypeError):
        pretrained.load(package_dir / "en_fwd", epochs=3)


def test_a_registry_name_wins_over_a_folder_of_the_same_spelling(tmp_path, package_dir, fake_lm, monkeypatch):
    # regression: pretrained.load and LanguageModel.from_pretrained disagreed on this
    from ulmfit.language_model import LanguageModel

    _write_small_folder(package_dir / "en_fwd")
    monkeypatch.chdir(tmp_path)
    _write_small_folder(tmp_path / pretrained.DEFAULT)  # a folder named like the shipped model
    for call in (pretrained.load, LanguageModel.from_pretrained):
        call(pretrained.DEFAULT)
        assert fake_lm[-1][1] == package_dir / "en_fwd"
        call(f"./{pretrained.DEFAULT}")  # the documented way to name the folder
        assert fake_lm[-1][1].resolve() == (tmp_path / pretrained.DEFAULT).resolve()


def test_import_fastai_checks_files(tmp_path, fake_lm):
    weights, vocab = tmp_path / "lstm_fwd.pth", tmp_path / "itos.pkl"
    weights.write_bytes(b"w")
    with pytest.raises(FileNotFoundError, match="vocab_pkl='.*itos.pkl' is not a file"):
        pretrained.import_fastai(weights, vocab)
    vocab.write_bytes(b"v")
    assert pretrained.import_fastai(str(weights), str(vocab)) == "lm"
    assert fake_lm[-1] == ("from_fastai", weights, vocab, {})


def test_fastai_files_needs_pth_and_pkl(tmp_path):
    (tmp_path / "b.pth").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="found 1 .pth and 0 .pkl"):
        pretrained.fastai_files(tmp_path)
    (tmp_path / "a.pth").write_bytes(b"")
    (tmp_path / "itos.pkl").write_bytes(b"")
    assert pretrained.fastai_files(tmp_path) == (tmp_path / "a.pth", tmp_path / "itos.pkl")  # first, as fastai


# --- downloads through a local http.server --------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path):
    """Serve ``tmp_path / "www"`` on 127.0.0.1; yields (base_url, folder)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    httpd.shutdown()
    httpd.server_close()


def _tiny_wt103_tarball(path: Path) -> bytes:
    """A tarball laid out like fastai's wt103-fwd.tgz (tiny stand-in payloads)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in (("lstm_fwd.pth", b"fake weights"), ("itos_wt103.pkl", b"fake vocab")):
            info = tarfile.TarInfo(f"wt103-fwd/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path.read_bytes()


def _patch_entry(monkeypatch, name, **changes):
    entry = dataclasses.replace(registry._REGISTRY[name], **changes)
    monkeypatch.setitem(registry._REGISTRY, name, entry)
    return entry


def _download_module():
    from ulmfit.hub import download

    return download


def _files_named(root: Path, stem: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name.startswith(stem)]


def test_download_locate_and_fastai_files(server, monkeypatch):
    _download_module()
    base, www = server
    data = _tiny_wt103_tarball(www / "wt103-fwd.tgz")
    _patch_entry(monkeypatch, "wt103-fwd", url=f"{base}/wt103-fwd.tgz", size_bytes=len(data),
                 sha256=hashlib.sha256(data).hexdigest())
    folder = pretrained.locate("wt103-fwd")
    assert (folder / "lstm_fwd.pth").read_bytes() == b"fake weights"
    assert pretrained.fastai_files("wt103-fwd") == (folder / "lstm_fwd.pth", folder / "itos_wt103.pkl")
    (www / "wt103-fwd.tgz").unlink()  # a second call must not need the server
    assert pretrained.locate("wt103-fwd") == folder


def test_download_checksum_failure_removes_file(server, monkeypatch, tmp_path):
    download = _download_module()
    base, www = server
    _tiny_wt103_tarball(www / "wt103-fwd.tgz")
    _patch_entry(monkeypatch, "wt103-fwd", url=f"{base}/wt103-fwd.tgz", sha256="0" * 64)
    with pytest.raises(getattr(download, "DownloadError", Exception)) as info:
        pretrained.locate("wt103-fwd")
    text = str(info.value) + " ".join(getattr(info.value, "__notes__", []))
    assert "wt103-fwd.tgz" in text and "0" * 64 in text and "'wt103-fwd'" in text
    assert not _files_named(download.cache_dir(), "wt103-fwd"), "a corrupt download was left in the cache"
    assert not _files_named(download.cache_dir(), "lstm_fwd")


def test_download_offline_is_a_clear_error(monkeypatch):
    download = _download_module()
    with socket.socket() as sock:  # a port on which nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/wt103-fwd.tgz"
    _patch_entry(monkeypatch, "wt103-fwd", url=url)
    with pytest.raises(getattr(download, "DownloadError", Exception)) as info:
        pretrained.locate("wt103-fwd")
    assert url in str(info.value)
    assert any("'wt103-fwd'" in note for note in getattr(info.value, "__notes__", []))


@pytest.fixture
def fake_fetch(tmp_path, monkeypatch):
    """A stand-in for ulmfit.hub.download.fetch that 'extracts' into tmp_path / "extracted"."""
    calls = []
    root = tmp_path / "extracted"

    def fetch(url, *, sha256=None, size=None, extract=True):
        calls.append((url, sha256, size, extract))
        return root

    monkeypatch.setattr(registry, "fetch", fetch)
    return calls, root


def test_locate_passes_entry_checks_to_fetch_and_finds_nested_folder(fake_fetch, monkeypatch):
    calls, root = fake_fetch
    (root / "wt103-bwd").mkdir(parents=True)
    (root / "wt103-bwd" / "lstm_bwd.pth").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="no folder there holds lstm_bwd.pth, itos_wt103.pkl"):
        pretrained.locate("wt103-bwd")
    (root / "wt103-bwd" / "itos_wt103.pkl").write_bytes(b"")
    entry = _patch_entry(monkeypatch, "wt103-bwd", size_bytes=123, sha256="ab" * 32)
    assert pretrained.locate("wt103-bwd") == root / "wt103-bwd"
    assert calls[-1] == (entry.url, "ab" * 32, 123, True)


def test_load_registered_fastai_entry_passes_its_arch(fake_fetch, fake_lm):
    _, root = fake_fetch
    (root / "wt103-bwd").mkdir(parents=True)
    for name in ("lstm_bwd.pth", "itos_wt103.pkl"):
        (root / "wt103-bwd" / name).write_bytes(b"")
    assert pretrained.load("wt103-bwd") == "lm"
    kind, weights, vocab, kwargs = fake_lm[-1]
    assert kwargs["tokenizer"] is None
    assert (kind, weights.name, vocab.name) == ("from_fastai", "lstm_bwd.pth", "itos_wt103.pkl")
    assert kwargs["config"] == AWDLSTMConfig.from_dict(dict(pretrained.get_entry("wt103-bwd").arch))
    assert kwargs["config"].backwards and kwargs["config"].n_hid == 1152
