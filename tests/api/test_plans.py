"""Plans (seeds 000, 001, 004): admin CRUD for plans, quota types and subscriptions, and the relay's plan
window check in app/billing/plans.py (windows, resets, warm cache with no database read, Redis counters)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from app.billing import plans as billing_plans
from app.billing.plans import check_plan_allows, record_plan_usage, window_bounds
from app.cache import bump
from app.errors import PlanLimitExceeded, ValidationError
from app.extensions import db
from app.models import Plan, QuotaData, QuotaType, UserSubscription
from app.options import options
from app.services import plans as plan_service
from tests.conftest import build_app
from tests.factories import make_user

# Saturday 2025-03-15 12:30 UTC; the relay passes no `now`, tests inject it.
T = int(datetime(2025, 3, 15, 12, 30, tzinfo=UTC).timestamp())
DAY = 86400


@pytest.fixture
def app_overrides():
    # No periodic option/version reads during a test: statement counts see only the plan check itself.
    return {"OPTIONS_SYNC_SECONDS": 3600, "PLAN_COUNTER_RESYNC_SECONDS": 0}


def settle(user, quota: int, *, model: str = "gpt-4o", at: int = T) -> None:
    """What the relay does after a request: the quota_data bucket (with the log, in settlement), then
    record_plan_usage once the transaction has committed."""
    hour = at - at % 3600
    row = db.session.scalar(select(QuotaData).where(QuotaData.user_id == user.id, QuotaData.model_name == model,
                                                    QuotaData.created_at == hour))
    if row is None:
        row = QuotaData(user_id=user.id, username=user.username, model_name=model, created_at=hour,
                        count=0, quota=0, token_used=0)
        db.session.add(row)
    row.count += 1
    row.quota += quota
    db.session.commit()
    record_plan_usage(user.id, model, quota, now=at)


def subscribe(user, *, daily=0, monthly=0, requests=0, models: str | None = None, start=T - DAY, end=0) -> Plan:
    quota_type_ids = ""
    if models is not None:
        quota_type = QuotaType(name=f"type-{models or 'all'}", models=models)
        db.session.add(quota_type)
        db.session.commit()
        quota_type_ids = str(quota_type.id)
    plan = Plan(name=f"plan-{daily}-{monthly}-{requests}-{models}", daily_quota_limit=daily,
                monthly_quota_limit=monthly, daily_request_limit=requests, quota_type_ids=quota_type_ids)
    db.session.add(plan)
    db.session.commit()
    db.session.add(UserSubscription(user_id=user.id, plan_id=plan.id, start_time=start, end_time=end))
    db.session.commit()
    bump("plans")
    return plan


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


# -- the plan window check -----------------------------------------------------------------------------

def test_spend_up_to_the_daily_limit_passes_then_the_next_is_refused(app, user):
    subscribe(user, daily=1000)
    check_plan_allows(user.id, "gpt-4o", 400, now=T)
    settle(user, 400)
    check_plan_allows(user.id, "gpt-4o", 600, now=T + 1)  # exactly up to the limit
    settle(user, 600, at=T + 1)
    with pytest.raises(PlanLimitExceeded) as refused:
        check_plan_allows(user.id, "gpt-4o", 1, now=T + 2)
    assert refused.value.status == 429 and refused.value.code == "plan_limit_exceeded"
    assert "daily spend limit" in refused.value.message
    with pytest.raises(PlanLimitExceeded):
        check_plan_allows(user.id, "gpt-4o", 0, now=T + 3)  # even a request estimated at 0
    # the next day starts from zero
    check_plan_allows(user.id, "gpt-4o", 1000, now=T + DAY)


def test_an_estimate_over_what_remains_is_refused(app, user):
    subscribe(user, daily=1000)
    settle(user, 900)
    check_plan_allows(user.id, "gpt-4o", 100, now=T)
    with pytest.raises(PlanLimitExceeded):
        check_plan_allows(user.id, "gpt-4o", 101, now=T)


def test_monthly_limit_spans_days_and_resets_with_the_month(app, user):
    subscribe(user, monthly=1000, start=T - 40 * DAY)
    settle(user, 700, at=T - 10 * DAY)  # 5 March
    settle(user, 999, at=T - 20 * DAY)  # February: another month
    check_plan_allows(user.id, "gpt-4o", 300, now=T)
    settle(user, 300)
    with pytest.raises(PlanLimitExceeded) as refused:
        check_plan_allows(user.id, "gpt-4o", 1, now=T)
    assert "monthly" in refused.value.message
    april = int(datetime(2025, 4, 1, 0, 0, 1, tzinfo=UTC).timestamp())
    check_plan_allows(user.id, "gpt-4o", 1000, now=april)


def test_daily_request_limit(app, user):
    subscribe(user, requests=2)
    for n in range(2):
        check_plan_allows(user.id, "gpt-4o", 0, now=T + n)
        settle(user, 0, at=T + n)
    with pytest.raises(PlanLimitExceeded) as refused:
        check_plan_allows(user.id, "gpt-4o", 0, now=T + 5)
    assert "request limit" in refused.value.message
    check_plan_allows(user.id, "gpt-4o", 0, now=T + DAY)


def test_only_the_plans_models_count(app, user):
    subscribe(user, daily=100, models="gpt-4o, gpt-4.1")
    settle(user, 5000, model="claude-3-haiku-20240307")  # not counted
    check_plan_allows(user.id, "gpt-4o", 100, now=T)
    settle(user, 100, model="gpt-4.1")
    with pytest.raises(PlanLimitExceeded):
        check_plan_allows(user.id, "gpt-4o", 1, now=T)
    check_plan_allows(user.id, "claude-3-haiku-20240307", 10**9, now=T)  # the plan does not cover it


def test_no_plan_or_ended_plan_passes(app, user, admin_user):
    check_plan_allows(admin_user.id, "gpt-4o", 10**12, now=T)
    subscribe(user, daily=10, start=T - DAY, end=T + 60)
    settle(user, 10)
    with pytest.raises(PlanLimitExceeded):
        check_plan_allows(user.id, "gpt-4o", 1, now=T)
    check_plan_allows(user.id, "gpt-4o", 10**9, now=T + 61)  # the subscription ended


def test_future_subscription_starts_on_time(app, user):
    subscribe(user, daily=10, start=T + 100)
    settle(user, 10)
    check_plan_allows(user.id, "gpt-4o", 1, now=T)  # not started: the cached "no plan" must expire
    with pytest.raises(PlanLimitExceeded):
        check_plan_allows(user.id, "gpt-4o", 1, now=T + 101)


def test_cold_cache_seeds_from_quota_data_and_warm_check_reads_nothing(app, user):
    subscribe(user, daily=1000, models="gpt-4o")
    settle(user, 999)  # written before this process had counters
    bump("plans")  # a fresh process: nothing cached
    with StatementCounter(db.engine) as cold:
        check_plan_allows(user.id, "gpt-4o", 1, now=T)
    assert cold.statements, "a cold cache reads the plan and the window usage"
    with StatementCounter(db.engine) as warm:
        for n in range(50):
            check_plan_allows(user.id, "gpt-4o", 1, now=T + n)
        record_plan_usage(user.id, "gpt-4o", 1, now=T + 50)
    assert warm.statements == []
    with pytest.raises(PlanLimitExceeded):
        check_plan_allows(user.id, "gpt-4o", 1, now=T + 51)


def test_plan_changes_apply_at_once(admin_client, user):
    plan = subscribe(user, daily=100)
    settle(user, 100)
    with pytest.raises(PlanLimitExceeded):
        check_plan_allows(user.id, "gpt-4o", 1, now=T)
    response = admin_client.put("/api/plan/", json={"id": plan.id, "daily_quota_limit": 500})
    assert response.get_json()["success"] is True
    check_plan_allows(user.id, "gpt-4o", 400, now=T)


def test_windows_follow_the_site_time_zone(app, user):
    options().update({"CheckInTimeZone": "Asia/Shanghai"})  # the day turns at 16:00 UTC
    subscribe(user, daily=100)
    evening = T - T % DAY + 15 * 3600 + 1800  # 23:30 in Shanghai
    settle(user, 100, at=evening)
    with pytest.raises(PlanLimitExceeded):
        check_plan_allows(user.id, "gpt-4o", 1, now=evening + 60)
    check_plan_allows(user.id, "gpt-4o", 100, now=evening + 1800)  # 00:00 in Shanghai: a new day
    windows = window_bounds(evening)
    assert windows.day_key == "2025-03-15" and windows.day_end == T - T % DAY + 16 * 3600


def test_bad_time_zone_falls_back_to_utc(app):
    options().update({"CheckInTimeZone": "Mars/Olympus"})
    assert window_bounds(T).day_start == T - T % DAY


def test_estimate_must_be_a_quota(app, user):
    with pytest.raises(ValidationError):
        check_plan_allows(user.id, "gpt-4o", -1)
    with pytest.raises(ValidationError):
        check_plan_allows(user.id, "gpt-4o", True)


def test_processes_resync_from_the_database(tmp_path, tiktoken_cache):
    """Without Redis, another process's spend is seen after PLAN_COUNTER_RESYNC_SECONDS."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = build_app(tmp_path / "a", url, TIKTOKEN_CACHE_DIR=tiktoken_cache, PLAN_COUNTER_RESYNC_SECONDS=30)
    second = build_app(tmp_path / "b", url, TIKTOKEN_CACHE_DIR=tiktoken_cache, PLAN_COUNTER_RESYNC_SECONDS=30)
    with first.app_context():
        user = make_user("shared")
        subscribe(user, daily=100)
        user_id = user.id
        check_plan_allows(user_id, "gpt-4o", 1, now=T)
        db.session.remove()
    with second.app_context():
        check_plan_allows(user_id, "gpt-4o", 1, now=T)  # warm, sees 0 spent
        settle(db.session.get(type(user), user_id), 100)
        db.session.remove()
    with first.app_context():
        check_plan_allows(user_id, "gpt-4o", 1, now=T + 10)  # stale for up to 30 s
        with pytest.raises(PlanLimitExceeded):
            check_plan_allows(user_id, "gpt-4o", 1, now=T + 31)
        db.session.remove()
    for app in (first, second):
        with app.app_context():
            db.engine.dispose()


