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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import connections, models, transaction

from django_gyro.backend import catalog
from django_gyro.backend.compression import open_reader
from django_gyro.backend.connection import is_url, mask_url
from django_gyro.backend.copy import copy_from
from django_gyro.exceptions import VerifyError
from django_gyro.load.loader import target_connection
from django_gyro.load.plan import related_model
from django_gyro.manifest import ExportFile, check_files, read_manifest
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
    check_files(manifest)
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
            checker = _Checker(alias, manifest.directory, load)
            for index, entry in enumerate(manifest.files):
                checker.stage(index, entry)
            for index, entry in enumerate(manifest.files):
                result.models.append(checker.compare(index, entry))
            transaction.set_rollback(True, using=alias)
    return result


class _Checker:
    def __init__(self, alias: str, directory: Path, load: Load) -> None:
        self.alias = alias
        self.wrapper = connections[alias]
        self.directory = directory
        self.load = load
        self.labels: dict[str, int] = {}
        self.rewritten: set[str] = set()

    def q(self, name: str) -> str:
        return self.wrapper.ops.quote_name(name)

    def fetch(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.wrapper.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def execute(self, sql: str, params: Any = None) -> None:
        with self.wrapper.cursor() as cursor:
            cursor.execute(sql, params)

    def stage(self, index: int, entry: ExportFile) -> None:
        model = apps.get_model(entry.label)
        self.labels[model._meta.label] = index
        table, pk = self.q(model._meta.db_table), model._meta.pk
        assert pk is not None
        columns = ", ".join(self.q(name) for name in entry.column_names)
        stage, keys = self.q(f"gyro_verify_{index}"), self.q(f"gyro_verify_map_{index}")
        self.execute(
            f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS SELECT {columns} FROM {table} "
            f"WITH NO DATA"
        )
        with open_reader(self.directory / entry.file, entry.compression) as handle:
            copy_from(
                self.wrapper,
                f"COPY {stage} ({columns}) FROM STDIN WITH (FORMAT csv, HEADER true)",
                handle,
            )
        with self.wrapper.cursor() as cursor:
            pk_type = catalog.columns(cursor, stage)[pk.column].type
        # pk_type comes from the server's catalog (format_type), not from user input.
        self.execute(
            f"CREATE TEMPORARY TABLE {keys} ON COMMIT DROP AS SELECT CAST(old_key AS {pk_type}) "
            f"AS old, CAST(new_key AS {pk_type}) AS new, action FROM "
            f"{self.q(KeyMap._meta.db_table)} WHERE load_id = %s AND model = %s",
            [self.load.pk, model._meta.label],
        )
        self.execute(f"CREATE INDEX ON {keys} (old)")
        self.execute(f"CREATE INDEX ON {keys} (new)")
        self.execute(f"ANALYZE {stage}")
        self.execute(f"ANALYZE {keys}")
        if model._meta.label not in self.load.kept_models:
            self.rewritten.add(model._meta.label)

    def _hash(self, select: str, columns: list[str]) -> str:
        row = ", ".join(f"x.{self.q(c)}" for c in columns)
        value = self.fetch(
            f"SELECT md5(COALESCE(sum(('x' || substr(md5(ROW({row})::text), 1, 15))::bit(60)"
            f"::bigint::numeric), 0)::text) FROM ({select}) x"
        )[0][0]
        return str(value)

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
        loaded_rows = (
            f"SELECT s.* FROM {stage} s LEFT JOIN {keys} m ON m.old = s.{self.q(pk)} "
            f"WHERE m.action IS NULL OR m.action NOT IN ('merged', 'skipped')"
        )
        report.expected = self.fetch(f"SELECT count(*) FROM ({loaded_rows}) r")[0][0]
        new_keys = (
            f"SELECT COALESCE(m.new, s.{self.q(pk)}) AS k FROM {stage} s LEFT JOIN {keys} m "
            f"ON m.old = s.{self.q(pk)} WHERE m.action IS NULL OR m.action NOT IN "
            f"('merged', 'skipped')"
        )
        report.found = self.fetch(
            f"SELECT count(*) FROM {table} t WHERE t.{self.q(pk)} IN ({new_keys})"
        )[0][0]
        # Translate the target's keys back into the export's: the loaded row's own key through
        # this model's map, each foreign key through its parent's map.
        exprs = {name: f"t.{self.q(name)}" for name in names}
        joins = [f"LEFT JOIN {keys} own ON own.new = t.{self.q(pk)} AND own.action = 'remapped'"]
        exprs[pk] = f"COALESCE(own.old, t.{self.q(pk)})"
        fks: list[tuple[models.Field[Any, Any], type[models.Model]]] = []
        for f in model._meta.concrete_fields:
            related = related_model(f)
            if related is None:
                continue
            fks.append((f, related))
            parent = related._meta.label
            if (
                f.column in names
                and parent in self.labels
                and parent in self.rewritten
                and getattr(f, "target_field", None) is related._meta.pk
            ):
                alias = f"p{len(joins)}"
                parent_keys = self.q(f"gyro_verify_map_{self.labels[parent]}")
                joins.append(
                    f"LEFT JOIN (SELECT DISTINCT ON (new) new, old FROM {parent_keys} "
                    f"ORDER BY new, old) {alias} ON {alias}.new = t.{self.q(f.column)}"
                )
                exprs[f.column] = f"COALESCE({alias}.old, t.{self.q(f.column)})"
        select_target = (
            f"SELECT {', '.join(f'{exprs[n]} AS {self.q(n)}' for n in names)} FROM {table} t "
            f"{' '.join(joins)} WHERE t.{self.q(pk)} IN ({new_keys})"
        )
        report.file_hash = self._hash(loaded_rows, names)
        report.target_hash = self._hash(select_target, names)
        for f, related in fks:
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
