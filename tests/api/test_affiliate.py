"""Invitations: GET /api/user/aff, POST /api/user/aff_transfer and affiliate.find_inviter."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Log, LogType, User, UserStatus
from app.options import options
from app.services import affiliate
from tests.conftest import login_client
from tests.factories import make_user
from tests.fixtures.race import all_at_once

UNIT = 500_000  # the default QuotaPerUnit


def refresh() -> None:
    """End the test's transaction so reads see what requests committed (MySQL REPEATABLE READ)."""
    db.session.commit()


def wallet(user_id: int) -> tuple[int, int, int]:
    """(quota, aff_quota, aff_history_quota)."""
    refresh()
    row = db.session.execute(select(User.quota, User.aff_quota, User.aff_history_quota)
                             .where(User.id == user_id)).one()
    return tuple(row)


def transfer_logs(user_id: int) -> list[Log]:
    refresh()
    return list(db.session.scalars(select(Log).where(Log.user_id == user_id)))


def fail(resp, status: int, fragment: str = "") -> None:
    body = resp.get_json()
    assert resp.status_code == status, body
    assert body["success"] is False and fragment.lower() in body["message"].lower(), body


# -- the invitation code ---------------------------------------------------------------------------------

def test_needs_sign_in(client):
    assert client.get("/api/user/aff").status_code == 401
    assert client.post("/api/user/aff_transfer", json={"quota": UNIT}).status_code == 401


def test_code_is_created_once(app, user_client, user):
    code = user_client.get("/api/user/aff").get_json()["data"]
    assert isinstance(code, str) and len(code) == 4 and code.isalnum()
    assert user_client.get("/api/user/aff").get_json()["data"] == code
    refresh()
    assert db.session.get(User, user.id).aff_code == code
    other = login_client(app, make_user("bob")).get("/api/user/aff").get_json()["data"]
    assert other != code


def test_collision_draws_a_new_code(app, user, monkeypatch):
    make_user("holder", aff_code="AAAA")
    make_user("holder2", aff_code="BBBB")
    drawn = iter(["AAAA", "BBBB", "CCCCC"])
    lengths = []

    def fake_random_string(n):
        lengths.append(n)
        return next(drawn)

    monkeypatch.setattr(affiliate, "random_string", fake_random_string)
    assert affiliate.ensure_aff_code(user) == "CCCCC"
    assert lengths == [4, 4, 4]
    refresh()
    assert db.session.get(User, user.id).aff_code == "CCCCC"


def test_gives_up_after_too_many_collisions(app, user_client, user, monkeypatch):
    make_user("holder", aff_code="AAAA")
    monkeypatch.setattr(affiliate, "random_string", lambda n: "AAAA")
    fail(user_client.get("/api/user/aff"), 400, "try again")
    refresh()
    assert db.session.get(User, user.id).aff_code is None


def test_find_inviter(app):
    alice = make_user("inviter", aff_code="Ab12")
    make_user("off", aff_code="Off1", status=UserStatus.DISABLED)
    make_user("gone", aff_code="Gone", deleted_at=datetime(2026, 1, 1))
    assert affiliate.find_inviter("Ab12").id == alice.id
    assert affiliate.find_inviter("  Ab12 ").id == alice.id
    for code in ["", "   ", None, 12, "nope", "Off1", "Gone", "x" * 33, "Ab%", "Ab_2", "Ab12'--"]:
        assert affiliate.find_inviter(code) is None, code


# -- transfers ------------------------------------------------------------------------------------------

@pytest.fixture
def earner(app, user):
    user.aff_quota = 3 * UNIT
    user.aff_history_quota = 5 * UNIT
    db.session.commit()
    return user


def test_transfer_moves_aff_quota_into_the_balance(user_client, earner):
    resp = user_client.post("/api/user/aff_transfer", json={"quota": UNIT})
    assert resp.status_code == 200
    assert resp.get_json()["data"] == {"transferred": UNIT, "quota": UNIT, "aff_quota": 2 * UNIT}
    assert wallet(earner.id) == (UNIT, 2 * UNIT, 5 * UNIT)  # history is untouched
    logs = transfer_logs(earner.id)
    assert [(entry.type, entry.quota) for entry in logs] == [(LogType.SYSTEM, UNIT)]


def test_transfer_bounds(user_client, earner):
    fail(user_client.post("/api/user/aff_transfer", json={"quota": UNIT - 1}), 400, "smallest")
    fail(user_client.post("/api/user/aff_transfer", json={"quota": 3 * UNIT + 1}), 400, "not enough")
    assert user_client.post("/api/user/aff_transfer", json={"quota": 3 * UNIT}).status_code == 200
    assert wallet(earner.id) == (3 * UNIT, 0, 5 * UNIT)
    fail(user_client.post("/api/user/aff_transfer", json={"quota": UNIT}), 400, "not enough")


def test_minimum_follows_quota_per_unit(user_client, earner):
    options().update({"QuotaPerUnit": 1000.5})
    fail(user_client.post("/api/user/aff_transfer", json={"quota": 1000}), 400, "1001")
    assert user_client.post("/api/user/aff_transfer", json={"quota": 1001}).status_code == 200


@pytest.mark.parametrize("value", [-UNIT, 0, UNIT + 0.5, str(UNIT), True, None, 1e309, 2**63, [], {}], ids=repr)
def test_transfer_bad_amounts(user_client, earner, value):
    fail(user_client.post("/api/user/aff_transfer", json={"quota": value}), 400)
    assert wallet(earner.id) == (0, 3 * UNIT, 5 * UNIT) and transfer_logs(earner.id) == []


@pytest.mark.parametrize("raw", ["NaN", "-Infinity", "1e309", "9223372036854775808"])
def test_transfer_bad_amounts_raw_json(user_client, earner, raw):
    resp = user_client.post("/api/user/aff_transfer", data=f'{{"quota": {raw}}}', content_type="application/json")
    fail(resp, 400)
    assert wallet(earner.id) == (0, 3 * UNIT, 5 * UNIT)


def test_transfer_touches_only_the_caller(app, earner):
    other = make_user("bob", aff_quota=7 * UNIT)
    login_client(app, earner).post("/api/user/aff_transfer", json={"quota": UNIT})
    assert wallet(other.id) == (0, 7 * UNIT, 0) and transfer_logs(other.id) == []


# -- race -------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_race_20_transfers_never_overdraw(race_app):
    user = make_user("racer", aff_quota=3 * UNIT)
    clients = [login_client(race_app, user) for _ in range(20)]
    statuses = all_at_once(len(clients), lambda i: clients[i].post(
        "/api/user/aff_transfer", json={"quota": UNIT}).status_code)
    assert sorted(statuses) == [200] * 3 + [400] * 17
    assert wallet(user.id) == (3 * UNIT, 0, 0)
    refresh()
    assert db.session.scalar(select(func.count()).select_from(Log).where(Log.user_id == user.id)) == 3
