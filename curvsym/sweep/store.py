"""The results of a sweep: Parquet files in one folder, one row per point, committed atomically.

Layout of a results folder::

    manifest.json          format, analysis, sweep name, creation time, curvsym version
    results.parquet        consolidated rows
    parts/part-*.parquet   rows committed since the last consolidation (one file per commit)
    parts/.tmp-*           a commit being written (never read; removed when the folder is reopened)
    .lock                  held (flock) by the process running the sweep

A commit writes its rows to a temporary name, flushes and fsyncs it, and renames it into place
(:func:`os.replace`, atomic on POSIX and Windows): a reader sees the whole commit or none of it,
whatever moment the writer is killed at.  Consolidation merges the parts into a new
``results.parquet`` written the same way; the new file records the parts it absorbed (Parquet
key-value metadata), so if the writer dies before deleting them they are recognised and never
counted twice.  Every read validates every file: a file that is not readable Parquet (e.g.
truncated), lacks the stored columns, or stores a point twice raises :class:`ResultsCorruptError`
naming it — nothing is overwritten or deleted before the whole folder has been read.

Each row holds: ``point_id``, ``point_index``, ``analysis``, ``status`` ("ok" or "error"),
``error_type``/``error_message``/``error_traceback`` (failure rows), ``wall_time_s``, ``worker``,
``finished_at`` (UTC), ``curvsym_version``, ``spec_sha256``, ``spec_git_revision``, ``parameters``
(canonical JSON), then one column per parameter and one float64 column per record entry.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .exceptions import ResultsCorruptError, ResultsExistError, ResultsWriteError, SweepBusyError, SweepDependencyError
from .registry import Param

__all__ = ["FORMAT", "ResultStore", "read_results", "git_revision"]

FORMAT = "curvsym-sweep/1"
RESULTS = "results.parquet"
ABSORBED_KEY = b"curvsym.absorbed_parts"


def _pa():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise SweepDependencyError("sweep results are stored as Parquet: pip install pyarrow") from None
    return pa, pq


def _meta_types(pa) -> dict:
    return {"point_id": pa.string(), "point_index": pa.int64(), "analysis": pa.string(), "status": pa.string(),
            "error_type": pa.string(), "error_message": pa.string(), "error_traceback": pa.string(),
            "wall_time_s": pa.float64(), "worker": pa.string(), "finished_at": pa.timestamp("us", tz="UTC"),
            "curvsym_version": pa.string(), "spec_sha256": pa.string(), "spec_git_revision": pa.string(),
            "parameters": pa.string()}


def _param_type(pa, kind: str):
    return {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string(),
            "ints": pa.list_(pa.int64()), "floats": pa.list_(pa.float64())}[kind]


def git_revision(path: Path) -> str | None:
    """``git rev-parse HEAD`` of the repository holding ``path``, with ``+modified`` when the file
    differs from HEAD (or is untracked); None outside a git repository or without git."""
    path = Path(path).resolve()
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path.parent, capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--", path.name], cwd=path.parent,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+modified" if dirty.stdout.strip() else "")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(table, final: Path, tmp_dir: Path) -> None:
    _, pq = _pa()
    tmp = tmp_dir / f".tmp-{final.name}-{os.getpid()}-{time.time_ns()}"
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(final.parent)


def _read_file(path: Path):
    """One stored file, validated (see the module docstring)."""
    pa, pq = _pa()
    try:
        table = pq.read_table(path)
    except FileNotFoundError:  # replaced by a concurrent consolidation: the caller reads again
        raise
    except (pa.ArrowException, OSError) as exc:
        raise ResultsCorruptError(
            f"{path}: not a readable Parquet file ({exc}); it may be truncated or damaged. It was left as it is: "
            f"move it aside to continue (a part file holds only the points of one commit; --resume then "
            f"recomputes exactly those)") from None
    meta = _meta_types(pa)
    for name, typ in meta.items():
        if name not in table.column_names:
            raise ResultsCorruptError(f"{path}: lacks the stored column {name!r}; not a curvsym sweep file, or damaged")
        if not table.schema.field(name).type.equals(typ):
            raise ResultsCorruptError(f"{path}: column {name!r} has type {table.schema.field(name).type}, "
                                      f"expected {typ}")
    ids = table.column("point_id").to_pylist()
    if any(i is None for i in ids):
        raise ResultsCorruptError(f"{path}: a row without point_id")
    if len(set(ids)) != len(ids):
        raise ResultsCorruptError(f"{path}: stores a point twice")
    if not set(table.column("status").to_pylist()) <= {"ok", "error"}:
        raise ResultsCorruptError(f"{path}: a status other than 'ok'/'error'")
    return table


def _stamp(path: Path):
    try:
        st = path.stat()
        return st.st_ino, st.st_mtime_ns, st.st_size
    except FileNotFoundError:
        return None


def _load(root: Path):
    """(results table or None, absorbed part names, [(part path, table)] for parts not absorbed).

    A consistent snapshot even while a writer consolidates: if ``results.parquet`` is replaced or a
    part vanishes while the folder is read, it is read again.
    """
    for _ in range(20):
        stamp = _stamp(root / RESULTS)
        try:
            loaded = _load_once(root)
        except FileNotFoundError:
            continue
        if _stamp(root / RESULTS) == stamp:
            return loaded
    raise ResultsCorruptError(f"{root}: the results kept changing while being read (is a sweep consolidating "
                              "them right now?); try again")


def _load_once(root: Path):
    results = root / RESULTS
    base, absorbed = None, set()
    if results.exists():
        base = _read_file(results)
        raw = (base.schema.metadata or {}).get(ABSORBED_KEY)
        if raw is not None:
            try:
                absorbed = set(json.loads(raw))
            except ValueError:
                raise ResultsCorruptError(f"{results}: unreadable metadata {ABSORBED_KEY.decode()!r}") from None
    parts = []
    pdir = root / "parts"
    if pdir.is_dir():
        for p in sorted(pdir.glob("part-*.parquet")):
            if p.name not in absorbed:
                parts.append((p, _read_file(p)))
    return base, absorbed, parts


def _concat(tables: Sequence, sources: Sequence[str]):
    pa, _ = _pa()
    if not tables:
        return None
    try:
        table = pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ResultsCorruptError(f"the stored files disagree on column types ({exc}): {', '.join(sources)}") from None
    seen: dict = {}
    for t, src in zip(tables, sources):
        for pid in t.column("point_id").to_pylist():
            if pid in seen:
                raise ResultsCorruptError(f"point {pid} is stored twice: in {seen[pid]} and in {src}; "
                                          "one of the files does not belong to this folder")
            seen[pid] = src
    return table


def read_results(root: str | Path) -> Any:
    """All stored rows of a results folder as one ``pyarrow.Table`` (read-only; no lock).

    Raises:
        ResultsCorruptError: a file that cannot be read, lacks the stored columns, or repeats a point;
            an unreadable manifest.
        ResultsExistError: ``root`` is not a curvsym results folder.
    """
    root = Path(root)
    _read_manifest(root)
    base, _, parts = _load(root)
    tables = ([base] if base is not None else []) + [t for _, t in parts]
    sources = ([str(root / RESULTS)] if base is not None else []) + [str(p) for p, _ in parts]
    table = _concat(tables, sources)
    if table is None:
        pa, _ = _pa()
        table = pa.schema(list(_meta_types(pa).items())).empty_table()
    return table


def _read_manifest(root: Path) -> dict:
    path = root / "manifest.json"
    if not path.exists():
        raise ResultsExistError(f"{root} is not a curvsym sweep results folder (no manifest.json)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ResultsCorruptError(f"{path}: unreadable ({exc}); left as it is") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ResultsCorruptError(f"{path}: not a {FORMAT} manifest")
    return manifest


class ResultStore:
    """A results folder opened for writing by one process (holds ``.lock``).

    Open with :meth:`open` (a context manager); :meth:`commit` rows as points finish;
    :meth:`consolidate` merges the parts.
    """

    def __init__(self, root: Path, lock_fd: int | None, manifest: dict):
        self.root = root
        self.parts = root / "parts"
        self._lock_fd = lock_fd
        self.manifest = manifest
        self._seq = 0

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, root: str | Path, analysis: str, name: str, version: str, resume: bool) -> "ResultStore":
        """Create or reopen a results folder, take its lock, validate and consolidate it.

        Fresh (``resume=False``): the folder must not exist or be empty.  ``resume=True``: an
        existing folder must hold results of the same analysis; leftover temporary files of
        a killed writer are removed after everything stored has been read successfully.

        Raises:
            ResultsExistError: a fresh sweep into a folder with results (or other files), or a
                resume into results of another analysis.
            ResultsCorruptError: any stored file is damaged (nothing is changed then).
            SweepBusyError: another process holds the folder's lock.
            ResultsWriteError: the folder cannot be created or written (a file, read-only, disk full).
        """
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise ResultsWriteError(f"the output {root} is a file, not a folder; choose another output folder")
        existing = root.exists() and any(root.iterdir())
        if existing and not resume:
            what = "holds sweep results" if (root / "manifest.json").exists() else "is not empty"
            raise ResultsExistError(f"the output folder {root} {what}; pass --resume to continue that sweep "
                                    "(only missing points are computed) or choose another output folder")
        if existing:
            _read_manifest(root)  # before creating anything in a folder that may not be ours
        try:
            root.mkdir(parents=True, exist_ok=True)
            lock_fd = cls._lock(root)
        except OSError as exc:
            raise ResultsWriteError(f"cannot create the output folder {root}: {exc.strerror or exc}") from None
        try:
            if existing:
                manifest = _read_manifest(root)
                if manifest.get("analysis") != analysis:
                    raise ResultsExistError(f"{root} holds results of analysis {manifest.get('analysis')!r}, "
                                            f"not {analysis!r}; choose another output folder")
            else:
                manifest = {"format": FORMAT, "analysis": analysis, "name": name,
                            "created": datetime.now(timezone.utc).isoformat(), "curvsym_version": version}
                tmp = root / ".manifest.json.tmp"
                tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
                os.replace(tmp, root / "manifest.json")
            try:  # after the manifest: a reader never finds parts/ in a folder without one
                (root / "parts").mkdir(exist_ok=True)
            except OSError as exc:
                raise ResultsWriteError(f"cannot create the output folder {root}: {exc.strerror or exc}") from None
            store = cls(root, lock_fd, manifest)
            store.consolidate()  # validates everything first
            for leftover in store.parts.glob(".tmp-*"):
                leftover.unlink()
            for leftover in root.glob(".tmp-*"):
                leftover.unlink()
            return store
        except BaseException:
            cls._unlock(lock_fd)
            raise

    @staticmethod
    def _lock(root: Path) -> int | None:
        path = root / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise SweepBusyError(f"{root} is in use by {holder}; wait for it to finish or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        return fd

    @staticmethod
    def _unlock(fd: int | None) -> None:
        if fd is not None:
            os.close(fd)  # releases the flock

    def close(self) -> None:
        self._unlock(self._lock_fd)
        self._lock_fd = None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    # ------------------------------------------------------------------ reading
    def table(self) -> Any:
        """Every stored row (validated).

        Raises:
            ResultsCorruptError: a damaged file (see :func:`read_results`).
        """
        return read_results(self.root)

    def stored_status(self) -> dict[str, str]:
        """point_id → status of every stored row.

        Raises:
            ResultsCorruptError: a damaged file (see :func:`read_results`).
        """
        t = self.table()
        return dict(zip(t.column("point_id").to_pylist(), t.column("status").to_pylist()))

    def n_parts(self) -> int:
        """Part files written since the last consolidation."""
        return sum(1 for _ in self.parts.glob("part-*.parquet"))

    # ------------------------------------------------------------------ writing
    def commit(self, rows: Sequence[Mapping[str, Any]], parameters: Sequence[Param]) -> Path:
        """Write ``rows`` (meta columns, parameters, record entries) as one atomic part file.

        Raises:
            ResultsWriteError: the file system refused the write (disk full, read-only …); no part file
                is left behind then, and every earlier commit stays stored.
        """
        pa, _ = _pa()
        fields = list(_meta_types(pa).items()) + [(p.name, _param_type(pa, p.kind)) for p in parameters]
        known = {n for n, _ in fields}
        extra = sorted({k for r in rows for k in r} - known)
        schema = pa.schema(fields + [(k, pa.float64()) for k in extra])
        table = pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)
        self._seq += 1
        final = self.parts / f"part-{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.parquet"
        try:
            _write_atomic(table, final, self.parts)
        except OSError as exc:
            raise ResultsWriteError(f"cannot write results to {self.root}: {exc.strerror or exc}; every point "
                                    "committed before is stored — fix that and continue with --resume") from None
        return final

    def consolidate(self) -> None:
        """Merge the parts into ``results.parquet`` (atomically) and delete them.

        Raises:
            ResultsCorruptError: a damaged file; nothing is written or deleted then.
        """
        base, absorbed, parts = _load(self.root)
        for name in absorbed:  # absorbed by the previous consolidation, whose writer died before deleting
            stale = self.parts / name
            if stale.exists():
                stale.unlink()
        if not parts:
            return
        tables = ([base] if base is not None else []) + [t for _, t in parts]
        sources = ([str(self.root / RESULTS)] if base is not None else []) + [str(p) for p, _ in parts]
        merged = _concat(tables, sources)
        merged = merged.replace_schema_metadata({ABSORBED_KEY: json.dumps([p.name for p, _ in parts]).encode()})
        _write_atomic(merged, self.root / RESULTS, self.root)
        for p, _ in parts:
            p.unlink()

    def drop(self, point_ids: Iterable[str]) -> int:
        """Remove rows (e.g. failure rows to recompute with ``--retry-failed``); returns how many.

        Consolidates first, then rewrites ``results.parquet`` atomically without them.

        Raises:
            ResultsCorruptError: a damaged file; nothing is written then.
        """
        pa, _ = _pa()
        self.consolidate()
        ids = set(point_ids)
        path = self.root / RESULTS
        if not ids or not path.exists():
            return 0
        table = _read_file(path)
        keep = pa.array([pid not in ids for pid in table.column("point_id").to_pylist()], type=pa.bool_())
        kept = table.filter(keep).replace_schema_metadata({ABSORBED_KEY: b"[]"})
        _write_atomic(kept, path, self.root)
        return table.num_rows - kept.num_rows

