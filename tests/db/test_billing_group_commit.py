"""Group commit of the relay's billing transactions on SQLite (app.billing.ledger.run): requests of one
process that bill at the same moment share a transaction, each inside its own savepoint, and none returns
before the shared COMMIT. A failing request undoes only its own statements; the others are committed."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from app.billing import ledger, quota
from app.errors import InsufficientQuota
from app.extensions import db
from app.models import User
from tests.factories import make_user


def _quota(user_id: int) -> int:
    with db.engine.connect() as conn:
        return conn.execute(select(User.quota).where(User.id == user_id)).scalar_one()


def _add(user_id: int, amount: int, *, fail: bool = False):
    def work(tx: ledger.Tx) -> int:
        tx.cursor.execute("UPDATE users SET quota = quota + ? WHERE id = ?", (amount, user_id))
        if fail:
            raise ValueError("this request's own failure")
        return amount
    return work


@pytest.fixture
def user_id(app) -> int:
    uid = make_user(quota=1000).id
    db.session.commit()
    return uid


def test_a_failing_request_undoes_only_its_own_statements(app, user_id):
    items = [ledger._Item(_add(user_id, 1)), ledger._Item(_add(user_id, 100, fail=True)),
             ledger._Item(_add(user_id, 10))]
    ledger._run_batch(db.engine, items)
    assert _quota(user_id) == 1011
    assert items[0].outcome() == 1 and items[2].outcome() == 10
    with pytest.raises(ValueError):
        items[1].outcome()


def test_a_failed_commit_fails_every_request_of_the_batch(app, user_id, monkeypatch):
    real = ledger._sqlite_transaction

    class Boom(Exception):
        pass

    def failing_commit(engine):
        cm = real(engine)

        class Wrapper:
            def __enter__(self):
                return cm.__enter__()

            def __exit__(self, *exc):
                error = Boom("commit failed")
                cm.__exit__(Boom, error, None)  # what a failing COMMIT leads to: rolled back
                raise error
        return Wrapper()

    monkeypatch.setattr(ledger, "_sqlite_transaction", failing_commit)
    items = [ledger._Item(_add(user_id, 1)), ledger._Item(_add(user_id, 10))]
    ledger._run_batch(db.engine, items)
    assert _quota(user_id) == 1000
    for item in items:
        with pytest.raises(Boom):
            item.outcome()


def test_requests_waiting_for_the_writer_share_one_transaction(app, user_id, monkeypatch):
    """While the process's writer is busy, arriving requests queue up and the next leader commits them
    all at once; every one returns its own result, and the totals are exact."""
    batches: list[int] = []
    real_run_batch = ledger._run_batch

    def counting(engine, batch):
        batches.append(len(batch))
        real_run_batch(engine, batch)

    monkeypatch.setattr(ledger, "_run_batch", counting)
    threads, results, errors = 12, [], []
    writer = ledger._sqlite_writer()
    writer.acquire()  # as if another request's transaction were running

    def one(i: int) -> None:
        with app.app_context():
            try:
                results.append(ledger.run(db.engine, _add(user_id, i, fail=(i == 5))))
            except ValueError:
                errors.append(i)

    pool = [threading.Thread(target=one, args=(i,)) for i in range(1, threads + 1)]
    for thread in pool:
        thread.start()
    deadline = threading.Event()
    for _ in range(200):  # every thread has queued (the first one leads and waits for the writer)
        if len(ledger._this_group().pending) == threads:
            break
        deadline.wait(0.01)
    writer.release()
    for thread in pool:
        thread.join(10)
    assert errors == [5]
    assert sorted(results) == [i for i in range(1, threads + 1) if i != 5]
    assert _quota(user_id) == 1000 + sum(results)
    assert sum(batches) == threads and len(batches) < threads
    assert not ledger._this_group().pending and not ledger._this_group().leading


def test_reserve_refused_in_a_shared_transaction_takes_nothing(app, monkeypatch):
    """A limited key whose user cannot pay: the token's deduction is rolled back with that request's
    savepoint, while another request of the same batch is charged."""
    poor = make_user(quota=0)
    rich = make_user(quota=5000)
    db.session.commit()
    from app.models import Token
    from app.security import hash_secret

    token = Token(user_id=poor.id, key_hash=hash_secret("sk-poor"), key_hint="x", name="t", remain_quota=900)
    db.session.add(token)
    db.session.commit()
    token_id, poor_id, rich_id = token.id, poor.id, rich.id

    captured: list[ledger._Item] = []

    def capture(engine, work):
        captured.append(ledger._Item(work))

    monkeypatch.setattr(ledger, "run", capture)
    quota.reserve(poor_id, token_id, 100)
    quota.reserve(rich_id, 0, 100, unlimited=True)
    ledger._run_batch(db.engine, captured)
    with pytest.raises(InsufficientQuota):
        captured[0].outcome()
    assert captured[1].outcome() is None
    with db.engine.connect() as conn:
        assert conn.execute(select(Token.remain_quota).where(Token.id == token_id)).scalar_one() == 900
    assert _quota(rich_id) == 4900


def test_billing_has_a_connection_of_its_own_closed_with_the_engine(app, user_id):
    """Billing keeps one SQLite connection per process, outside the pool, with busy_timeout 0 (the write lock
    is waited for cooperatively); the pool's connections keep the normal busy timeout; dispose closes it."""
    import sqlite3

    from app.database import SQLITE_BUSY_TIMEOUT_MS

    ledger.run(db.engine, _add(user_id, 1))
    own = ledger._billing_connection(db.engine)
    ledger.run(db.engine, _add(user_id, 1))
    assert ledger._billing_connection(db.engine) is own
    assert own.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
    assert _quota(user_id) == 1002
    db.engine.dispose()
    with pytest.raises(sqlite3.ProgrammingError):
        own.execute("SELECT 1")
    ledger.run(db.engine, _add(user_id, 1))  # a new one on next use
    assert ledger._billing_connection(db.engine) is not own and _quota(user_id) == 1003
