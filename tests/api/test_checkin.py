"""Daily check-in (Veloera): GET /api/user/check_in_status and POST /api/user/check_in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.errors import Conflict
from app.extensions import db
from app.models import CheckIn, Log, LogType, User
from app.options import options
from app.services import checkin as service
from tests.conftest import login_client
from tests.factories import make_user
from tests.fixtures.race import all_at_once


def refresh() -> None:
    """End the test's transaction so reads see what requests committed (MySQL REPEATABLE READ)."""
    db.session.commit()


def balance(user_id: int) -> int:
    refresh()
    return db.session.scalar(select(User.quota).where(User.id == user_id))


def checkin_logs(user_id: int) -> list[Log]:
    refresh()
    return list(db.session.scalars(select(Log).where(Log.user_id == user_id, Log.type == LogType.CHECKIN)))


def checkin_rows(user_id: int) -> int:
    refresh()
    return db.session.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.user_id == user_id))


def enable(low: int = 100, high: int = 200, zone: str = "UTC") -> None:
    options().update({"CheckInEnabled": True, "CheckInQuota": low, "CheckInMaxQuota": high,
                      "CheckInTimeZone": zone})


def test_needs_sign_in(client):
    assert client.get("/api/user/check_in_status").status_code == 401
    assert client.post("/api/user/check_in").status_code == 401


def test_refused_when_disabled(user_client, user):
    resp = user_client.post("/api/user/check_in")
    body = resp.get_json()
    assert resp.status_code == 403 and body["success"] is False and "not enabled" in body["message"]
    assert balance(user.id) == 0 and checkin_rows(user.id) == 0 and checkin_logs(user.id) == []
    status = user_client.get("/api/user/check_in_status").get_json()["data"]
    assert status["can_check_in"] is False and status["enabled"] is False


def test_refused_when_reward_not_configured(user_client, user):
    options().update({"CheckInEnabled": True, "CheckInQuota": 0, "CheckInMaxQuota": 0})
    resp = user_client.post("/api/user/check_in")
    assert resp.status_code == 400 and "not configured" in resp.get_json()["message"]
    assert balance(user.id) == 0


def test_check_in_once_a_day(user_client, user):
    enable(100, 200)
    before = user_client.get("/api/user/check_in_status").get_json()["data"]
    assert before["can_check_in"] is True and before["last_reward"] is None
    assert before["date"] == datetime.now(UTC).date().isoformat()
    resp = user_client.post("/api/user/check_in")
    assert resp.status_code == 200
    reward = resp.get_json()["data"]["quota"]
    assert 100 <= reward <= 200
    assert balance(user.id) == reward
    logs = checkin_logs(user.id)
    assert [(entry.quota, entry.user_id) for entry in logs] == [(reward, user.id)]
    refresh()
    assert db.session.get(User, user.id).last_check_in_time is not None

    again = user_client.post("/api/user/check_in")
    assert again.status_code == 409 and "already checked in" in again.get_json()["message"]
    assert balance(user.id) == reward and len(checkin_logs(user.id)) == 1 and checkin_rows(user.id) == 1
    after = user_client.get("/api/user/check_in_status").get_json()["data"]
    assert after["can_check_in"] is False and after["checked_in_today"] is True and after["last_reward"] == reward


def test_yesterday_does_not_block_today(user_client, user):
    enable(50, 50)
    db.session.add(CheckIn(user_id=user.id, checkin_date=datetime.now(UTC).date() - timedelta(days=1), quota_awarded=9))
    db.session.commit()
    assert user_client.get("/api/user/check_in_status").get_json()["data"]["can_check_in"] is True
    assert user_client.post("/api/user/check_in").get_json()["data"]["quota"] == 50
    assert balance(user.id) == 50


def test_two_users_are_independent(app, user_client, user):
    enable(10, 10)
    other = make_user("bob", quota=3)
    assert user_client.post("/api/user/check_in").status_code == 200
    assert login_client(app, other).post("/api/user/check_in").status_code == 200
    assert balance(user.id) == 10 and balance(other.id) == 13
    assert len(checkin_logs(user.id)) == 1 and len(checkin_logs(other.id)) == 1


def test_calendar_day_follows_the_configured_time_zone(app, user):
    enable(5, 5, zone="Asia/Shanghai")  # UTC+8
    late_evening_utc = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # 23:00 on 1 March in Shanghai
    just_after_midnight = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 00:30 on 2 March in Shanghai
    assert service.today(late_evening_utc) == date(2026, 3, 1)
    assert service.today(just_after_midnight) == date(2026, 3, 2)
    assert service.check_in(user, now=late_evening_utc) == 5
    assert service.check_in(user, now=just_after_midnight) == 5  # a new day in Shanghai, same day in UTC
    with pytest.raises(Conflict, match="already checked in"):
        service.check_in(user, now=just_after_midnight + timedelta(hours=3))
    assert balance(user.id) == 10 and checkin_rows(user.id) == 2


def test_unknown_time_zone_falls_back_to_utc(app):
    options().update({"CheckInTimeZone": "Mars/Olympus_Mons"})
    assert service.today(datetime(2026, 3, 1, 23, 59, tzinfo=UTC)) == date(2026, 3, 1)


def test_reward_is_drawn_between_min_and_max(app, monkeypatch):
    enable(100, 105)
    draws = []

    def fake_randbelow(n):
        draws.append(n)
        return n - 1

    monkeypatch.setattr(service.secrets, "randbelow", fake_randbelow)
    user = make_user("lucky")
    assert service.check_in(user) == 105
    assert draws == [6]
    assert all(100 <= service.draw_reward(100, 105) <= 105 for _ in range(50))


def test_max_below_min_pays_the_min(app):
    options().update({"CheckInEnabled": True, "CheckInQuota": 40, "CheckInMaxQuota": 40})
    assert service.reward_range() == (40, 40)
    assert service.check_in(make_user("flat")) == 40


# -- race ----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_race_30_check_ins_exactly_one_pays(race_app):
    enable(100, 1000)
    user = make_user("eager")
    bystander = make_user("bystander", quota=1)
    clients = [login_client(race_app, user) for _ in range(30)]

    def check_in(i: int) -> tuple[int, dict]:
        resp = clients[i].post("/api/user/check_in")
        return resp.status_code, resp.get_json()

    results = all_at_once(len(clients), check_in)
    wins = [body for status, body in results if status == 200]
    assert len(wins) == 1, results
    assert all(status == 409 and "already checked in" in body["message"]
               for status, body in results if status != 200), results
    reward = wins[0]["data"]["quota"]
    assert balance(user.id) == reward and balance(bystander.id) == 1
    assert checkin_rows(user.id) == 1
    assert [entry.quota for entry in checkin_logs(user.id)] == [reward]