def test_redis_counters_are_shared_by_processes(tmp_path, tiktoken_cache, fresh_redis_url):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    apps = [build_app(tmp_path / name, url, TIKTOKEN_CACHE_DIR=tiktoken_cache, REDIS_URL=fresh_redis_url,
                      PLAN_COUNTER_RESYNC_SECONDS=0) for name in ("a", "b")]
    first, second = apps
    with first.app_context():
        user = make_user("shared")
        subscribe(user, daily=100, models="gpt-4o")
        user_id = user.id
        settle(user, 30)  # before any counter exists: the seed includes it
        check_plan_allows(user_id, "gpt-4o", 70, now=T)
        db.session.remove()
    with second.app_context():
        check_plan_allows(user_id, "gpt-4o", 70, now=T)
        settle(db.session.get(type(user), user_id), 70)  # counted in Redis, visible to the first process
        db.session.remove()
    with first.app_context():
        with pytest.raises(PlanLimitExceeded):
            check_plan_allows(user_id, "gpt-4o", 1, now=T + 1)
        redis = first.extensions["sluice_redis"]
        keys = sorted(k.decode() for k in redis.keys(f"{billing_plans.REDIS_PREFIX}:{user_id}:*"))
        assert len(keys) == 2 and keys[0].endswith(":d:2025-03-15") and keys[1].endswith(":m:2025-03")
        assert redis.hget(keys[0], "quota") == b"100" and redis.hget(keys[0], "requests") == b"2"
        db.session.remove()
    for app in apps:
        with app.app_context():
            db.engine.dispose()


