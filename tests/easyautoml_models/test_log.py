"""The database log handler never blocks, raises or loses what the caller logs.

The handler's writer stores records on its own connection, so these tests use transactional
databases (rows committed by another connection are not rolled back with the test).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections, transaction

from easyautoml_models.log import DatabaseLogHandler
from easyautoml_models.models import EasyAutoMLLogger, User

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def handler() -> Iterator[DatabaseLogHandler]:
    handler = DatabaseLogHandler(level=logging.INFO)
    logger = logging.getLogger("easyautoml.tests.log")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        handler.close()


@pytest.fixture
def silent_server() -> Iterator[dict[str, Any]]:
    """Connection settings of a server that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    settings = copy.deepcopy(connections["default"].settings_dict)
    settings.update(HOST="127.0.0.1", PORT=str(server.getsockname()[1]))
    try:
        yield settings
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def rows() -> list[tuple[str, str]]:
    return list(EasyAutoMLLogger.objects.order_by("pk").values_list("level", "message"))


def test_records_land_in_the_table_with_their_context(handler: DatabaseLogHandler) -> None:
    logger = logging.getLogger("easyautoml.tests.log")
    logger.warning("disk at %d%%", 93)
    try:
        raise ValueError("bad column")
    except ValueError:
        logger.exception("training failed")
    logger.debug("below the handler's level")
    handler.flush()
    assert rows() == [("WARNING", "disk at 93%"), ("ERROR", "training failed")]
    first, second = EasyAutoMLLogger.objects.order_by("pk")
    assert first.logger == "easyautoml.tests.log"
    assert first.main_function == "test_records_land_in_the_table_with_their_context"
    assert first.main_module == "test_log" and first.host_name
    assert "ValueError: bad column" in second.traceback


def test_records_logged_from_async_code_are_stored(
    handler: DatabaseLogHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    async def work() -> None:
        logging.getLogger("easyautoml.tests.log").error("from a coroutine")

    asyncio.run(work())
    handler.flush()
    assert rows() == [("ERROR", "from a coroutine")]
    assert "SynchronousOnlyOperation" not in capsys.readouterr().err


def test_records_logged_in_a_rolled_back_transaction_are_stored(
    handler: DatabaseLogHandler,
) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        User.objects.create_user(email="gone@example.com")
        logging.getLogger("easyautoml.tests.log").error("payment provider said no")
        raise RuntimeError("roll back")
    handler.flush()
    assert rows() == [("ERROR", "payment provider said no")]
    assert not User.objects.filter(email="gone@example.com").exists()


@pytest.mark.postgresql  # the silent server stands in for a PostgreSQL server
def test_a_log_server_that_never_answers_never_blocks_the_caller(
    silent_server: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    handler = DatabaseLogHandler(database=silent_server)
    logger = logging.getLogger("easyautoml.tests.silent")
    logger.addHandler(handler)
    calls_done = threading.Event()

    def caller() -> None:
        for number in range(20):
            logger.error("record %d", number)
        calls_done.set()

    try:
        started = time.monotonic()
        threading.Thread(target=caller, daemon=True).start()
        assert calls_done.wait(timeout=2), "logging blocked the caller"
        assert time.monotonic() - started < 1
    finally:
        logger.removeHandler(handler)
    started = time.monotonic()
    handler.close()  # gives up on the silent server after its timeouts
    assert time.monotonic() - started < 15
    assert handler.dropped == 20
    warnings = [line for line in capsys.readouterr().err.splitlines() if "dropping" in line]
    assert len(warnings) == 1, warnings
    assert f"127.0.0.1:{silent_server['PORT']}" in warnings[0]


@pytest.mark.postgresql
def test_a_full_queue_drops_records_with_one_counted_warning(
    silent_server: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    handler = DatabaseLogHandler(database=silent_server, queue_size=5)
    logger = logging.getLogger("easyautoml.tests.full")
    logger.addHandler(handler)
    try:
        for number in range(100):
            logger.error("record %d", number)  # never raises
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert handler.dropped == 100
    warnings = [line for line in capsys.readouterr().err.splitlines() if "dropping" in line]
    assert len(warnings) == 1, warnings


def test_logging_shutdown_flushes_every_queued_record(db: None) -> None:
    handler = DatabaseLogHandler()
    logger = logging.getLogger("easyautoml.tests.shutdown")
    logger.addHandler(handler)
    try:
        for number in range(200):
            logger.warning("record %d", number)
    finally:
        logger.removeHandler(handler)
    logging.shutdown([weakref.ref(handler)])
    assert EasyAutoMLLogger.objects.filter(logger="easyautoml.tests.shutdown").count() == 200


def test_a_failing_insert_never_breaks_the_caller(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = DatabaseLogHandler(retry_after=0)
    logger = logging.getLogger("easyautoml.tests.broken")
    logger.addHandler(handler)
    monkeypatch.setattr(EasyAutoMLLogger._meta, "db_table", "no_such_table")
    try:
        with transaction.atomic():
            user = User.objects.create_user(email="caller@example.com")
            logger.error("this cannot be stored")
            handler.flush()
            user.first_name = "Still"
            user.save()  # the caller's transaction is untouched
    finally:
        logger.removeHandler(handler)
        handler.close()
        monkeypatch.undo()
    assert User.objects.get(email="caller@example.com").first_name == "Still"
    assert "no_such_table" in capsys.readouterr().err
    assert handler.dropped == 1
    assert EasyAutoMLLogger.objects.count() == 0


@pytest.mark.postgresql  # a forked child cannot share an in-memory SQLite database
def test_a_forked_child_gets_its_own_writer(handler: DatabaseLogHandler) -> None:
    logger = logging.getLogger("easyautoml.tests.log")
    logger.warning("from the parent")
    handler.flush()
    pid = os.fork()
    if pid == 0:  # the child: log, flush, leave without running pytest's teardown
        try:
            logger.warning("from the child")
            handler.flush()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert sorted(message for _, message in rows()) == ["from the child", "from the parent"]
