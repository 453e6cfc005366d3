"""Hostile archives: the PATH_MAX symlink-chain escape (the CVE-2025-4517 pattern), hard links to files
outside, and a zip bomb, given to extract(), as a local data source, to `ulmfit tokenize` and through the
download helper. Nothing may be written outside the extraction folder."""

import functools
import http.server
import io
import os
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from ulmfit.cli import main
from ulmfit.data import load_source
from ulmfit.errors import DownloadError
from ulmfit.hub.archive import extract, extract_once
from ulmfit.hub.download import fetch


def _snapshot(root: Path, skip: Path) -> dict[str, bytes]:
    """Every file under ``root`` (except the tree ``skip``) with its content: what an escape would change."""
    out = {}
    for folder, _, files in os.walk(root):
        if Path(folder).is_relative_to(skip):
            continue
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                out[str(path)] = path.read_bytes()
    return out


def path_max_escape_tar(path: Path, victim: Path) -> Path:
    """The published PATH_MAX bypass: nested directory symlinks whose resolved path exceeds PATH_MAX (so
    os.path.realpath stops resolving), a link that climbs out from there, then a hard link through it to
    ``victim`` and a file written over it."""
    steps, comp, prefix = "abcdefghijklmnop", "d" * 247, ""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, kind, linkname="", data=None):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, linkname
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)

        for step in steps:
            add(os.path.join(prefix, comp), tarfile.DIRTYPE)
            add(os.path.join(prefix, step), tarfile.SYMTYPE, comp)
            prefix = os.path.join(prefix, comp)
        chain = os.path.join(*steps)
        add(os.path.join(chain, "l" * 254), tarfile.SYMTYPE, "../" * len(steps))
        up = "../" * (len(victim.parent.parts) + 2)
        add("escape", tarfile.SYMTYPE, os.path.join(chain, "l" * 254, up.rstrip("/"), str(victim.parent)[1:]))
        add("flaglink", tarfile.LNKTYPE, f"escape/{victim.name}")
        add("flaglink", tarfile.REGTYPE, data=b"overwritten by the archive")
    return path


def hardlink_tar(path: Path, victim: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("data/link.txt")
        info.type, info.linkname = tarfile.LNKTYPE, str(victim)
        tar.addfile(info)
        payload = b"overwritten"
        info = tarfile.TarInfo("data/link.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return path


def zip_bomb(path: Path, n_bytes: int = 20 * 2**20) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("reviews/big.txt", b"0" * n_bytes)
    return path


@pytest.fixture
def world(tmp_path):
    """A temporary root with a victim file outside the place archives are extracted to."""
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_bytes(b"precious")
    return tmp_path, victim


@pytest.mark.parametrize("make", [path_max_escape_tar, hardlink_tar], ids=["path_max_symlinks", "hard_link"])
def test_link_escapes_are_refused_by_extract_and_write_nothing_outside(world, make):
    root, victim = world
    archive = make(root / "evil.tar", victim)
    before = _snapshot(root, skip=root / "out")
    with pytest.raises(DownloadError, match=r"(symlink|hard link) .*links are not accepted"):
        extract_once(archive, root / "out")
    assert victim.read_bytes() == b"precious"
    assert _snapshot(root, skip=root / "out") == before
    assert not (root / "out").exists()  # extract_once leaves no half folder


@pytest.mark.parametrize("make", [path_max_escape_tar, hardlink_tar], ids=["path_max_symlinks", "hard_link"])
def test_link_escapes_are_refused_as_a_local_source_and_by_ulmfit_tokenize(world, make, capsys):
    root, victim = world
    archive = make(root / "evil.tar", victim)
    before = _snapshot(root, skip=Path(os.environ["ULMFIT_HOME"]))
    with pytest.raises(DownloadError, match="links are not accepted"):
        load_source(archive)
    with pytest.raises(SystemExit) as info:
        main(["tokenize", str(archive), "--out", str(root / "tokens.txt")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ulmfit tokenize: error: refusing to extract") and err.count("\n") == 1
    assert victim.read_bytes() == b"precious"
    assert _snapshot(root, skip=Path(os.environ["ULMFIT_HOME"])) == before


@pytest.fixture
def server(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("make", [path_max_escape_tar, hardlink_tar, zip_bomb],
                         ids=["path_max_symlinks", "hard_link", "zip_bomb"])
def test_hostile_downloads_are_refused_by_the_download_helper(world, server, make):
    root, victim = world
    base, www = server
    name = "evil.zip" if make is zip_bomb else "evil.tar"
    make(www / name) if make is zip_bomb else make(www / name, victim)
    home = Path(os.environ["ULMFIT_HOME"])
    before = _snapshot(root, skip=home)
    with pytest.raises(DownloadError, match="refusing to extract"):
        fetch(f"{base}/{name}", progress=False)
    assert victim.read_bytes() == b"precious" and _snapshot(root, skip=home) == before
    assert not any((home / "extracted").glob("evil*")), "a refused archive left an extracted folder"


def test_zip_bomb_is_refused_naming_the_archive_and_limit_and_the_limit_can_be_raised(tmp_path, monkeypatch):
    bomb = zip_bomb(tmp_path / "bomb.zip")
    with pytest.raises(DownloadError, match=r"bomb\.zip.*20,971,520.*over the limit of 200x.*max_ratio="):
        extract(bomb, tmp_path / "out")
    assert not (tmp_path / "out" / "reviews").exists()
    with pytest.raises(DownloadError, match="over the limit of 10,000,000 .*ULMFIT_EXTRACT_MAX_BYTES"):
        extract(bomb, tmp_path / "out", max_ratio=1e9, max_bytes=10_000_000)
    monkeypatch.setenv("ULMFIT_EXTRACT_MAX_RATIO", "1e6")  # the user trusts this archive
    assert (extract(bomb, tmp_path / "ok") / "reviews" / "big.txt").stat().st_size == 20 * 2**20


def test_member_count_limit(tmp_path):
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(30):
            zf.writestr(f"t/{i}.txt", "x")
    with pytest.raises(DownloadError, match="30 members exceed the limit of 10"):
        extract(archive, tmp_path / "out", max_members=10)
    assert len(list((extract(archive, tmp_path / "out2")).rglob("*.txt"))) == 30
