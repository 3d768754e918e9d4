"""Compare an export with the rows a load put into a target database (``manage.py gyro_verify``).

For every model of the export, :func:`verify_export` reports:

* **rows**: the file's rows, and how many of the rows they became are present in the target
  (rows merged into, or skipped in favour of, existing rows are counted apart: they are the
  target's rows, not the file's);
* **foreign keys**: loaded rows whose foreign key points to a missing row (any foreign key, also
  those to models outside the export);
* **content hash**: an order-independent hash of the file's rows and one of the loaded rows, with
  the loaded rows' primary and foreign keys translated back through the load's key map, so
  remapped keys do not count as differences while a child attached to the wrong parent does.

Everything runs in one transaction on the target that is rolled back at the end (the file is
staged in a temporary table), so verifying never changes the target.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import DatabaseError, connections, models, transaction

from django_gyro.backend import catalog
from django_gyro.backend.compression import Tee, reader
from django_gyro.backend.connection import Statements, is_url, mask_url
from django_gyro.backend.copy import copy_from
from django_gyro.exceptions import ManifestError, VerifyError
from django_gyro.load.integrity import primary_message
from django_gyro.load.loader import target_connection
from django_gyro.load.plan import related_model
from django_gyro.manifest import ExportFile, Manifest, check_files, read_manifest
from django_gyro.models import KeyAction, KeyMap, Load

__all__ = ["ModelVerification", "VerifyError", "VerifyResult", "verify_export"]


@dataclass
class ModelVerification:
    """The comparison of one model.

    Attributes:
        label: ``app_label.ModelName``.
        file_rows: rows in the file.
        expected: rows the load inserted or updated (the file's rows minus merged and skipped).
        found: of those, rows present in the target.
        matched_existing: rows merged into or skipped in favour of existing target rows.
        broken_fks: loaded rows whose foreign key points to no row.
        file_hash: content hash of the expected rows as exported.
        target_hash: content hash of the loaded rows, keys translated back to the export's.
    """

    label: str
    file_rows: int
    expected: int = 0
    found: int = 0
    matched_existing: int = 0
    broken_fks: int = 0
    file_hash: str = ""
    target_hash: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Counts, foreign keys and hashes all agree."""
        return (
            self.expected == self.found
            and self.broken_fks == 0
            and self.file_hash == self.target_hash
            and not self.problems
        )


@dataclass
class VerifyResult:
    """The outcome of :func:`verify_export`."""

    directory: Path
    target: str
    load_id: int
    models: list[ModelVerification] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every model agrees."""
        return all(model.ok for model in self.models)

    def lines(self) -> list[str]:
        """A small table for people, one line per model, then the verdict."""
        out = [
            f"{'model':<28} {'file':>8} {'loaded':>8} {'found':>8} {'existing':>8} "
            f"{'bad FK':>6}  hash"
        ]
        for m in self.models:
            verdict = "equal" if m.file_hash == m.target_hash else "DIFFERENT"
            out.append(
                f"{m.label:<28} {m.file_rows:>8} {m.expected:>8} {m.found:>8} "
                f"{m.matched_existing:>8} {m.broken_fks:>6}  {verdict} ({m.target_hash[:12]})"
            )
            out.extend(f"  {problem}" for problem in m.problems)
        verdict = "OK" if self.ok else "MISMATCH"
        out.append(
            f"{verdict}: {self.directory} vs {self.target} (load {self.load_id}), "
            f"{sum(m.file_rows for m in self.models)} rows in {len(self.models)} models"
        )
        return out


def verify_export(
    directory: str | Path, target: str = "default", *, load_id: int | None = None
) -> VerifyResult:
    """Compare the export in ``directory`` with what was loaded from it into ``target``.

    Args:
        directory: the export directory (its files are checked against the manifest first).
        target: a Django alias or a ``postgres://`` URL.
        load_id: which :class:`~django_gyro.models.Load` to compare with; default the latest
            load of this export.

    Raises:
        VerifyError: the export was never loaded into ``target`` (or ``load_id`` is not a load
            of it); ``ManifestError`` for files that changed since the export.
    """
    manifest = read_manifest(directory)
    check_files(manifest, verify_hash=False)  # the sha256 as each file is staged
    shown = mask_url(target) if is_url(target) else f"alias '{target}'"
    with target_connection(target) as alias:
        wrapper = connections[alias]
        tables = set(wrapper.introspection.table_names())
        if Load._meta.db_table not in tables:
            raise VerifyError(f"{shown} has no Gyro tables: nothing was ever loaded there")
        loads = Load.objects.using(alias).for_export(manifest.fingerprint)
        load = loads.filter(pk=load_id).first() if load_id is not None else loads.first()
        if load is None:
            which = f"load {load_id}" if load_id is not None else "any load"
            raise VerifyError(
                f"{manifest.directory} does not match {which} recorded in {shown}: it was not "
                f"loaded there (or its files changed since)"
            )
        result = VerifyResult(directory=manifest.directory, target=shown, load_id=load.pk)
        with transaction.atomic(using=alias):
            checker = _Checker(alias, manifest, load)
            try:
                for index, entry in enumerate(manifest.files):
                    checker.stage(index, entry)
                for index, entry in enumerate(manifest.files):
                    result.models.append(checker.compare(index, entry))
            except DatabaseError as exc:
                raise VerifyError(
                    f"cannot compare {manifest.directory} with {shown}: {primary_message(exc)}"
                ) from exc
            transaction.set_rollback(True, using=alias)
    return result


class _Checker(Statements):
    """Stages the files and compares them with the target, in the target's key space.

    Every file row is translated forward: its own key through its model's map, each foreign key
    through the parent's map (the key the parent row got in the target). A loaded row must then
    equal the target's row column by column, so a child attached to another parent differs. Each
    file is staged with the column types of the manifest (not the target's), so a target column
    that rounded or truncated a value differs too.
    """

    def __init__(self, alias: str, manifest: Manifest, load: Load) -> None:
        self.alias = alias
        self.wrapper = connections[alias]
        self.manifest = manifest
        self.load = load
        self.labels: dict[str, int] = {}
        self.file_types: dict[str, dict[str, str]] = {}
        self.target_types: dict[str, dict[str, str]] = {}

    def _types(self, entry: ExportFile, table: str) -> dict[str, str]:
        with self.wrapper.cursor() as cursor:
            target = catalog.columns(cursor, self.q(table))
        types = {}
        for name, db_type in entry.columns:
            if db_type and not catalog.TYPE_NAME.match(db_type):
                raise VerifyError(
                    f"{entry.file} ({entry.label}): the manifest gives column {name!r} the type "
                    f"{db_type!r}, which is not a PostgreSQL type name"
                )
            if name not in target:
                raise VerifyError(
                    f"{entry.file} ({entry.label}): the target table {table} has no column "
                    f"{name!r}"
                )
            types[name] = db_type or target[name].type
        self.target_types[entry.label] = {name: target[name].type for name in types}
        return types

    def stage(self, index: int, entry: ExportFile) -> None:
        model = apps.get_model(entry.label)
        self.labels[model._meta.label] = index
        pk = model._meta.pk
        assert pk is not None
        types = self._types(entry, model._meta.db_table)
        self.file_types[entry.label] = types
        columns = ", ".join(self.q(name) for name in entry.column_names)
        stage, keys = self.q(f"gyro_verify_{index}"), self.q(f"gyro_verify_map_{index}")
        definition = ", ".join(f"{self.q(name)} {types[name]}" for name in entry.column_names)
        self.execute(f"CREATE TEMPORARY TABLE {stage} ({definition}) ON COMMIT DROP")
        digest = hashlib.sha256()
        with self.manifest.path(entry).open("rb") as handle:
            # The sha256 is of the bytes on disk; COPY reads them decompressed.
            copy_from(
                self.wrapper,
                f"COPY {stage} ({columns}) FROM STDIN WITH (FORMAT csv, HEADER true)",
                reader(Tee(handle, digest.update), entry.compression),  # type: ignore[arg-type]
            )
        if digest.hexdigest() != entry.sha256:
            raise ManifestError(
                f"{entry.file} ({entry.label}) does not match its sha256 in the manifest: the "
                f"file was edited after the export"
            )
        pk_type = types[pk.column]  # checked against TYPE_NAME above, or from the catalog
        self.execute(
            f"CREATE TEMPORARY TABLE {keys} ON COMMIT DROP AS SELECT CAST(old_key AS {pk_type}) "
            f"AS old, CAST(new_key AS {pk_type}) AS new, action FROM "
            f"{self.q(KeyMap._meta.db_table)} WHERE load_id = %s AND model = %s",
            [self.load.pk, model._meta.label],
        )
        self.execute(f"CREATE UNIQUE INDEX ON {keys} (old)")
        self.execute(f"CREATE INDEX ON {keys} (new)")
        self.execute(f"ANALYZE {stage}")
        self.execute(f"ANALYZE {keys}")

    def _hash(self, select: str, columns: list[str]) -> str:
        row = ", ".join(f"x.{self.q(c)}" for c in columns)
        value = self.fetch(
            f"SELECT md5(COALESCE(sum(('x' || substr(md5(ROW({row})::text), 1, 15))::bit(60)"
            f"::bigint::numeric), 0)::text) FROM ({select}) x"
        )[0][0]
        return str(value)

    def _foreign_keys(
        self, model: type[models.Model], names: list[str]
    ) -> list[tuple[models.Field[Any, Any], type[models.Model]]]:
        fks = []
        for f in model._meta.concrete_fields:
            related = related_model(f)
            if related is not None and f.column in names:
                fks.append((f, related))
        return fks

    def _forward(
        self, model: type[models.Model], names: list[str]
    ) -> tuple[dict[str, str], list[str]]:
        """File-side expressions in the target's key space, and their joins (stage is ``s``)."""
        pk = model._meta.pk
        assert pk is not None
        own = self.q(f"gyro_verify_map_{self.labels[model._meta.label]}")
        exprs = {name: f"s.{self.q(name)}" for name in names}
        joins = [f"LEFT JOIN {own} m ON m.old = s.{self.q(pk.column)}"]
        exprs[pk.column] = f"COALESCE(m.new, s.{self.q(pk.column)})"
        for f, related in self._foreign_keys(model, names):
            parent = related._meta.label
            if parent not in self.labels or getattr(f, "target_field", None) is not (
                related._meta.pk
            ):
                continue
            alias = f"p{len(joins)}"
            parent_keys = self.q(f"gyro_verify_map_{self.labels[parent]}")
            joins.append(f"LEFT JOIN {parent_keys} {alias} ON {alias}.old = s.{self.q(f.column)}")
            exprs[f.column] = f"COALESCE({alias}.new, s.{self.q(f.column)})"
        return exprs, joins

    def _target(self, label: str, name: str) -> str:
        """The target's column as the manifest typed it (a narrower column's rounding shows)."""
        wanted = self.file_types[label][name]
        if self.target_types[label][name] == wanted:
            return f"t.{self.q(name)}"
        return f"CAST(t.{self.q(name)} AS {wanted})"

    def compare(self, index: int, entry: ExportFile) -> ModelVerification:
        model = apps.get_model(entry.label)
        label = model._meta.label
        pk_field = model._meta.pk
        assert pk_field is not None
        pk, table = pk_field.column, self.q(model._meta.db_table)
        stage, keys = self.q(f"gyro_verify_{index}"), self.q(f"gyro_verify_map_{index}")
        names = entry.column_names
        report = ModelVerification(label=label, file_rows=entry.rows)
        existing = (KeyAction.MERGED.value, KeyAction.SKIPPED.value)
        report.matched_existing = self.fetch(
            f"SELECT count(*) FROM {keys} WHERE action IN (%s, %s)", list(existing)
        )[0][0]
        exprs, joins = self._forward(model, names)
        loaded = "(m.action IS NULL OR m.action NOT IN ('merged', 'skipped'))"
        file_rows = (
            f"SELECT {', '.join(f'{exprs[n]} AS {self.q(n)}' for n in names)} FROM {stage} s "
            f"{' '.join(joins)} WHERE {loaded}"
        )
        report.expected = self.fetch(f"SELECT count(*) FROM ({file_rows}) r")[0][0]
        new_keys = f"SELECT {self.q(pk)} FROM ({file_rows}) r"
        report.found = self.fetch(
            f"SELECT count(*) FROM {table} t WHERE t.{self.q(pk)} IN ({new_keys})"
        )[0][0]
        select_target = (
            f"SELECT {', '.join(f'{self._target(label, n)} AS {self.q(n)}' for n in names)} "
            f"FROM {table} t WHERE t.{self.q(pk)} IN ({new_keys})"
        )
        report.file_hash = self._hash(file_rows, names)
        report.target_hash = self._hash(select_target, names)
        self._check_matched(model, entry, exprs, joins, report)
        self._check_references(model, entry, report)
        for f, related in self._foreign_keys(model, names):
            parent_table = self.q(related._meta.db_table)
            target_column = getattr(f, "target_field", related._meta.pk).column
            broken = self.fetch(
                f"SELECT count(*) FROM {table} t WHERE t.{self.q(pk)} IN ({new_keys}) AND "
                f"t.{self.q(f.column)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent_table} "
                f"p WHERE p.{self.q(target_column)} = t.{self.q(f.column)})"
            )[0][0]
            if broken:
                report.broken_fks += broken
                report.problems.append(f"{broken} rows with {f.column} pointing to no row")
        if report.expected != report.found:
            report.problems.append(
                f"{report.expected - report.found} loaded rows are missing from the target"
            )
        return report

    def _summary(self, label: str) -> dict[str, Any]:
        summary = self.load.summary.get(label) if isinstance(self.load.summary, dict) else None
        return summary if isinstance(summary, dict) else {}

    def _check_matched(
        self,
        model: type[models.Model],
        entry: ExportFile,
        exprs: dict[str, str],
        joins: list[str],
        report: ModelVerification,
    ) -> None:
        """Rows merged into / skipped for an existing row: that row has the same natural key."""
        natural_key = [c for c in self._summary(report.label).get("natural_key", []) if c]
        natural_key = [c for c in natural_key if c in entry.column_names]
        stage = self.q(f"gyro_verify_{self.labels[report.label]}")
        pk = model._meta.pk
        assert pk is not None
        same = " AND ".join(
            f"{self._target(report.label, c)} IS NOT DISTINCT FROM {exprs[c]}" for c in natural_key
        )
        missing, different = self.fetch(
            f"SELECT count(*) FILTER (WHERE t.{self.q(pk.column)} IS NULL), "
            f"count(*) FILTER (WHERE t.{self.q(pk.column)} IS NOT NULL AND NOT ({same or 'true'}))"
            f" FROM {stage} s {' '.join(joins)} LEFT JOIN {self.q(model._meta.db_table)} t ON "
            f"t.{self.q(pk.column)} = m.new WHERE m.action IN ('merged', 'skipped')"
        )[0]
        if missing:
            report.problems.append(f"{missing} rows were matched to existing rows now missing")
        if different:
            report.problems.append(
                f"{different} rows were matched (merged or skipped) to an existing row that is "
                f"another {model.__name__}: its ({', '.join(natural_key)}) differs"
            )

    def _check_references(
        self, model: type[models.Model], entry: ExportFile, report: ModelVerification
    ) -> None:
        """Loaded rows pointing at a managed parent row that is not in the export."""
        from django_gyro import registry

        shared = set(self._summary(report.label).get("shared", []))
        stage = self.q(f"gyro_verify_{self.labels[report.label]}")
        for f, related in self._foreign_keys(model, entry.column_names):
            parent = related._meta.label
            if f.column in shared or getattr(f, "target_field", None) is not related._meta.pk:
                continue
            column = f"s.{self.q(f.column)}"
            if parent in self.labels:
                parent_stage = self.q(f"gyro_verify_{self.labels[parent]}")
                parent_pk = self.q(f.target_field.column)  # type: ignore[attr-defined]
                outside = (
                    f"NOT EXISTS (SELECT 1 FROM {parent_stage} ps WHERE ps.{parent_pk} = {column})"
                )
            elif registry.get_importer(related) is not None:
                outside = "true"
            else:
                continue
            count = self.fetch(
                f"SELECT count(*) FROM {stage} s WHERE {column} IS NOT NULL AND {outside}"
            )[0][0]
            if count:
                report.problems.append(
                    f"{count} rows reference {parent} rows that are not in the export "
                    f"({f.column}, not declared shared)"
                )
