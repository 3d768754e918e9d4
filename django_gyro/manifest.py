"""``manifest.json``, the export's file format: written and read in this one module.

Nothing here touches a database. The export builds each job's entry with :func:`job_entry` and
the whole document with :func:`build`, and writes it last with :func:`write` (a temporary file,
fsync, rename); see ``docs/gyro.md``, "Manifest format". :func:`read_manifest` parses it for a
reload; :func:`check_files` proves that every file is the one that was exported (size, sha256,
header line) before the loader opens a transaction on the target.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from django_gyro.exceptions import UNCHANGED, GyroError, ManifestError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "PARTIAL_SUFFIX",
    "ExportFile",
    "Manifest",
    "build",
    "check_files",
    "job_entry",
    "read_manifest",
    "write",
]

#: Name of the manifest, written last into an export directory.
MANIFEST_NAME = "manifest.json"
#: The ``format`` field of every manifest.
FORMAT = "django-gyro-export"
#: Version of the manifest layout (see docs/gyro.md, "Manifest format").
FORMAT_VERSION = 1
#: Suffix of the files an export is still writing (renamed when every job succeeded).
PARTIAL_SUFFIX = ".gyro-partial"
_HASH_CHUNK = 1024 * 1024


# -- writing -----------------------------------------------------------------------------------


def job_entry(
    *,
    order: int,
    model: str,
    table: str,
    file: str,
    pk: str,
    columns: Sequence[dict[str, Any]],
    foreign_keys: Sequence[dict[str, Any]],
    exclude: Sequence[str],
    rows: int,
    size: int,
    sha256: str,
    seconds: float,
    sql: str,
    compression: str | None = None,
) -> dict[str, Any]:
    """One entry of the manifest's ``jobs`` list.

    Args:
        columns: ``{"name", "field", "type", "nullable"}`` per column, in file order.
        foreign_keys: ``{"field", "column", "target", "target_table", "target_column",
            "nullable", "declared"}`` per foreign key of the file.
        sql: the SELECT that produced the file, parameters bound.
        compression: ``None``, ``"gzip"`` or ``"zstd"``: how the file is stored; ``size`` and
            ``sha256`` are those of the bytes on disk.
    """
    return {
        "order": order,
        "model": model,
        "table": table,
        "file": file,
        "compression": compression,
        "pk": pk,
        "columns": list(columns),
        "foreign_keys": list(foreign_keys),
        "exclude": list(exclude),
        "rows": rows,
        "bytes": size,
        "sha256": sha256,
        "seconds": round(seconds, 3),
        "sql": sql,
    }


def build(
    *,
    gyro_version: str,
    source: dict[str, Any],
    migrations: dict[str, list[str]],
    jobs: Sequence[dict[str, Any]],
    closure: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """The whole manifest document (``jobs`` from :func:`job_entry`, in export order)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "gyro_version": gyro_version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "migrations": migrations,
        "jobs": list(jobs),
        "closure": list(closure),
    }


