"""``EasyAutoMLLogger``: the log table's model and EasyAutoML-Core's logger in one class."""

from __future__ import annotations

import pytest

from easyautoml_models.EasyAutoMLDBModels import EasyAutoMLDBModels
from easyautoml_models.models import EasyAutoMLLogger
from tests.easyautoml_models.helpers import flush_easyautoml_logger


@pytest.mark.django_db(transaction=True)
def test_error_prints_to_stderr_and_stores_a_row(capsys: pytest.CaptureFixture[str]) -> None:
    logger = EasyAutoMLDBModels().logger
    logger.error("training failed for machine 7")
    logger.debug("a detail")
    err = capsys.readouterr().err
    assert "ERROR   |EasyAutoMLLogger.tests.easyautoml_models.test_logger|training failed" in err
    assert "a detail" in err
    flush_easyautoml_logger()
    row = EasyAutoMLLogger.objects.get(message="training failed for machine 7")
    assert row.level == "ERROR"
    assert row.main_function == "test_error_prints_to_stderr_and_stores_a_row"
    assert not EasyAutoMLLogger.objects.filter(message="a detail").exists()  # below WARNING


def test_log_calls_never_raise(capsys: pytest.CaptureFixture[str]) -> None:
    """No database access here: the table write fails, the caller carries on."""
    logger = EasyAutoMLLogger()
    logger.error("no database in this test")
    logger.critical("bad format %s %s", "only one")
    logger.warning("unknown keyword", nonsense=True)
    logger.info(object())
    err = capsys.readouterr().err
    assert "no database in this test" in err
    assert "could not log 'unknown keyword'" in err
