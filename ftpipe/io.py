"""Reading and (atomically) writing the project's files: JSON, JSONL, TSV, directories.

Everything is written to a temporary sibling first and moved into place with
``os.replace``, atomic on POSIX file systems: a killed or failing stage never leaves a
truncated metrics file or a half-saved model behind. Files get the permissions an
ordinary ``open()`` would give (0644 / 0755 under the usual umask), not the 0600 / 0700
of temporary files. Readers raise :class:`DataError` naming the file (and line).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import DataError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# A temporary sibling of ``path`` is ``.<name>.<8 random characters>.tmp`` (tempfile's
# names); _is_tmp_of recognises exactly those, not another output's (``qa.v2`` beside ``qa``).
_TMP_SUFFIX = ".tmp"


def _tmp_args(path: Path) -> dict:
    return {"prefix": f".{path.name}.", "suffix": _TMP_SUFFIX, "dir": path.parent}


def _is_tmp_of(candidate: Path, path: Path) -> bool:
    return re.fullmatch(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}{re.escape(_TMP_SUFFIX)}", candidate.name) is not None


def _tmp_sibling(path: Path, is_dir: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(**_tmp_args(path)))
        tmp.chmod(0o777 & ~_umask())
        return tmp
    fd, name = tempfile.mkstemp(**_tmp_args(path))
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path that replaces ``path`` only if the block succeeds."""
    path = Path(path)
    tmp = _tmp_sibling(path, is_dir=False)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def dumps(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False)


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    write_text(path, dumps(obj, indent) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    write_text(path, "".join(dumps(r, None) + "\n" for r in rows))


def write_tsv(path: str | Path, header: list[str], rows: Iterable[Iterable[Any]]) -> None:
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in rows]
    write_text(path, "\n".join(lines) + "\n")


def read_text(path: str | Path) -> str:
    """UTF-8 text (a leading BOM is accepted) with errors that name the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(str(path), None, None, "file not found") from None
    except IsADirectoryError:
        raise DataError(str(path), None, None, "is a directory, expected a file") from None
    except OSError as e:  # a symlink loop, permissions, ...
        raise DataError(str(path), None, None, f"cannot read ({e.strerror or e})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(str(path), None, None, f"not UTF-8 (invalid byte at offset {e.start})") from None


def read_json(path: str | Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise DataError(str(path), None, None, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise DataError(str(path), None, None, "JSON nested too deeply to read") from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line."""
    # Line ends only (\n, \r\n, \r: JSON strings cannot hold them raw): str.splitlines() also
    # breaks at U+2028, U+0085, ..., which JSON strings may hold raw (write_jsonl keeps them raw).
    for n, line in enumerate(re.split(r"\r\n|\r|\n", read_text(path)), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(str(path), f"line {n}", None, f"not valid JSON ({e.msg})") from None
        except RecursionError:
            raise DataError(str(path), f"line {n}", None, "JSON nested too deeply to read") from None
        if not isinstance(rec, dict):
            raise DataError(str(path), f"line {n}", None, "expected a JSON object per line")
        yield n, rec


def read_jsonl(path: str | Path) -> list[dict]:
    return [rec for _, rec in iter_jsonl(path)]


def read_tsv(path: str | Path) -> list[dict]:
    """A TSV with a header row; numbers become numbers."""
    with open(path, encoding="utf-8", newline="") as f:
        return [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(f, delimiter="\t")]


def _num(v: str) -> Any:
    for kind in (int, float):
        try:
            return kind(v)
        except (TypeError, ValueError):
            pass
    return v


def _old(path: Path) -> Path:
    return path.with_name(f".{path.name}.old")


def recover_dir(path: Path) -> None:
    """Tidy what a killed :func:`atomic_dir` or :func:`remove_dir` left beside ``path``
    (SIGKILL runs no cleanup): the previous version, set aside for a swap that did not
    finish, goes back in place; temporary siblings go."""
    old = _old(path)
    if old.exists() and not path.exists():
        os.replace(old, path)
    shutil.rmtree(old, ignore_errors=True)
    for tmp in path.parent.iterdir() if path.parent.is_dir() else ():
        if _is_tmp_of(tmp, path):
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` only if the block succeeds. A
    reader sees the old directory or the new one: the old one is renamed aside, the new one
    renamed in, and a kill between the two renames is undone by the next call."""
    path = Path(path)
    recover_dir(path)
    tmp = _tmp_sibling(path, is_dir=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        old = _old(path)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def remove_dir(path: str | Path) -> None:
    """Remove a directory at once: renamed to a temporary sibling, then deleted, so a kill
    never leaves it half deleted (a checkpoint without its weights)."""
    path = Path(path)
    recover_dir(path)
    if path.exists():
        gone = Path(tempfile.mkdtemp(**_tmp_args(path)))
        with contextlib.suppress(FileNotFoundError):  # removed meanwhile by another process
            os.replace(path, gone)
        shutil.rmtree(gone, ignore_errors=True)


def load_features(path: str | Path):
    """Features saved by the tokenize stage (a ``datasets.Dataset``, Arrow on disk)."""
    import datasets

    try:
        return datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as e:
        raise DataError(str(path), None, None, f"not a features directory written by the tokenize stage "
                                               f"({type(e).__name__}: {e})") from None