# -- admin CRUD ----------------------------------------------------------------------------------------

def _data(response):
    body = response.get_json()
    assert body["success"] is True, body
    return body["data"]


def test_plan_crud(admin_client, h):
    quota_type = _data(admin_client.post("/api/plan/quota_types", json={"name": "chat", "models": "gpt-4o,gpt-4.1"}))
    assert quota_type["models"] == ["gpt-4o", "gpt-4.1"]
    created = _data(admin_client.post("/api/plan/", json={
        "name": "Pro", "description": "for teams", "daily_quota_limit": 100_000_000,
        "monthly_quota_limit": 0, "daily_request_limit": 1000, "quota_type_ids": [quota_type["id"]]}))
    assert created["quota_type_ids"] == [quota_type["id"]] and created["daily_request_limit"] == 1000
    assert _data(admin_client.get(f"/api/plan/{created['id']}"))["name"] == "Pro"
    listed = _data(admin_client.get("/api/plan/"))
    assert listed["total"] == 1 and listed["items"][0]["id"] == created["id"]
    updated = _data(admin_client.put("/api/plan/", json={"id": created["id"], "monthly_quota_limit": "5"}))
    assert updated["monthly_quota_limit"] == 5 and updated["daily_quota_limit"] == 100_000_000
    updated = _data(admin_client.put(f"/api/plan/{created['id']}", json={"description": "", "quota_type_ids": ""}))
    assert updated["quota_type_ids"] == [] and updated["description"] == ""
    h.envelope_error(admin_client.post("/api/plan/", json={"name": "Pro"}), 409)
    _data(admin_client.delete(f"/api/plan/{created['id']}"))
    h.envelope_error(admin_client.get(f"/api/plan/{created['id']}"), 404)
    h.envelope_error(admin_client.get("/api/plan/99999999999999"), 404)


