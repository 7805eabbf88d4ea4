"""SQLite under write contention, through the app's own engine (WAL, busy timeout, write lock taken at the
first write): 50 threads released together by a barrier, none sees "database is locked", totals exact."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import func, select, update

from app.billing.ledger import add_log
from app.extensions import db
from app.models import Log, LogType, User
from tests.factories import make_user

THREADS = 50
COST = 7
PAYABLE = 30  # the wallet covers this many charges; the other 20 must be refused, not overdrawn
START_QUOTA = COST * PAYABLE + COST - 1


def run_together(app, work: Callable[[int], bool]) -> tuple[list[bool], list[str]]:
    """Run work(i) in THREADS threads, each with its own app context and session, released at once.

    `work` must use plain ids, never ORM objects loaded by the test's own session (that session is
    not thread-safe, and touching an expired attribute would use it).
    """
    barrier = threading.Barrier(THREADS)
    outcomes: list[bool] = []
    errors: list[str] = []
    lock = threading.Lock()

    def thread_main(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                result = work(i)
                with lock:
                    outcomes.append(result)
            except Exception as exc:  # noqa: BLE001 - every failure is reported by the assertion
                db.session.rollback()
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=thread_main, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return outcomes, errors


def charge(user_id: int, i: int) -> bool:
    """One write transaction: a conditional UPDATE of the wallet and, if it paid, a consume log row."""
    result = db.session.execute(
        update(User).where(User.id == user_id, User.quota >= COST).values(
            quota=User.quota - COST, used_quota=User.used_quota + COST, request_count=User.request_count + 1,
        )
    )
    if result.rowcount != 1:
        db.session.rollback()
        return False
    add_log(log_type=LogType.CONSUME, user_id=user_id, username="payer", quota=COST, content=f"charge {i}")
    db.session.commit()
    return True


def totals(user_id: int) -> tuple[int, int, int, int]:
    db.session.expire_all()
    user = db.session.get(User, user_id)
    logs = db.session.scalar(select(func.count()).select_from(Log).where(Log.user_id == user_id))
    return user.quota, user.used_quota, user.request_count, logs


def test_the_test_database_is_a_file(app):
    assert db.engine.dialect.name == "sqlite"
    assert db.engine.url.database and db.engine.url.database.endswith(".db")
    assert db.session.execute(db.text("PRAGMA journal_mode")).scalar() == "wal"


def test_fifty_conditional_charges_are_exact(app):
    payer_id = make_user("payer", quota=START_QUOTA).id
    outcomes, errors = run_together(app, lambda i: charge(payer_id, i))
    assert errors == []
    assert sorted(outcomes) == [False] * (THREADS - PAYABLE) + [True] * PAYABLE
    assert totals(payer_id) == (START_QUOTA - COST * PAYABLE, COST * PAYABLE, PAYABLE, PAYABLE)


def test_read_then_write_transactions_do_not_deadlock(app):
    """Each thread reads the balance first, then writes: the pattern that fails at once with a deferred
    SQLite transaction that has to upgrade its lock."""
    payer_id = make_user("payer", quota=START_QUOTA).id

    def read_then_charge(i: int) -> bool:
        balance = db.session.scalar(select(User.quota).where(User.id == payer_id))
        if balance < COST:
            return False
        return charge(payer_id, i)

    outcomes, errors = run_together(app, read_then_charge)
    assert errors == []
    assert outcomes.count(True) == PAYABLE
    assert totals(payer_id) == (START_QUOTA - COST * PAYABLE, COST * PAYABLE, PAYABLE, PAYABLE)


def test_fifty_concurrent_inserts_all_land(app):
    def insert(i: int) -> bool:
        db.session.add(User(username=f"writer{i}", password="x", quota=i))
        add_log(log_type=LogType.SYSTEM, user_id=None, username=f"writer{i}", content="created")
        db.session.commit()
        return True

    outcomes, errors = run_together(app, insert)
    assert errors == [] and outcomes == [True] * THREADS
    assert db.session.scalar(select(func.count()).select_from(User)) == THREADS
    assert db.session.scalar(select(func.sum(User.quota))) == sum(range(THREADS))
    assert db.session.scalar(select(func.count()).select_from(Log)) == THREADS


def test_billing_transactions_wait_for_the_write_lock_without_sqlite_sleeping(app, tmp_path, monkeypatch):
    """app.database.begin_immediate: while another connection holds the write lock, the billing transaction
    waits in time.sleep (cooperative under gevent), never in SQLite's own busy handler, then proceeds; past
    the busy timeout it fails with "database is locked" as SQLite would."""
    import sqlite3
    import time

    from app import database
    from app.billing.ledger import transaction

    user_id = make_user(quota=5).id
    db.session.commit()
    holder = sqlite3.connect(db.engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    sleeps: list[float] = []
    real_sleep = time.sleep

    def recording_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            holder.execute("COMMIT")  # the lock is released while the transaction waits
        real_sleep(seconds)

    monkeypatch.setattr(database.time, "sleep", recording_sleep)
    with transaction(db.engine) as tx:
        tx.cursor.execute("UPDATE users SET quota = quota + 1 WHERE id = ?", (user_id,))
    assert len(sleeps) == 3 and sleeps == sorted(sleeps)
    with db.engine.connect() as conn:  # the connection's normal busy timeout is back
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == database.SQLITE_BUSY_TIMEOUT_MS
        assert conn.execute(select(User.quota).where(User.id == user_id)).scalar() == 6

    holder.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 30)
    monkeypatch.setattr(database.time, "sleep", real_sleep)
    started = time.monotonic()
    try:
        with transaction(db.engine) as tx:
            raise AssertionError("the lock is held elsewhere")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
    assert time.monotonic() - started < 5
    holder.execute("COMMIT")
    holder.close()
