"""Query metrics, plan analysis on a real EXPLAIN, index recommendations and N+1 detection."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections, models
from pytest_django.fixtures import Settings

from civ_orm_compat.connection import db
from civ_orm_compat.exceptions import NPlusOneDetected, NPlusOneWarning
from civ_orm_compat.optimization import (
    QueryTracker,
    aexplain_plan,
    analyze_query_plan,
    arecommend_indexes,
    detect_n_plus_one,
    normalize_sql,
    query_tracker,
)
from tests.civ_app.models import Post, Tag, User

asyncio_db = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def authors_with_posts(n: int = 4) -> None:
    for i in range(n):
        author = await User.create(username=f"author{i}", age=20 + i)
        for j in range(2):
            await Post(title=f"p{i}-{j}", content="", author=author).save()


# ------------------------------------------------------------------------------ metrics


def test_normalize_sql_folds_literals_and_in_lists() -> None:
    assert normalize_sql("SELECT * FROM t WHERE a = 5 AND b = 'x''y'") == (
        "SELECT * FROM t WHERE a = ? AND b = ?"
    )
    assert normalize_sql('SELECT "t"."a" FROM "t" WHERE "t"."id" IN (%s, %s, %s)') == (
        'SELECT "t"."a" FROM "t" WHERE "t"."id" IN (...)'
    )
    assert normalize_sql("SELECT col1 FROM t2 LIMIT 21") == "SELECT col1 FROM t2 LIMIT ?"


def test_tracker_is_bounded_and_reports_percentiles(settings: Settings) -> None:
    settings.CIV_ORM_METRICS_MAX_PATTERNS = 3
    settings.CIV_ORM_METRICS_SAMPLES = 10
    settings.CIV_ORM_SLOW_QUERY_MS = 50
    tracker = QueryTracker()
    for ms in range(1, 101):  # 100 runs of one shape, 1..100 ms
        tracker.track_query(f"SELECT * FROM t WHERE id = {ms}", ms / 1000)
    for n in range(5):
        tracker.track_query(f"SELECT c{n} FROM t", 0.001)
    stats = tracker.get_query_stats()
    assert stats["total_queries"] == 105
    assert stats["unique_patterns"] == 3 and stats["evicted_patterns"] == 3
    assert stats["slow_queries"] == 51  # 50..100 ms
    # The oldest pattern was evicted to keep memory bounded.
    with pytest.raises(KeyError, match="no recorded query has the pattern"):
        tracker.get_query_stats("SELECT * FROM t WHERE id = 7")
    assert tracker.get_query_stats("SELECT c4 FROM t")["count"] == 1
    tracker2 = QueryTracker()
    for ms in range(1, 101):
        tracker2.track_query("SELECT 1 FROM t WHERE id = %s", ms / 1000)
    shape = tracker2.get_query_stats("SELECT 1 FROM t WHERE id = %s")
    assert shape["count"] == 100 and shape["max_time"] == pytest.approx(0.1)
    # Only the last 10 timings are kept: p50/p95 of 91..100 ms.
    assert shape["p50"] == pytest.approx(0.0955) and shape["p95"] == pytest.approx(0.09955)
    assert tracker2.get_slowest_queries(1)[0]["pattern"] == "SELECT ? FROM t WHERE id = ?"
    tracker2.clear_stats()
    assert tracker2.get_query_stats()["total_queries"] == 0


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_tracker_records_async_queries_per_pattern() -> None:
    query_tracker.clear_stats()
    with query_tracker.recording():
        for i in range(5):
            await User.objects.filter(age=i).count()
        await User.create(username="x")
    frequent = query_tracker.get_most_frequent_queries(1)[0]
    assert frequent["count"] == 5 and "COUNT(*)" in frequent["pattern"]
    assert query_tracker.get_query_stats()["total_queries"] >= 6
    before = query_tracker.total_queries
    await User.objects.count()  # recording is off again
    assert query_tracker.total_queries == before


# ------------------------------------------------------------------------------ plans


def test_plan_walk_finds_problems_deep_in_the_tree(settings: Settings) -> None:
    settings.CIV_ORM_LARGE_TABLE_ROWS = 1000
    plan = [
        {
            "Plan": {
                "Node Type": "Sort",
                "Total Cost": 50.0,
                "Sort Method": "external merge",
                "Sort Space Type": "Disk",
                "Sort Space Used": 900,
                "Sort Key": ["users.age"],
                "Plan Rows": 10,
                "Plans": [
                    {
                        "Node Type": "Hash Join",
                        "Plan Rows": 10,
                        "Plans": [
                            {
                                "Node Type": "Seq Scan",
                                "Relation Name": "users",
                                "Plan Rows": 5,
                                "Actual Rows": 4000,
                                "Actual Loops": 1,
                                "Rows Removed by Filter": 100,
                                "Filter": "(age > 3)",
                            },
                            {"Node Type": "Hash", "Hash Batches": 4, "Plans": []},
                        ],
                    }
                ],
            }
        }
    ]
    found = {s["type"]: s for s in analyze_query_plan(plan)["suggestions"]}
    assert set(found) == {"sort_spill", "index_missing", "misestimate", "hash_spill"}
    assert found["index_missing"]["relation"] == "users" and found["index_missing"]["depth"] == 2
    assert found["misestimate"]["estimated_rows"] == 5
    with pytest.raises(ValueError, match="does not know the 'oracle' backend"):
        analyze_query_plan({}, "oracle")


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_real_postgresql_explain_seq_scan_misestimate_and_spill(settings: Settings) -> None:
    settings.CIV_ORM_LARGE_TABLE_ROWS = 2000
    User.objects.bulk_create(
        User(username=f"user{i:05d}", email=f"{i}@x.org" + "x" * 80, age=1) for i in range(6000)
    )
    with connections["default"].cursor() as cursor:
        cursor.execute("ANALYZE users")
    User.objects.update(age=2)  # statistics now say every age is 1
    from civ_orm_compat.optimization import explain_plan

    report = explain_plan(User.objects.filter(age=2), analyze=True)
    kinds = {s["type"] for s in report["suggestions"]}
    assert "index_missing" in kinds, report
    assert "misestimate" in kinds, report
    assert isinstance(report["plan"], list) and "Plan" in report["plan"][0]

    from django.db import transaction

    with transaction.atomic():
        with connections["default"].cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64kB'")
        spilled = explain_plan(User.objects.order_by("age", "created_at"), analyze=True)
    assert "sort_spill" in {s["type"] for s in spilled["suggestions"]}, spilled


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_explain_on_the_current_backend(vendor: str) -> None:
    await authors_with_posts(2)
    report = await aexplain_plan(User.objects.filter(age__gt=1).order_by("age"))
    assert "suggestions" in report and report["plan"]
    if vendor == "sqlite":
        assert {"full_scan", "sort_without_index"} <= {s["type"] for s in report["suggestions"]}


# ------------------------------------------------------------------------------ indexes


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_index_recommendations_from_filters_and_orderings() -> None:
    recs = await arecommend_indexes(
        User.objects.filter(age__gte=18, deleted=False).order_by("created_at"),
        User.objects.filter(username="x"),  # unique + indexed already
        User.objects.filter(email="a@b"),  # Meta.indexes has email
        Post.objects.filter(author__age=3, title__startswith="a"),
        Tag.objects.filter(weight=1.0),  # the composite (weight, since) index covers it
    )
    got = {(r.model.__name__, tuple(r.fields)) for r in recs}
    assert got == {
        ("User", ("deleted", "created_at", "age")),
        ("User", ("age",)),
        ("Post", ("title",)),
    }
    first = next(r for r in recs if r.fields[0] == "deleted")
    assert isinstance(first.index, models.Index) and first.index.name
    assert first.as_code().startswith(
        'models.Index(fields=["deleted", "created_at", "age"], name='
    )
    assert "equality filter" in first.reason and "ordering" in first.reason


# ------------------------------------------------------------------------------ N+1


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_n_plus_one_in_async_code_names_the_line_and_the_fix() -> None:
    await authors_with_posts()
    with pytest.warns(NPlusOneWarning) as caught:
        async with detect_n_plus_one() as detector:
            for post in await Post.objects.all():
                author = await User.get(pk=post.author_id)  # the N+1 line
                assert author.username
    assert len(detector.reports) == 1
    report = detector.reports[0]
    assert report.filename == __file__ and report.function.startswith("test_n_plus_one")
    assert report.fix == 'add .select_related("author") to the Post query'
    assert report.count >= 2
    assert f"{__file__}:{report.lineno}" in str(caught[0].message)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_reverse_n_plus_one_suggests_prefetch_and_can_raise() -> None:
    await authors_with_posts()
    with pytest.raises(NPlusOneDetected, match=r'prefetch_related\("posts"\) to the User query'):
        async with detect_n_plus_one(action="raise"):
            for author in await User.objects.all():
                await author.posts.all()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_fixed_loops_are_not_reported(recwarn: pytest.WarningsRecorder) -> None:
    await authors_with_posts()
    async with detect_n_plus_one(action="raise") as detector:
        for post in await Post.objects.select_related("author").all():
            assert post.author.username
        for author in await User.objects.prefetch_related("posts").all():
            assert len(await author.posts.all()) == 2
        # The same shape at different lines is not a loop.
        await User.get(username="author0")
        await User.get(username="author1")
    assert detector.reports == []


@pytest.mark.django_db(transaction=True)
def test_n_plus_one_in_sync_code_lazy_foreign_keys() -> None:
    author = User.objects.create(username="s")
    for i in range(3):
        Post.objects.create(title=f"t{i}", content="", author=author)

    def loop() -> list[str]:
        return [post.author.username for post in Post.objects.all()]

    with pytest.warns(NPlusOneWarning, match=r'select_related\("author"\) to the Post query'):
        with detect_n_plus_one() as detector:
            assert loop() == ["s"] * 3
    assert detector.reports[0].function == "<listcomp>" or detector.reports[0].function == "loop"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_n_plus_one_setting_off_and_bad_arguments(settings: Settings) -> None:
    await authors_with_posts(2)
    settings.CIV_ORM_NPLUSONE = "off"
    async with detect_n_plus_one() as detector:
        for post in await Post.objects.all():
            await User.get(pk=post.author_id)
    assert detector.reports == []
    with pytest.raises(ValueError, match="must be 'warn', 'raise' or 'off', not 'loud'"):
        detect_n_plus_one(action="loud")
    with pytest.raises(ValueError, match="at least 2"):
        detect_n_plus_one(threshold=1)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_n_plus_one_inside_a_transaction_block() -> None:
    await authors_with_posts(3)
    with pytest.warns(NPlusOneWarning):
        async with db.transaction(), detect_n_plus_one() as detector:
            for post in await Post.objects.all():
                await sync_to_async(lambda p=post: p.author.username)()
    assert detector.reports and "select_related" in detector.reports[0].fix
