"""Bundles as an attacker would hand them over: links planted where validate writes or pointing out
of the bundle, zips carrying members nobody lists, compression bombs. Each is refused or defused."""

from __future__ import annotations

import os
import shutil
import tracemalloc
import zipfile

import pytest
from twingym.policies import bundle as B
from twingym.policies import bundle_io

from twingym.cli import app
from twingym.cli.errors import run_guarded


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("twingym: error:"), err
    return err[0]


def _victims(tmp_path, names):
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in names:
        (outside / name).write_text("precious\n")
    return outside


def test_validate_never_writes_through_planted_links(good_bundle, tmp_path, capsys):
    path = tmp_path / "b"
    shutil.copytree(good_bundle, path)
    outside = _victims(tmp_path, ["a", "b", "c"])
    # the temp names the writer used to use, and the final report name, as links out of the bundle
    os.symlink(outside / "a", path / f".{B.VALIDATION_FILE}.tmp")
    os.symlink(outside / "b", path / f".{B.REPORT_FILE}.tmp")
    os.symlink(outside / "c", path / B.REPORT_FILE)
    code = run_guarded(app, ["validate", str(path), "--episodes", "4"])
    assert code in (0, 1), capsys.readouterr().err  # a verdict, whichever it is
    assert [(outside / n).read_text() for n in "abc"] == ["precious\n"] * 3
    for name in (B.VALIDATION_FILE, B.REPORT_FILE):
        assert (path / name).is_file() and not (path / name).is_symlink()
    assert B.load_bundle(path).validation() is not None
    assert not [p for p in path.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()]


def test_loading_refuses_links_that_leave_the_bundle(good_bundle, tmp_path, capsys):
    path = tmp_path / "b"
    shutil.copytree(good_bundle, path)
    outside = tmp_path / "elsewhere.onnx"
    shutil.move(path / B.POLICY_FILE, outside)  # same bytes, so the digest would even match
    os.symlink(outside, path / B.POLICY_FILE)
    with pytest.raises(B.BundleError, match="link leaving the bundle"):
        B.load_bundle(path)
    assert run_guarded(app, ["inspect", str(path)]) == 2
    assert "link leaving the bundle" in _one_error_line(capsys)
    # a link to a file inside the bundle is fine
    (path / B.POLICY_FILE).unlink()
    shutil.move(outside, path / ".policy-store.onnx")
    os.symlink(".policy-store.onnx", path / B.POLICY_FILE)
    assert B.load_bundle(path).policy_bytes == (path / ".policy-store.onnx").read_bytes()


def _write_zip_of(path, folder, extra: dict[str, int] | None = None) -> None:
    """The bundle in ``folder`` as a zip at ``path``, plus ``extra`` members of that many zero bytes
    (deflated while streamed, so the test never holds them)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for p in sorted(folder.iterdir()):
            zf.writestr(p.name, p.read_bytes())
        for name, size in (extra or {}).items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as member:
                zero = bytes(1 << 22)
                for _ in range(size // len(zero)):
                    member.write(zero)


def test_zip_with_an_unlisted_gigabyte_member_is_refused_without_reading_it(good_bundle, tmp_path, capsys):
    path = tmp_path / "bomb.zip"
    _write_zip_of(path, good_bundle, {"padding.bin": 1 << 30})
    assert path.stat().st_size < 8 << 20  # a few MB on disk, 1 GiB inflated
    tracemalloc.start()
    try:
        with pytest.raises(B.BundleError, match=r"does not list: padding\.bin"):
            B.load_bundle(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20  # the member was never inflated
    assert run_guarded(app, ["inspect", str(path)]) == 2
    assert "does not list: padding.bin" in _one_error_line(capsys)
    _write_zip_of(path, good_bundle)  # the same bundle without the stowaway loads
    assert B.load_bundle(path).twin_id == "ToyTank-v0"


def _zip_bundle(tmp_path, members: dict[str, bytes]):
    manifest = B.seal({"format_version": B.FORMAT_VERSION,
                       "files": {n: B.sha256_bytes(d) for n, d in members.items()}}, B.DIGEST_KEY)
    path = tmp_path / "crafted.zip"
    bundle_io.write_zip(path, {**members, B.MANIFEST_FILE: B.canonical_json(manifest)})  # deflated
    return path


def test_listed_members_are_bounded_in_size_total_and_compression_ratio(tmp_path):
    bomb = _zip_bundle(tmp_path, {B.POLICY_FILE: bytes(8 << 20)})  # 8 MiB of zeros: ratio ~1000
    with pytest.raises(B.BundleError, match="expands more than 100 times"):
        B.load_bundle(bomb)
    small = bundle_io.ReadLimits(member_bytes=4096, total_bytes=10_000)
    random = os.urandom(3000)
    three = _zip_bundle(tmp_path, {B.POLICY_FILE: random, "a.bin": os.urandom(3000), "b.bin": os.urandom(3000),
                                   "c.bin": os.urandom(3000)})
    with pytest.raises(B.BundleError, match="in total"):
        B.load_bundle(three, limits=small)
    big = _zip_bundle(tmp_path, {B.POLICY_FILE: os.urandom(5000)})
    with pytest.raises(B.BundleError, match="larger than"):
        B.load_bundle(big, limits=small)
    bad_name = _zip_bundle(tmp_path, {B.POLICY_FILE: random})
    manifest = B.seal({"format_version": B.FORMAT_VERSION, "files": {"../../etc/passwd": "0"}}, B.DIGEST_KEY)
    bad_name.write_bytes(B.zip_bytes({B.POLICY_FILE: random, B.MANIFEST_FILE: B.canonical_json(manifest)}))
    assert zipfile.is_zipfile(bad_name)
    with pytest.raises(B.BundleError, match="not a plain file name"):
        B.load_bundle(bad_name)
