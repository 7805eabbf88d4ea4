"""Usage statistics: /api/data charts, per-channel and per-key breakdowns (seed 003), /api/usage/self (seed 001)
and `flask usage verify|repair`, all read from quota_data rows written next to the consume logs."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import Channel, Log, LogType, Plan, QuotaData, Token, UserSubscription
from app.options import options
from app.services import stats
from tests.conftest import build_app, login_client
from tests.factories import make_user

NOW = int(time.time())


@pytest.fixture(autouse=True)
def fresh_now(monkeypatch):
    """NOW is taken per test: a module-level time goes stale when a long run reaches this file late."""
    monkeypatch.setattr(sys.modules[__name__], "NOW", int(time.time()))
# A fixed moment for the window arithmetic: Saturday 2025-03-15 12:30 UTC.
T = int(datetime(2025, 3, 15, 12, 30, tzinfo=UTC).timestamp())


@pytest.fixture
def app_overrides():
    # Options are read once and stay cached, so statement counts only see the queries under test.
    return {"OPTIONS_SYNC_SECONDS": 3600}


def add_usage(user, *, quota, model="gpt-4o", at=None, token_id=0, channel_id=0, prompt=10, completion=5,
              rollup=True, log=True) -> None:
    """What settlement writes in one transaction: the consume log row and its hourly quota_data bucket."""
    at = NOW if at is None else at
    if log:
        db.session.add(Log(type=LogType.CONSUME, user_id=user.id, username=user.username, created_at=at,
                           quota=quota, model_name=model, token_id=token_id, channel_id=channel_id,
                           prompt_tokens=prompt, completion_tokens=completion))
    if rollup:
        hour = at - at % 3600
        row = db.session.scalar(select(QuotaData).where(
            QuotaData.user_id == user.id, QuotaData.model_name == model, QuotaData.token_id == token_id,
            QuotaData.channel_id == channel_id, QuotaData.created_at == hour))
        if row is None:
            row = QuotaData(user_id=user.id, username=user.username, model_name=model, token_id=token_id,
                            channel_id=channel_id, created_at=hour, count=0, quota=0, token_used=0)
            db.session.add(row)
        row.count += 1
        row.quota += quota
        row.token_used += prompt + completion
    db.session.commit()


@pytest.fixture
def bob(app):
    return make_user("bob")


@pytest.fixture
def bob_client(app, bob):
    return login_client(app, bob)


def make_channel(name: str, ctype: int = 1) -> Channel:
    channel = Channel(name=name, key="sk-test", type=ctype, models="gpt-4o")
    db.session.add(channel)
    db.session.commit()
    return channel


def make_token(user, name: str) -> Token:
    token = Token(user_id=user.id, name=name, key_hash=f"hash-{name}", key_hint="abcd|wxyz")
    db.session.add(token)
    db.session.commit()
    return token


class StatementCounter:
    def __init__(self, engine):
        self.engine, self.statements = engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._on)

    def _on(self, conn, cursor, statement, *args):
        self.statements.append(statement)


# -- /api/data -----------------------------------------------------------------------------------------

def test_data_self_sums_buckets_per_hour_and_model_and_is_isolated(user_client, bob_client, user, bob):
    hour = NOW - NOW % 3600
    add_usage(user, quota=100, at=hour + 10, token_id=1, channel_id=1)
    add_usage(user, quota=50, at=hour + 20, token_id=2, channel_id=2)  # same hour and model, other key
    add_usage(user, quota=7, at=hour + 30, model="gpt-4.1")
    add_usage(bob, quota=999, at=hour + 40)
    body = user_client.get(f"/api/data/self?start_timestamp={hour - 3600}&end_timestamp={NOW}").get_json()
    assert body["success"]
    assert body["data"] == [
        {"created_at": hour, "model_name": "gpt-4.1", "count": 1, "quota": 7, "token_used": 15},
        {"created_at": hour, "model_name": "gpt-4o", "count": 2, "quota": 150, "token_used": 30},
    ]
    bobs = bob_client.get("/api/data/self").get_json()["data"]
    assert [(r["quota"], r["count"]) for r in bobs] == [(999, 1)]


def test_data_admin_all_users_or_one(admin_client, user_client, user, bob, h):
    add_usage(user, quota=100)
    add_usage(bob, quota=11)
    rows = admin_client.get("/api/data/").get_json()["data"]
    assert [(r["model_name"], r["quota"], r["count"]) for r in rows] == [("gpt-4o", 111, 2)]
    rows = admin_client.get("/api/data/?username=bob").get_json()["data"]
    assert [r["quota"] for r in rows] == [11]
    h.envelope_error(user_client.get("/api/data/"), 403)


def test_data_group_by_day_and_week(app, user):
    day = T - T % 86400  # 2025-03-15 00:00 UTC, a Saturday
    add_usage(user, quota=1, at=day + 3600)
    add_usage(user, quota=2, at=day + 7200)
    add_usage(user, quota=4, at=day - 3600)  # Friday
    add_usage(user, quota=8, at=day + 2 * 86400)  # Monday: a new week
    by_day = stats.quota_data_series(day - 86400, day + 3 * 86400, user_id=user.id, group_by="day")
    assert [(r["created_at"], r["quota"], r["count"]) for r in by_day] == [
        (day - 86400, 4, 1), (day, 3, 2), (day + 2 * 86400, 8, 1)]
    by_week = stats.quota_data_series(day - 86400, day + 3 * 86400, user_id=user.id, group_by="week")
    monday = day - 5 * 86400
    assert [(r["created_at"], r["quota"]) for r in by_week] == [(monday, 7), (monday + 7 * 86400, 8)]


def test_data_group_by_day_in_the_site_time_zone(app, user):
    options().update({"CheckInTimeZone": "Asia/Shanghai"})  # UTC+8: the day starts at 16:00 UTC
    day_utc = T - T % 86400
    add_usage(user, quota=1, at=day_utc + 15 * 3600)  # 23:00 in Shanghai, 15 March
    add_usage(user, quota=2, at=day_utc + 16 * 3600)  # 00:00 in Shanghai, 16 March
    rows = stats.quota_data_series(day_utc, day_utc + 86400, user_id=user.id, group_by="day")
    assert [(r["created_at"], r["quota"]) for r in rows] == [
        (day_utc - 8 * 3600, 1), (day_utc + 16 * 3600, 2)]


@pytest.mark.parametrize("query", [
    "group_by=month", "start_timestamp=x", "start_timestamp={now}&end_timestamp={now-10}",
    "start_timestamp={now-40d}&end_timestamp={now}",
])
def test_data_bad_ranges(user_client, h, query):
    query = (query.replace("{now-10}", str(NOW - 10)).replace("{now-40d}", str(NOW - 40 * 86400))
             .replace("{now}", str(NOW)))
    h.envelope_error(user_client.get(f"/api/data/self?{query}"), 400)


def test_data_self_allows_a_year_by_day(user_client):
    response = user_client.get(f"/api/data/self?start_timestamp={NOW - 200 * 86400}&end_timestamp={NOW}"
                               "&group_by=week")
    assert response.get_json()["success"] is True


# -- per channel and per key (seed 003) ----------------------------------------------------------------

def test_channel_usage_stats_in_one_query(app, user, bob):
    a, b, idle = make_channel("a"), make_channel("b"), make_channel("idle")
    add_usage(user, quota=100, at=T - 3600, channel_id=a.id)  # today
    add_usage(bob, quota=10, at=T - 5 * 86400, channel_id=a.id)  # this month
    add_usage(user, quota=1, at=T - 30 * 86400, channel_id=a.id)  # February
    add_usage(user, quota=5, at=T, channel_id=b.id, token_id=3)
    a, b, idle = a.id, b.id, idle.id
    stats.channel_usage_stats(now=T)  # warm the option cache
    with StatementCounter(db.engine) as counter:
        result = stats.channel_usage_stats(now=T)
    assert len(counter.statements) == 1, counter.statements
    assert "CASE WHEN" in counter.statements[0].upper()
    by_id = {item["channel_id"]: item for item in result["items"]}
    assert (by_id[a]["today_quota"], by_id[a]["month_quota"], by_id[a]["total_quota"]) == (100, 110, 111)
    assert (by_id[a]["today_requests"], by_id[a]["month_requests"], by_id[a]["total_requests"]) == (1, 2, 3)
    assert (by_id[b]["today_quota"], by_id[b]["total_requests"]) == (5, 1)
    assert by_id[idle]["total_quota"] == 0 and by_id[idle]["name"] == "idle"
    assert result["summary"]["today_quota"] == 105 and result["summary"]["total_quota"] == 116
    assert result["summary"]["channels"] == 3
    assert by_id[a]["today_usd"] == pytest.approx(100 / 500000)


def test_channel_routes(admin_client, user_client, user, bob, h):
    channel = make_channel("main")
    key_a, key_b = make_token(user, "alice-key"), make_token(bob, "bob-key")
    add_usage(user, quota=300, channel_id=channel.id, token_id=key_a.id)
    add_usage(user, quota=200, channel_id=channel.id, token_id=key_a.id, model="gpt-4.1")
    add_usage(bob, quota=40, channel_id=channel.id, token_id=key_b.id)
    add_usage(bob, quota=40, channel_id=channel.id + 1, token_id=key_b.id)  # another channel

    body = admin_client.get("/api/channel/usage-stats").get_json()
    assert body["success"] and body["data"]["summary"]["total_quota"] == 540

    one = admin_client.get(f"/api/channel/{channel.id}/usage-stats").get_json()["data"]
    assert one["name"] == "main" and one["total_quota"] == 540 and one["today_requests"] == 3
    assert [(m["model_name"], m["total_quota"]) for m in one["models"]] == [("gpt-4o", 340), ("gpt-4.1", 200)]

    breakdown = admin_client.get(f"/api/channel/{channel.id}/usage-breakdown").get_json()["data"]
    assert [(i["token_id"], i["token_name"], i["username"], i["quota"], i["count"]) for i in breakdown["items"]] == [
        (key_a.id, "alice-key", "alice", 500, 2), (key_b.id, "bob-key", "bob", 40, 1)]
    assert breakdown["items"][0]["key"] == "sk-abcd...wxyz"
    ranged = admin_client.get(f"/api/channel/{channel.id}/usage-breakdown?start_timestamp={NOW + 7200}")
    assert [i["quota"] for i in ranged.get_json()["data"]["items"]] == [0, 0]

    h.envelope_error(admin_client.get("/api/channel/99999/usage-stats"), 404)
    h.envelope_error(admin_client.get("/api/channel/99999999999999999999/usage-breakdown"), 404)
    h.envelope_error(admin_client.get(f"/api/channel/{channel.id}/usage-breakdown?start_timestamp=-1"), 400)
    for path in ("/api/channel/usage-stats", f"/api/channel/{channel.id}/usage-stats",
                 f"/api/channel/{channel.id}/usage-breakdown"):
        h.envelope_error(user_client.get(path), 403)


# -- /api/usage/self (seed 001) ------------------------------------------------------------------------

def test_usage_self_agrees_with_the_logs_and_moves_with_the_next_request(user_client, bob_client, user, bob):
    add_usage(user, quota=1000)
    add_usage(user, quota=500, model="gpt-4.1")
    add_usage(bob, quota=77)
    body = user_client.get("/api/usage/self").get_json()
    assert body["success"]
    data = body["data"]
    logged = db.session.scalar(select(func.sum(Log.quota)).where(Log.user_id == user.id,
                                                                    Log.type == LogType.CONSUME))
    assert data["today"]["quota"] == logged == 1500
    assert data["today"]["requests"] == 2 and data["month"]["quota"] >= 1500
    assert data["today"]["usd"] == pytest.approx(1500 / 500000)
    assert data["plan"] is None
    add_usage(user, quota=1)
    assert user_client.get("/api/usage/self").get_json()["data"]["today"]["quota"] == 1501
    assert bob_client.get("/api/usage/self").get_json()["data"]["today"]["quota"] == 77


def test_usage_self_shows_what_remains_of_the_plan(app, user):
    # The post-mortem's example: a Professional plan with $200 a day; $1.415 spent today.
    per_dollar = 500000
    plan = Plan(name="Professional", daily_quota_limit=200 * per_dollar, monthly_quota_limit=0,
                daily_request_limit=100)
    db.session.add(plan)
    db.session.commit()
    db.session.add(UserSubscription(user_id=user.id, plan_id=plan.id, start_time=T - 86400, end_time=0))
    db.session.commit()
    add_usage(user, quota=707500, at=T - 60)
    add_usage(user, quota=999, at=T - 86400)  # yesterday
    data = stats.user_usage_summary(user, now=T)
    assert data["today"]["usd"] == pytest.approx(1.415)
    daily = data["plan"]["daily_quota"]
    assert daily["used_usd"] == pytest.approx(1.415) and daily["remaining_usd"] == pytest.approx(198.585)
    assert data["plan"]["name"] == "Professional"
    assert data["plan"]["daily_requests"] == {"limit": 100, "used": 1, "remaining": 99}
    assert data["plan"]["monthly_quota"]["remaining"] is None  # no monthly limit


# -- verify / repair -----------------------------------------------------------------------------------

def test_verify_and_repair(app, user, bob):
    hour = T - T % 3600 - 7200
    add_usage(user, quota=10, at=hour + 5)
    add_usage(user, quota=20, at=hour + 6, rollup=False)  # the rollup missed this one
    add_usage(bob, quota=3, at=hour + 3600, log=False)  # a bucket with no logs behind it
    add_usage(bob, quota=4, at=hour + 3700, model="gpt-4.1", rollup=False)  # a bucket missing entirely
    report = stats.verify_quota_data(now=T)
    assert not report.ok and len(report.drift) == 3
    assert "user=" in report.drift[0].describe()
    repaired = stats.repair_quota_data(now=T)
    assert repaired.repaired == 3
    assert stats.verify_quota_data(now=T).ok
    row = db.session.scalar(select(QuotaData).where(QuotaData.user_id == user.id))
    assert (row.count, row.quota, row.token_used) == (2, 30, 30)
    assert db.session.scalar(select(QuotaData.username).where(QuotaData.model_name == "gpt-4.1")) == "bob"


def test_usage_cli(app, user):
    stats.register_usage_cli(app)
    runner = app.test_cli_runner()
    add_usage(user, quota=10, at=NOW - 7200, rollup=False)
    result = runner.invoke(args=["usage", "verify", "--days", "1"])
    assert result.exit_code == 1 and "1 bucket(s) drifted" in result.output
    result = runner.invoke(args=["usage", "repair", "--days", "1"])
    assert result.exit_code == 0 and "repaired 1 bucket(s)" in result.output
    result = runner.invoke(args=["usage", "verify", "--days", "1"])
    assert result.exit_code == 0 and "agrees" in result.output


# -- the same SQL on PostgreSQL ------------------------------------------------------------------------

def test_queries_on_postgresql(tmp_path, tiktoken_cache, fresh_postgres_url):
    pg = build_app(tmp_path / "pg", fresh_postgres_url, TIKTOKEN_CACHE_DIR=tiktoken_cache)
    with pg.app_context():
        user = make_user("pguser")
        channel = make_channel("pg")
        day = T - T % 86400
        add_usage(user, quota=5, at=day + 100, channel_id=channel.id)
        add_usage(user, quota=6, at=day - 100, channel_id=channel.id, rollup=False)
        assert [r["quota"] for r in stats.quota_data_series(day - 86400, day + 86400, user_id=user.id,
                                                            group_by="day")] == [5]
        assert stats.channel_usage_stats(now=T)["items"][0]["today_quota"] == 5
        assert stats.channel_usage_breakdown(channel.id, start=day, now=T)["items"][0]["quota"] == 5
        assert stats.user_usage_summary(user, now=T)["today"]["quota"] == 5
        assert len(stats.verify_quota_data(now=T + 3600).drift) == 1
        assert stats.repair_quota_data(now=T + 3600).repaired == 1
        assert json.dumps(stats.quota_data_series(day - 86400, day + 86400, group_by="week"))
        db.session.remove()
        db.engine.dispose()
