"""Reading and writing bundle members safely: bounded, streamed, never through links.

Reading (:func:`read_members`) loads only the members a bundle may hold: ``manifest.json``, the files
it lists, ``validation.json`` and the files that lists (the report), each a plain file name. A zip
member nobody lists is refused by name before a byte of it is read; a directory's other files are
left alone. Every member is streamed in chunks against :class:`ReadLimits` (per member, in total,
and, in a zip, the compression ratio), so a small archive cannot make the loader hold a gigabyte.
In a directory bundle, a member that is a symbolic link resolving outside the bundle is refused.

Writing (:func:`write_members`, :func:`write_zip`) creates each file under a fresh random name in
the bundle's own folder (``tempfile.mkstemp``: ``O_CREAT | O_EXCL``, so an existing file or link
of that name is never opened) and renames it into place with ``os.replace``, which replaces a link
of the final name instead of writing through it. Nothing outside the bundle is ever written.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MANIFEST_FILE = "manifest.json"
VALIDATION_FILE = "validation.json"
CHUNK = 1 << 20


class MemberError(ValueError):
    """A bundle member that may not be read (unlisted, too large, a link leaving the bundle)."""


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what loading a bundle may read.

    Attributes:
        member_bytes: largest uncompressed member (default 256 MiB).
        total_bytes: largest sum of uncompressed members (default 512 MiB).
        ratio: largest uncompressed/compressed ratio of a zip member over ``ratio_floor`` bytes
            (default 100; ONNX weights compress about 1.1x, JSON about 5-10x, zero-filled bombs 1000x).
        ratio_floor: members up to this size are exempt from the ratio bound (default 1 MiB).
    """

    member_bytes: int = 256 << 20
    total_bytes: int = 512 << 20
    ratio: float = 100.0
    ratio_floor: int = 1 << 20


DEFAULT_LIMITS = ReadLimits()


def check_member_name(name: str, where: str) -> str:
    """``name`` if it is a plain file name (no folder, not ``.``/``..``), else :class:`MemberError`."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name \
            or "\0" in name:
        raise MemberError(f"{where}: {name!r} is not a plain file name")
    return name


def _listed_names(raw: bytes | None, key: str) -> list[str]:
    """The file names a bundle JSON file lists under ``key`` (empty when unreadable: checked later)."""
    if raw is None:
        return []
    try:
        listed = json.loads(raw.decode("ascii")).get(key) or {}
    except (UnicodeDecodeError, ValueError, AttributeError):
        return []
    return list(listed) if isinstance(listed, dict) else []


class _Budget:
    def __init__(self, where: str, limits: ReadLimits) -> None:
        self.where, self.limits, self.used = where, limits, 0

    def read(self, name: str, stream: BinaryIO, declared: int | None = None,
             compressed: int | None = None) -> bytes:
        if declared is not None:
            self._check(name, declared, compressed)
        parts, size = [], 0
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            self._check(name, size, compressed)
            parts.append(chunk)
        self.used += size
        return b"".join(parts)

    def _check(self, name: str, size: int, compressed: int | None) -> None:
        lim = self.limits
        if size > lim.member_bytes:
            raise MemberError(f"{self.where}: member {name} is larger than {lim.member_bytes >> 20} MiB")
        if self.used + size > lim.total_bytes:
            raise MemberError(f"{self.where}: members exceed {lim.total_bytes >> 20} MiB in total")
        if compressed is not None and size > lim.ratio_floor and size > lim.ratio * max(compressed, 1):
            raise MemberError(f"{self.where}: member {name} expands more than {lim.ratio:g} times "
                              "(a compression bomb?)")


def read_members(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> dict[str, bytes]:
    """The members of a bundle directory or ``.zip`` that the bundle lists (see the module docstring)."""
    if path.is_dir():
        return _read_dir(path, limits)
    if zipfile.is_zipfile(path):
        return _read_zip(path, limits)
    raise MemberError(f"bundle {path} is neither a directory nor a .zip archive")


def _read_dir(path: Path, limits: ReadLimits) -> dict[str, bytes]:
    root = path.resolve()
    budget = _Budget(f"bundle {path}", limits)
    out: dict[str, bytes] = {}

    def read(name: str) -> bytes | None:
        member = path / check_member_name(name, f"bundle {path}")
        if not member.exists() and not member.is_symlink():
            return None
        target = member
        if member.is_symlink():
            target = member.resolve()
            if target.parent != root:
                raise MemberError(f"bundle {path}: {name} is a link leaving the bundle "
                                  f"(to {os.readlink(member)}); refused")
        try:  # O_NOFOLLOW: a link swapped in after the check above is not followed either
            fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise MemberError(f"bundle {path}: {name} cannot be read ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise MemberError(f"bundle {path}: {name} is not a regular file")
            out[name] = budget.read(name, f, declared=info.st_size)
        return out[name]

    _read_listed(read)
    return out


def _read_listed(read) -> None:
    """Read the manifest, what it lists, the validation record and what that lists, with ``read``."""
    manifest = read(MANIFEST_FILE)
    for name in _listed_names(manifest, "files"):
        read(name)
    validation = read(VALIDATION_FILE)
    for name in _listed_names(validation, "files"):
        read(name)


def _read_zip(path: Path, limits: ReadLimits) -> dict[str, bytes]:
    where = f"bundle {path}"
    budget = _Budget(where, limits)
    out: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            names = [i.filename for i in infos]
            roots = {n.split("/", 1)[0] for n in names}
            strip = len(roots) == 1 and all("/" in n for n in names)
            members = {(i.filename.split("/", 1)[1] if strip else i.filename): i for i in infos}

            def read(name: str) -> bytes | None:
                info = members.get(check_member_name(name, where))
                if info is None:
                    return None
                with zf.open(info) as stream:
                    out[name] = budget.read(name, stream, declared=info.file_size, compressed=info.compress_size)
                return out[name]

            _read_listed(read)
    except zipfile.BadZipFile as exc:
        raise MemberError(f"{where}: the archive is corrupted ({exc})") from None
    unlisted = sorted(set(members) - set(out))
    if unlisted:
        raise MemberError(f"{where} holds member(s) its manifest does not list: {', '.join(unlisted[:5])}"
                          + (" ..." if len(unlisted) > 5 else "") + "; refused")
    return out


def write_members(directory: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into ``directory`` (created if missing), each atomically and never through a link."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        check_member_name(name, f"bundle {directory}")
        _replace_atomically(directory, name, [data])


def write_zip(path: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` as a deterministic zip at ``path``, atomically and never through a link."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in sorted(files.items()):
                info = zipfile.ZipInfo(check_member_name(name, f"bundle {path}"), date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _replace_atomically(directory: Path, name: str, chunks: Iterable[bytes]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
