"""Compressed export files: gzip and zstd streamed by the export, read back by the loader."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
import zstandard

from django_gyro import DataSlicer, TargetError
from django_gyro.exceptions import ManifestError
from django_gyro.export.results import ExportResult
from django_gyro.load.loader import load_export
from django_gyro.load.verify import verify_export
from gyro_example.jobs import build_jobs
from gyro_example.models import OrderItem
from tests.django_gyro.helpers import TRANSACTIONAL, url_of

DECOMPRESS = {
    "gzip": gzip.decompress,
    "zstd": lambda data: zstandard.ZstdDecompressor().stream_reader(data).read(),
}
SUFFIX = {"gzip": ".csv.gz", "zstd": ".csv.zst"}


def run(out: Path, compress: str | None) -> ExportResult:
    result: ExportResult = DataSlicer.run(
        source=DataSlicer.Postgres("default"),
        target=DataSlicer.File(out, compress=compress),
        jobs=build_jobs(),
        progress=False,
    )
    return result


@pytest.mark.postgresql
@TRANSACTIONAL
@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_compressed_export_holds_the_same_csv_and_reloads(
    tmp_path: Path, compress: str, target: str
) -> None:
    plain = run(tmp_path / "plain", None)
    packed = run(tmp_path / compress, compress)
    manifest = json.loads(packed.manifest.read_text())
    for job, entry, reference in zip(packed.jobs, manifest["jobs"], plain.jobs, strict=True):
        data = job.path.read_bytes()
        assert job.path.name == reference.path.name.removesuffix(".csv") + SUFFIX[compress]
        assert entry["file"] == job.path.name and entry["compression"] == compress
        # size and sha256 are those of the bytes on disk ...
        assert entry["bytes"] == job.bytes == len(data)
        assert entry["sha256"] == job.sha256 == hashlib.sha256(data).hexdigest()
        # ... which decompress to exactly the plain export's file.
        assert DECOMPRESS[compress](data) == reference.path.read_bytes()
        assert job.rows == reference.rows
    assert sum(j.bytes for j in packed.jobs) < sum(j.bytes for j in plain.jobs) / 2
    assert json.loads(plain.manifest.read_text())["jobs"][0]["compression"] is None

    result = load_export(tmp_path / compress, url_of(target))
    assert [report.rows for report in result.models] == [job.rows for job in plain.jobs]
    assert OrderItem.objects.using(target).count() == plain.jobs[-1].rows
    assert verify_export(tmp_path / compress, url_of(target)).ok


@pytest.mark.postgresql
@TRANSACTIONAL
@pytest.mark.usefixtures("demo")
def test_a_damaged_compressed_file_is_refused_before_the_load(tmp_path: Path, target: str) -> None:
    packed = run(tmp_path / "gz", "gzip")
    path = packed.jobs[-1].path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=r"does not match its sha256"):
        load_export(tmp_path / "gz", url_of(target))
    assert OrderItem.objects.using(target).count() == 0


def test_unknown_compression_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"compress=\.\.\.\) must be one of gzip, zstd or None"):
        DataSlicer.File(tmp_path, compress="bz2")
    assert repr(DataSlicer.File(tmp_path, compress="gzip")).endswith("compress='gzip')")
