"""Where COPY output goes: one pass that writes, compresses, hashes, counts and collects keys.

The driver hands every row to ``write()`` (psycopg2 calls it once per row). :func:`open_sink`
puts a C-level ``io.BufferedWriter`` in front, so that per-row call stays as cheap as writing a
plain file, and everything else happens once per buffer (about 1 MiB) in :class:`FileSink`:

* the bytes are compressed (when asked) and written to the partial file;
* the sha256 and size of the bytes *on disk* are computed on the way, so the file is never read
  back;
* a progress bar advances by the newlines in the buffer;
* a :class:`KeyScanner` collects the key columns the closure report needs (see
  :mod:`django_gyro.export.closure`), so the report needs no second run of the job's query.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django_gyro.backend.compression import Compressor, compressor

__all__ = ["FileSink", "KeyScanner", "open_sink"]

_NEWLINE_TO_COMMA = bytes.maketrans(b"\n", b",")


def _row_end(data: bytes) -> int:
    """The offset just after the last complete CSV row in ``data`` (0 if there is none).

    A newline ends a row unless it is inside a quoted field; PostgreSQL's CSV quotes a field as a
    whole and doubles quotes inside it, so a newline is inside a field exactly when an odd number
    of quote characters precede it.
    """
    end = data.rfind(b"\n")
    if end < 0 or b'"' not in data:
        return end + 1
    quotes = data.count(b'"', 0, end)
    while end >= 0 and quotes % 2:
        previous = data.rfind(b"\n", 0, end)
        quotes -= data.count(b'"', previous + 1, end)
        end = previous
    return end + 1


def _first_row_end(data: bytes) -> int:
    """The offset just after the first complete CSV row in ``data`` (0 if there is none)."""
    start = 0
    quotes = 0
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            return 0
        quotes += data.count(b'"', start, end)
        if quotes % 2 == 0:
            return end + 1
        start = end + 1


class KeyScanner:
    """Collects some columns of a CSV stream in bounded memory.

    Args:
        width: the number of columns of each row.
        count: column positions whose values are counted (value -> rows), e.g. foreign keys.
        collect: column positions whose distinct values are kept, e.g. a parent's primary key.
        limit: the most distinct values kept per column; a column that has more is dropped and
            listed in :attr:`overflow` (the closure report then checks it in SQL instead).

    Values are the bytes of the field as COPY wrote it (an empty field is NULL). Only columns of
    types whose text never needs CSV quoting (integers, UUIDs) are meant to be scanned; other
    columns of the row may be anything.
    """

    def __init__(
        self, width: int, count: Iterable[int], collect: Iterable[int], limit: int
    ) -> None:
        self.width = width
        self.limit = limit
        self.counts: dict[int, Counter[bytes]] = {position: Counter() for position in count}
        self.sets: dict[int, set[bytes]] = {position: set() for position in collect}
        self.overflow: set[int] = set()
        self._tail = b""
        self._header = True

    def feed(self, data: bytes) -> None:
        """Scan the complete rows of ``self._tail + data``; keep the incomplete rest."""
        data = self._tail + data if self._tail else data
        end = _row_end(data)
        self._tail = data[end:]
        body = data[:end]
        if self._header and body:
            skip = _first_row_end(body)
            body = body[skip:]
            self._header = False
        if body:
            self._scan(body)

    def close(self) -> None:
        """Scan what is left (COPY ends every row with a newline, so normally nothing)."""
        if self._tail:
            tail, self._tail = self._tail + b"\n", b""
            self.feed(tail)

    def _scan(self, body: bytes) -> None:
        if not self.counts and not self.sets:
            return
        width = self.width
        if b'"' not in body:
            # No quote: no field holds a comma or a newline, so the rows split into fields
            # by two C-level calls, and each column is a strided slice of the result.
            fields = body.translate(_NEWLINE_TO_COMMA).split(b",")
            rows = body.count(b"\n")
            if len(fields) == rows * width + 1:
                self._add(lambda position: fields[position : rows * width : width])
                return
        rows_read = csv.reader(io.StringIO(body.decode("utf-8"), newline=""))
        columns = list(zip(*rows_read, strict=True))
        if not columns:
            return
        self._add(lambda position: [value.encode() for value in columns[position]])

    def _add(self, column: Any) -> None:
        for position, counter in list(self.counts.items()):
            counter.update(column(position))
            if len(counter) > self.limit:
                del self.counts[position]
                self.overflow.add(position)
        for position, values in list(self.sets.items()):
            values.update(column(position))
            if len(values) > self.limit:
                del self.sets[position]
                self.overflow.add(position)


class FileSink(io.RawIOBase):
    """The raw layer under the buffered sink: compress, write, hash, count, scan.

    Attributes:
        size: bytes written to disk so far.
        digest: sha256 of the bytes on disk.
    """

    def __init__(
        self,
        path: Path,
        compress: str | None = None,
        scanner: KeyScanner | None = None,
        bar: Any = None,
    ) -> None:
        super().__init__()
        self._file = open(path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self._compressor: Compressor | None = compressor(compress)
        self.scanner = scanner
        self._bar = bar
        self._header = True
        self.size = 0
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if self.scanner is not None:
            self.scanner.feed(chunk)
        if self._bar is not None:
            lines = chunk.count(b"\n")
            if self._header and lines:
                lines -= 1  # the header line
                self._header = False
            self._bar.update(lines)
        self._store(self._compressor.compress(chunk) if self._compressor else chunk)
        return len(chunk)

    def _store(self, data: bytes) -> None:
        if not data:
            return
        view = memoryview(data)
        while view:
            # An unbuffered write may be short (a file size limit reached, a signal): write the
            # rest; the next attempt raises the OSError (ENOSPC, EFBIG) that stops the export.
            written = self._file.write(view)
            if not written:
                raise OSError(f"cannot write to {self._file.name}: no progress")
            view = view[written:]
        self.digest.update(data)
        self.size += len(data)

    def finish(self) -> None:
        """Flush the compressor and the scanner; the file is complete after this."""
        if self._compressor is not None:
            self._store(self._compressor.flush())
            self._compressor = None
        if self.scanner is not None:
            self.scanner.close()

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


def open_sink(
    path: Path,
    buffer_size: int,
    compress: str | None = None,
    scanner: KeyScanner | None = None,
    bar: Any = None,
) -> tuple[io.BufferedWriter, FileSink]:
    """A buffered writer for the driver and the :class:`FileSink` under it.

    Write the COPY output into the first; then ``flush()`` it, ``finish()`` the second, and close
    the first (which closes both).
    """
    raw = FileSink(path, compress, scanner, bar)
    return io.BufferedWriter(raw, buffer_size), raw
