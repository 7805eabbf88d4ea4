"""Deadlock victims are retried as a whole transaction; a persistent one answers 503, never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from app.database import is_transient_lock_error, retry_on_deadlock


class MySQLDeadlock(Exception):
    def __init__(self) -> None:
        super().__init__(1213, "Deadlock found when trying to get lock; try restarting transaction")


class PostgresSerialization(Exception):
    sqlstate = "40001"


def db_error(orig: Exception) -> OperationalError:
    return OperationalError("UPDATE users ...", {}, orig)


@pytest.mark.parametrize("orig, transient", [
    (MySQLDeadlock(), True),
    (PostgresSerialization(), True),
    (Exception(1062, "Duplicate entry"), False),
    (Exception("database is locked"), False),
])
def test_transient_lock_errors_are_recognised(orig, transient):
    assert is_transient_lock_error(db_error(orig)) is transient


def test_a_deadlock_victim_is_run_again(app):
    calls = []

    @retry_on_deadlock
    def charge():
        calls.append(1)
        if len(calls) < 3:
            raise db_error(MySQLDeadlock())
        return "done"

    assert charge() == "done"
    assert len(calls) == 3


def test_other_errors_are_not_retried(app):
    calls = []

    @retry_on_deadlock
    def charge():
        calls.append(1)
        raise db_error(Exception(1062, "Duplicate entry"))

    with pytest.raises(OperationalError):
        charge()
    assert len(calls) == 1


def test_persistent_deadlock_answers_503_envelope(app, client):
    @app.get("/api/test-deadlock")
    def deadlocked():
        raise db_error(MySQLDeadlock())

    response = client.get("/api/test-deadlock")
    assert response.status_code == 503
    assert response.json["success"] is False and "busy" in response.json["message"]
