"""Reload: an export directory loaded into a PostgreSQL database in one transaction.

* :mod:`.loader`: :func:`~.loader.load_export`, the stages of a load.
* :mod:`.plan`: per file, the model, key strategy, natural key and foreign keys.
* :mod:`.keys`: the key decisions (kept, remapped, merged, skipped, updated).
* :mod:`.integrity`: foreign keys lifted and re-validated, constraint violations named.
* :mod:`.verify`: ``gyro_verify``, the comparison of an export with a target.
* :mod:`.results`: :class:`~.results.LoadResult`, :class:`~.results.ModelLoadReport`.
"""
