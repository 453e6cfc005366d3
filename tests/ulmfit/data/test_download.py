import hashlib
import io
import socket
import tarfile
import zipfile

import pytest

from ulmfit.data.download import DownloadError, cache_dir, download, extract, fetch


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ULMFIT_HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home"
    monkeypatch.delenv("ULMFIT_HOME")
    assert cache_dir().parts[-2:] == (".cache", "ulmfit")


def test_plain_download_and_offline_reuse(server, tmp_path):
    data = bytes(range(256)) * 100
    server.files["f.bin"] = data
    path = download(f"{server.url}/f.bin", dest_dir=tmp_path, sha256=_sha(data), size=len(data), progress=False)
    assert path == tmp_path / "f.bin" and path.read_bytes() == data
    assert not (tmp_path / "f.bin.part").exists()
    n = len(server.requests)
    again = download(f"{server.url}/f.bin", dest_dir=tmp_path, sha256=_sha(data), progress=False)
    assert again == path and len(server.requests) == n  # no network the second time


def test_resume_partial_file(server, tmp_path):
    data = b"0123456789" * 1000
    server.files["big.bin"] = data
    (tmp_path / "big.bin.part").write_bytes(data[:3000])
    path = download(f"{server.url}/big.bin", dest_dir=tmp_path, sha256=_sha(data), progress=False)
    assert path.read_bytes() == data
    assert server.requests[-1] == ("big.bin", "bytes=3000-")


def test_resume_restarts_when_range_ignored(server, tmp_path):
    data = b"abcdef" * 500
    server.files["x.bin"] = data
    server.honour_range = False
    (tmp_path / "x.bin.part").write_bytes(b"zzzz")  # wrong bytes: must not be kept
    path = download(f"{server.url}/x.bin", dest_dir=tmp_path, sha256=_sha(data), progress=False)
    assert path.read_bytes() == data


def test_sha256_mismatch_deletes_and_names_values(server, tmp_path):
    server.files["bad.bin"] = b"not what you expected"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as err:
        download(f"{server.url}/bad.bin", dest_dir=tmp_path, sha256=wrong, progress=False)
    msg = str(err.value)
    assert f"{server.url}/bad.bin" in msg and wrong in msg and _sha(b"not what you expected") in msg
    assert not list(tmp_path.iterdir())


def test_size_mismatch(server, tmp_path):
    server.files["s.bin"] = b"12345"
    with pytest.raises(DownloadError, match="expected 9 bytes, got 5"):
        download(f"{server.url}/s.bin", dest_dir=tmp_path, size=9, progress=False)
    assert not list(tmp_path.iterdir())


def test_unreachable_gives_clear_error(tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/model.tgz"
    with pytest.raises(DownloadError, match=r"could not reach .*model\.tgz.*place it at .*model\.tgz"):
        download(url, dest_dir=tmp_path, progress=False, timeout=5)


def test_http_error(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{server.url}/missing.bin", dest_dir=tmp_path, progress=False)


def _tar_bytes(members) -> bytes:
    """members: list of (TarInfo, bytes or None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def test_fetch_extracts_once_then_offline(server):
    data = _tar_bytes([(tarfile.TarInfo("pack/a.txt"), b"hello"), (tarfile.TarInfo("pack/sub/b.txt"), b"world")])
    server.files["pack.tar.gz"] = data
    out = fetch(f"{server.url}/pack.tar.gz", sha256=_sha(data), progress=False)
    assert (out / "pack" / "a.txt").read_text() == "hello"
    assert (out / "pack" / "sub" / "b.txt").read_text() == "world"
    assert out.parent == cache_dir() / "extracted"
    (cache_dir() / "downloads" / "pack.tar.gz").unlink()
    server.files.clear()  # nothing reachable now: the marker makes the second call offline
    assert fetch(f"{server.url}/pack.tar.gz", sha256=_sha(data), progress=False) == out


def test_extract_zip_and_tgz(tmp_path):
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("d/x.txt", "zip content")
    assert (extract(z, tmp_path / "outz") / "d" / "x.txt").read_text() == "zip content"
    t = tmp_path / "a.tgz"
    t.write_bytes(_tar_bytes([(tarfile.TarInfo("y.txt"), b"tar content")]))
    assert (extract(t, tmp_path / "outt") / "y.txt").read_text() == "tar content"
    with pytest.raises(DownloadError, match="unknown archive type"):
        extract(_tar_path(tmp_path / "a.rar"), tmp_path / "o")


def _tar_path(path):
    path.write_bytes(b"x")
    return path


def _symlink(name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def _hardlink(name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, target
    return info


@pytest.mark.parametrize(
    "members,pattern",
    [
        ([(tarfile.TarInfo("../evil.txt"), b"x")], r"'\.\./evil\.txt'.*outside"),
        ([(tarfile.TarInfo("ok/../../evil.txt"), b"x")], "outside"),
        ([(tarfile.TarInfo("/etc/evil.txt"), b"x")], "absolute"),
        ([(_symlink("link", "../../outside"), None)], "symlink 'link'"),
        ([(_symlink("link", "/etc/passwd"), None)], "symlink"),
        ([(_hardlink("hard", "../outside"), None)], "hard link|outside"),
    ],
)
def test_extract_refuses_escaping_tar_members(tmp_path, members, pattern):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(_tar_bytes(members))
    dest = tmp_path / "out" / "inner"
    with pytest.raises(DownloadError, match=pattern):
        extract(archive, dest)
    assert not list(dest.iterdir())
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_extract_refuses_even_an_internal_symlink(tmp_path):
    # links are refused outright: a chain of in-tree links is how the PATH_MAX escape (CVE-2025-4517) starts
    archive = tmp_path / "ok.tar.gz"
    archive.write_bytes(_tar_bytes([(tarfile.TarInfo("d/real.txt"), b"r"), (_symlink("d/link.txt", "real.txt"), None)]))
    with pytest.raises(DownloadError, match="symlink 'd/link.txt' -> 'real.txt'; links are not accepted"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "d").exists()  # refused before anything was written


def test_extract_refuses_escaping_zip_members(tmp_path):
    for name in ("../evil.txt", "/abs/evil.txt"):
        archive = tmp_path / "evil.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr(zipfile.ZipInfo(name), "x")
        with pytest.raises(DownloadError, match="outside the target"):
            extract(archive, tmp_path / "out")
    archive = tmp_path / "link.zip"
    info = zipfile.ZipInfo("link")
    info.external_attr = (0o120777 << 16)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "../../etc/passwd")
    with pytest.raises(DownloadError, match="symlink"):
        extract(archive, tmp_path / "out2")


def test_a_download_without_a_known_checksum_says_so(server, tmp_path):
    import warnings

    from ulmfit.hub.download import UnverifiedDownloadWarning

    server.files["u.txt"] = b"payload"
    with pytest.warns(UnverifiedDownloadWarning, match="no sha256 is known .*unverified"):
        download(f"{server.url}/u.txt", dest_dir=tmp_path / "a", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedDownloadWarning)  # a pinned checksum: no warning
        download(f"{server.url}/u.txt", dest_dir=tmp_path / "b", progress=False, sha256=_sha(b"payload"))
