"""Export: one consistent snapshot of a PostgreSQL source, written as CSV files + a manifest.

* :mod:`.plan`: jobs compiled into ``COPY (SELECT ...)`` statements; :func:`~.plan.plan`.
* :mod:`.export`: the snapshot transaction that runs them and publishes the files.
* :mod:`.closure`: the closure report (foreign keys pointing outside the export).
* :mod:`.results`: :class:`~.results.ExportResult`, :class:`~.results.JobResult`.
"""