@pytest.mark.parametrize("body", [
    {},
    {"name": ""},
    {"name": "x", "daily_quota_limit": -1},
    {"name": "x", "monthly_quota_limit": 1.5},
    {"name": "x", "daily_request_limit": "lots"},
    {"name": "x", "quota_type_ids": [999]},
    {"name": "x", "quota_type_ids": "a,b"},
    {"name": "x", "status": 7},
    {"name": "x", "bogus": 1},
])
def test_plan_validation(admin_client, h, body):
    h.envelope_error(admin_client.post("/api/plan/", json=body), 400)
    assert db.session.scalar(select(Plan)) is None


def test_quota_type_crud_and_delete_refused_while_used(admin_client, h):
    created = _data(admin_client.post("/api/plan/quota_types", json={"name": "img", "models": ["dall-e-3"]}))
    assert _data(admin_client.get(f"/api/plan/quota_types/{created['id']}"))["models"] == ["dall-e-3"]
    updated = _data(admin_client.put("/api/plan/quota_types", json={"id": created["id"], "models": "a\nb, c"}))
    assert updated["models"] == ["a", "b", "c"]
    assert [q["name"] for q in _data(admin_client.get("/api/plan/quota_types"))] == ["img"]
    plan = _data(admin_client.post("/api/plan/", json={"name": "P", "quota_type_ids": str(created["id"])}))
    h.envelope_error(admin_client.delete(f"/api/plan/quota_types/{created['id']}"), 409)
    _data(admin_client.delete(f"/api/plan/{plan['id']}"))
    _data(admin_client.delete(f"/api/plan/quota_types/{created['id']}"))
    h.envelope_error(admin_client.post("/api/plan/quota_types", json={"name": "x", "models": [1]}), 400)


def test_assign_list_and_delete_subscriptions(admin_client, user, h):
    first = _data(admin_client.post("/api/plan/", json={"name": "Basic", "daily_quota_limit": 10}))
    second = _data(admin_client.post("/api/plan/", json={"name": "Pro", "daily_quota_limit": 100}))
    sub1 = _data(admin_client.post("/api/plan/assign", json={"user_id": user.id, "plan_id": first["id"]}))
    assert sub1["active"] is True and sub1["plan_name"] == "Basic" and sub1["end_time"] == 0
    sub2 = _data(admin_client.post("/api/plan/assign", json={"user_id": user.id, "plan_id": second["id"]}))
    listed = _data(admin_client.get(f"/api/plan/subscriptions?user_id={user.id}"))
    assert [s["id"] for s in listed["items"]] == [sub2["id"], sub1["id"]]
    old = next(s for s in listed["items"] if s["id"] == sub1["id"])
    assert old["active"] is False  # the new plan replaced it (cancelled: both start this second)
    assert billing_plans.load_active_plan(user.id).plan_name == "Pro"
    h.envelope_error(admin_client.post("/api/plan/assign", json={"user_id": 99999, "plan_id": first["id"]}), 404)
    h.envelope_error(admin_client.post("/api/plan/assign", json={"user_id": user.id, "plan_id": 99999}), 404)
    h.envelope_error(admin_client.post("/api/plan/assign", json={
        "user_id": user.id, "plan_id": first["id"], "start_time": 2000, "end_time": 1000}), 400)
    h.envelope_error(admin_client.get("/api/plan/subscriptions?user_id=abc"), 400)
    _data(admin_client.delete(f"/api/plan/subscriptions/{sub2['id']}"))
    h.envelope_error(admin_client.delete(f"/api/plan/subscriptions/{sub2['id']}"), 404)
    assert billing_plans.load_active_plan(user.id) is None


def test_future_assignment_cancels_nothing_before_it(app, user):
    plan = Plan(name="P")
    db.session.add(plan)
    db.session.commit()
    now = int(time.time())
    current = plan_service.assign_plan({"user_id": user.id, "plan_id": plan.id}, now=now)
    later = plan_service.assign_plan({"user_id": user.id, "plan_id": plan.id, "start_time": now + 3600}, now=now)
    db.session.refresh(current)
    assert current.end_time == now + 3600 and current.status == billing_plans.SUBSCRIPTION_ACTIVE
    plan_service.assign_plan({"user_id": user.id, "plan_id": plan.id, "start_time": now + 60}, now=now)
    db.session.refresh(later)
    assert later.status == billing_plans.SUBSCRIPTION_CANCELLED


def test_plan_routes_need_admin(user_client, client, h):
    for method, path in (("get", "/api/plan/"), ("post", "/api/plan/"), ("get", "/api/plan/quota_types"),
                         ("post", "/api/plan/assign"), ("get", "/api/plan/subscriptions"),
                         ("delete", "/api/plan/subscriptions/1")):
        h.envelope_error(getattr(user_client, method)(path, json={}), 403)
        h.envelope_error(getattr(client, method)(path, json={}), 401)