def write(directory: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` as ``directory/manifest.json``, atomically and durably.

    The manifest goes to a temporary name first, is fsynced, then renamed over the old one, so a
    reader sees either no manifest or a complete one. Returns the manifest's path.
    """
    path = directory / MANIFEST_NAME
    temporary = directory / f".{MANIFEST_NAME}{PARTIAL_SUFFIX}"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, sort_keys=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFile:
    """One job of the export, as the manifest describes it.

    Attributes:
        label: the model, ``app_label.ModelName``.
        file: the CSV file name, relative to the export directory.
        columns: ``(column name, database type)`` in file order.
        rows: the row count COPY reported when the file was written.
        size: the file's size in bytes.
        sha256: the file's sha256, hex.
        compression: ``None``, ``"gzip"`` or ``"zstd"`` (size and sha256 are of the bytes on
            disk; :meth:`Manifest.open` reads the CSV text through the decompressor).
    """

    label: str
    file: str
    columns: tuple[tuple[str, str], ...]
    rows: int
    size: int
    sha256: str
    compression: str | None = None

    @property
    def column_names(self) -> list[str]:
        """The column names, in file order."""
        return [name for name, _ in self.columns]


@dataclass(frozen=True)
class Manifest:
    """A parsed ``manifest.json``.

    Attributes:
        directory: the export directory.
        files: the jobs, in export order (parents before children).
        migrations: ``{app_label: [applied migration names]}`` of the source database.
        raw: the manifest as read, for fields this module does not interpret.
    """

    directory: Path
    files: tuple[ExportFile, ...]
    migrations: dict[str, list[str]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """sha256 over every file's label, name and checksum: the identity of the export."""
        digest = hashlib.sha256()
        for entry in self.files:
            digest.update(f"{entry.label}\t{entry.file}\t{entry.sha256}\n".encode())
        return digest.hexdigest()

    def path(self, entry: ExportFile) -> Path:
        """The absolute path of ``entry``'s file."""
        return self.directory / entry.file

    def open(self, entry: ExportFile) -> IO[bytes]:
        """``entry``'s file opened for reading its CSV bytes (decompressed); caller closes it."""
        from django_gyro.backend.compression import open_reader

        try:
            return open_reader(self.path(entry), entry.compression)
        except GyroError as exc:
            raise _fail(str(exc)) from None


def _fail(message: str) -> ManifestError:
    return ManifestError(f"{message}; {UNCHANGED}")


def _columns(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    # Accepted shapes: [{"name": .., "type": ..}], [[name, type]], {name: type}.
    pairs: list[tuple[str, str]] = []
    if isinstance(value, dict):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and "name" in item:
                db_type = item.get("type", item.get("db_type", ""))
                pairs.append((str(item["name"]), str(db_type)))
            elif isinstance(item, list | tuple) and len(item) == 2:
                pairs.append((str(item[0]), str(item[1])))
            else:
                raise _fail(f"{where}: a column entry is not understood: {item!r}")
    else:
        raise _fail(f"{where}: 'columns' must be a list")
    if not pairs:
        raise _fail(f"{where}: no columns")
    return tuple(pairs)


def _int(job: dict[str, Any], keys: Iterable[str], where: str) -> int:
    for key in keys:
        if key in job:
            try:
                return int(job[key])
            except (TypeError, ValueError):
                raise _fail(f"{where}: {key!r} is not a number: {job[key]!r}") from None
    raise _fail(f"{where}: missing {' / '.join(repr(k) for k in keys)}")


def _str(job: dict[str, Any], keys: Iterable[str], where: str) -> str:
    for key in keys:
        if isinstance(job.get(key), str) and job[key]:
            return str(job[key])
    raise _fail(f"{where}: missing {' / '.join(repr(k) for k in keys)}")


def _migrations(value: Any) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    if isinstance(value, dict):
        for app, names in value.items():
            result[str(app)] = [str(n) for n in names] if isinstance(names, list) else []
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, list | tuple) and len(item) == 2:
                result.setdefault(str(item[0]), []).append(str(item[1]))
    return result


def _compression(value: Any, where: str) -> str | None:
    if value is None or value in ("gzip", "zstd"):
        return value
    raise _fail(f"{where}: unknown compression {value!r} (expected null, 'gzip' or 'zstd')")


def read_manifest(directory: str | Path) -> Manifest:
    """Parse ``directory/manifest.json``.

    Raises:
        ManifestError: the directory or the manifest is missing, or the manifest is malformed.
    """
    root = Path(directory).expanduser().resolve()
    if root.is_file():
        raise _fail(
            f"{root} is a file, not an export directory (give the directory that holds "
            f"{MANIFEST_NAME})"
        )
    if not root.is_dir():
        raise _fail(f"export directory {root} does not exist")
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise _fail(
            f"{path} does not exist: not an export directory, or the export did not finish "
            f"(the manifest is written last)"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _fail(f"{path} cannot be read: {exc.strerror}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _fail(f"{path}: expected a JSON object")
    jobs = data.get("jobs", data.get("files"))
    if not isinstance(jobs, list) or not jobs:
        raise _fail(f"{path}: no 'jobs' list")
    files: list[ExportFile] = []
    for number, job in enumerate(jobs, start=1):
        where = f"{path.name} job {number}"
        if not isinstance(job, dict):
            raise _fail(f"{where}: expected an object")
        label = _str(job, ("model", "label"), where)
        where = f"{path.name} job {number} ({label})"
        name = _str(job, ("file", "path"), where)
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise _fail(f"{where}: file {name!r} is outside the export directory")
        files.append(
            ExportFile(
                label=label,
                file=name,
                columns=_columns(job.get("columns"), where),
                rows=_int(job, ("rows", "row_count"), where),
                size=_int(job, ("bytes", "size", "byte_size"), where),
                sha256=_str(job, ("sha256",), where).lower(),
                compression=_compression(job.get("compression"), where),
            )
        )
    labels = [entry.label for entry in files]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise _fail(f"{path}: more than one job for {', '.join(duplicates)}")
    migrations = _migrations(data.get("migrations", data.get("applied_migrations")))
    return Manifest(directory=root, files=tuple(files), migrations=migrations, raw=data)


def _header(manifest: Manifest, entry: ExportFile) -> list[str]:
    with manifest.open(entry) as handle:
        first = handle.readline()
    text = first.decode("utf-8", errors="replace")
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0] if rows else []


def check_files(
    manifest: Manifest,
    on_bytes: Callable[[ExportFile, int], None] | None = None,
    *,
    verify_hash: bool = True,
) -> None:
    """Check that every file of ``manifest`` is exactly the file that was exported.

    For each job: the file exists, its size and sha256 match the manifest, and its header line
    lists the manifest's columns in order.

    Args:
        manifest: from :func:`read_manifest`.
        on_bytes: called with each job and the number of bytes just hashed (progress bars).
        verify_hash: hash the files here; the loader passes False and hashes each file as it
            feeds it to COPY instead (one read, no window between checking and loading).

    Raises:
        ManifestError: naming the first file (and column) that does not match.
    """
    for entry in manifest.files:
        path = manifest.path(entry)
        if not path.is_file():
            raise _fail(f"{entry.file} ({entry.label}) is listed in the manifest but missing")
        size = path.stat().st_size
        if size != entry.size:
            kind = "truncated" if size < entry.size else "longer than exported"
            raise _fail(
                f"{entry.file} ({entry.label}) is {size} bytes, the manifest says {entry.size}: "
                f"the file is {kind} or was edited after the export"
            )
        if verify_hash and _sha256(path, entry, on_bytes) != entry.sha256:
            raise _fail(
                f"{entry.file} ({entry.label}) does not match its sha256 in the manifest: the "
                f"file was edited after the export"
            )
        header = _header(manifest, entry)
        expected = entry.column_names
        if header != expected:
            raise _fail(f"{entry.file} ({entry.label}): {_column_difference(header, expected)}")


def _sha256(
    path: Path, entry: ExportFile, on_bytes: Callable[[ExportFile, int], None] | None
) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(entry, len(chunk))
    return digest.hexdigest()


def _column_difference(header: list[str], expected: list[str]) -> str:
    extra = [name for name in header if name not in expected]
    missing = [name for name in expected if name not in header]
    if extra:
        return f"column {extra[0]!r} in the header line is not in the manifest"
    if missing:
        return f"column {missing[0]!r} of the manifest is missing from the header line"
    return f"the header line's column order {header} differs from the manifest's {expected}"
