"""Database URLs parsed without django-environ (the add-on depends on Django, psycopg, tqdm)."""

from __future__ import annotations

import environ
import pytest

from django_gyro import SourceError
from django_gyro.backend.connection import url_settings


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p%40ss@db.example:6432/shop?sslmode=require",
        "postgresql://root@127.0.0.1/easyautoml",
        "postgres://postgres:@/easyautoml?host=/tmp/pgserver",
        "pgsql://reader:secret@[::1]:5433/replica",
        "postgres://localhost/name%20with%20space",
    ],
)
def test_urls_parse_as_django_environ_parses_them(url: str) -> None:
    assert url_settings(url) == {**environ.Env.db_url_config(url)}


def test_an_encoded_socket_directory_is_decoded() -> None:
    config = url_settings("postgres://me@%2Fvar%2Frun%2Fpostgresql/db")
    assert config["HOST"] == "/var/run/postgresql"
    assert (config["USER"], config["NAME"], config["PORT"]) == ("me", "db", "")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@127.0.0.1:3306/shop", r"needs PostgreSQL, but database \S+ is mysql$"),
        ("postgres://u:secret@host:port/db", r"bad port 'port'"),
    ],
)
def test_bad_urls_are_one_clear_line(url: str, message: str) -> None:
    with pytest.raises(SourceError, match=message) as info:
        url_settings(url)
    assert "secret" not in str(info.value)
