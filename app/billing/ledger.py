"""Writes log rows. Callers add them to the session inside the same transaction as the quota change."""

from __future__ import annotations

import json
from typing import Any

from app.extensions import db
from app.models import Log, LogType


def add_log(*, log_type: int, user_id: int | None, username: str | None, quota: int = 0,
            content: str = "", other: dict[str, Any] | None = None, **fields: Any) -> Log:
    """Add a log row to the current transaction (the caller commits)."""
    row = Log(type=log_type, user_id=user_id, username=username, quota=quota, content=content,
              other=json.dumps(other, ensure_ascii=False, separators=(",", ":")) if other else None, **fields)
    db.session.add(row)
    return row


def add_manage_log(user, quota: int, content: str, **extra: Any) -> Log:
    return add_log(log_type=LogType.MANAGE, user_id=user.id, username=user.username, quota=quota,
                   content=content, **extra)


def add_topup_log(user, quota: int, content: str, **extra: Any) -> Log:
    return add_log(log_type=LogType.TOPUP, user_id=user.id, username=user.username, quota=quota,
                   content=content, **extra)


def add_system_log(content: str, user=None, **extra: Any) -> Log:
    return add_log(log_type=LogType.SYSTEM, user_id=getattr(user, "id", None),
                   username=getattr(user, "username", None), content=content, **extra)


# -- the relay's ledger writes: statements compiled once per dialect, run on the raw DBAPI cursor --------
# The hot path (app.billing.quota) does its whole transaction on one pooled connection's DBAPI cursor
# with SQL compiled once per dialect from Core statements. That skips SQLAlchemy's per-execute work
# (compile cache lookup, execution context, result set wrapping): about a third of the CPU of each
# statement on SQLite. Transactions still go through `engine.begin()` (pool, commit, rollback).

import contextlib  # noqa: E402 - kept with the code that needs it
import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import weakref  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

from sqlalchemy import bindparam, event  # noqa: E402

from app.database import begin_immediate  # noqa: E402

LOG_COLUMNS = ("user_id", "created_at", "type", "content", "username", "token_name", "model_name", "quota",
               "prompt_tokens", "completion_tokens", "use_time", "is_stream", "channel_id", "token_id",
               "group_name", "ip", "request_id", "other")
_LOG_DEFAULTS = {"content": "", "quota": 0, "prompt_tokens": 0, "completion_tokens": 0, "use_time": 0,
                 "is_stream": False, "type": LogType.UNKNOWN}
QUOTA_DATA_COLUMNS = ("user_id", "username", "model_name", "token_id", "channel_id", "created_at", "quota",
                       "token_used", "count")


class Prepared:
    """A Core statement compiled once per dialect into the driver's SQL and parameter style."""

    __slots__ = ("statement", "_compiled")

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def compiled(self, dialect) -> tuple[str, tuple[str, ...] | None]:
        entry = self._compiled.get(dialect.name)
        if entry is None:
            statement = self.statement(dialect.name) if callable(self.statement) else self.statement
            compiled = statement.compile(dialect=dialect)
            names = tuple(compiled.positiontup) if compiled.positional else None
            entry = self._compiled[dialect.name] = (str(compiled), names)
        return entry


class Tx:
    """A transaction's raw cursor; `run` executes a Prepared statement and returns the row count."""

    __slots__ = ("cursor", "dialect")

    def __init__(self, cursor, dialect) -> None:
        self.cursor = cursor
        self.dialect = dialect

    def run(self, prepared: Prepared, params: dict[str, Any]) -> int:
        sql, names = prepared.compiled(self.dialect)
        self.cursor.execute(sql, tuple([params[n] for n in names]) if names is not None else params)
        return self.cursor.rowcount


@contextlib.contextmanager
def transaction(engine) -> Iterator[Tx]:
    """One transaction on a pooled connection: committed when the block ends, rolled back if it raises.

    It runs on the pool's DBAPI connection itself (checkout, commit, check-in), without SQLAlchemy's
    Connection and Transaction objects around it: a third of the CPU a short transaction costs on
    SQLite. As with `engine.begin()`, the pool skips its reset-on-return rollback after our own commit
    or rollback, and a connection whose rollback fails is invalidated, never handed out again.
    On SQLite a process runs one such transaction at a time (see _sqlite_writer), on a connection kept
    for billing (see _billing_connection), and the write lock is taken up front (BEGIN IMMEDIATE), as
    app/database.py does for statements that go through SQLAlchemy, waiting for it cooperatively
    (app.database.begin_immediate).
    """
    if engine.dialect.name == "sqlite":
        with _sqlite_writer():
            with _sqlite_transaction(engine) as tx:
                yield tx
    else:
        with _transaction(engine) as tx:
            yield tx


_writer: tuple[int, Any] | None = None


def _sqlite_writer():
    """This process's lock around its SQLite billing transactions (made after fork, so under gevent it
    is the patched, cooperative lock).

    SQLite has one write lock per database anyway; taking turns inside the process first means that
    while the write lock is held by another process only one greenlet (or thread) waits for it, and it
    waits holding the only pooled connection in use for billing. Without it every waiting request held
    a connection, the pool overflowed, and each overflow connection was opened (pragmas, schema read)
    and closed again: most of the CPU of billing with two workers under load.
    """
    global _writer
    current = _writer
    pid = os.getpid()
    if current is None or current[0] != pid:
        current = _writer = (pid, threading.RLock())
    return current[1]


# -- group commit -------------------------------------------------------------------------------------------
# On SQLite every write transaction costs far more than its statements: the write lock (taken in turns
# with the other workers), a page cache that another process's commit has emptied, and the commit's WAL
# frames for every page touched (the users, tokens and channels rows, the rightmost leaf of the logs
# table and of each of its indexes, the rollup). Requests of one process that bill at the same moment
# therefore share one transaction: each one's statements run inside a SAVEPOINT of their own (a failure
# rolls back only that request's statements and is raised to that request alone), and every request
# returns only after the shared COMMIT, so nothing is answered before its write is durable.

class _Item:
    __slots__ = ("work", "result", "error", "done", "lead")

    def __init__(self, work: Callable[[Tx], Any]) -> None:
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = _NOT_RUN
        self.done = threading.Event()
        self.lead = False  # handed the leadership: run the next batch

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class _Group:
    __slots__ = ("mutex", "pending", "leading")

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.pending: list[_Item] = []
        self.leading = False


_NOT_RUN = RuntimeError("the billing transaction did not run")
_group: tuple[int, _Group] | None = None


def _this_group() -> _Group:
    global _group
    current = _group
    pid = os.getpid()
    if current is None or current[0] != pid:
        current = _group = (pid, _Group())
    return current[1]


def run(engine, work: Callable[[Tx], Any]) -> Any:
    """`work(tx)` in a write transaction, committed before this returns; its exception is raised here
    and undoes only its own statements. `work` must only run statements on `tx` (it may run in another
    greenlet or thread of this process, inside a transaction shared with other requests on SQLite)."""
    if engine.dialect.name != "sqlite" or _in_event_loop():
        with transaction(engine) as tx:
            return work(tx)
    group = _this_group()
    item = _Item(work)
    with group.mutex:
        group.pending.append(item)
        follow = group.leading
        group.leading = True
    if follow:
        try:
            item.done.wait()
        except BaseException:
            _withdraw(group, item)
            raise
        if not item.lead:
            return item.outcome()
    batch: list[_Item] = []
    try:
        if _cooperative():
            time.sleep(0)  # one turn of the gevent loop: requests about to bill join this transaction
        with group.mutex:
            batch, group.pending = group.pending, []
        _run_batch(engine, batch)
    finally:
        if item not in batch:
            with group.mutex:
                if item in group.pending:
                    group.pending.remove(item)
        _hand_on(group)
        for other in batch:
            if other is not item:
                other.done.set()
    return item.outcome()


_gevent_time: bool | None = None


def _cooperative() -> bool:
    """True when time.sleep is gevent's (a yield to the other greenlets, ~1 us); under threads the
    others bill concurrently anyway, and a real sleep(0) would be a syscall and a trip to the scheduler."""
    global _gevent_time
    if _gevent_time is None:
        try:
            from gevent import monkey
        except ImportError:  # pragma: no cover - gevent is a dependency
            _gevent_time = False
        else:
            _gevent_time = bool(monkey.is_module_patched("time"))
    return _gevent_time


def _in_event_loop() -> bool:
    """True in gevent's hub (a generator finalised by the garbage collector there, say), where nothing may
    wait: billing then runs on its own, as a plain transaction."""
    if not _cooperative():
        return False
    import gevent

    return gevent.getcurrent() is gevent.get_hub()


def _withdraw(group: _Group, item: _Item) -> None:
    """A waiting request that is going away: its work must not run later; pass on a leadership it got."""
    with group.mutex:
        if item in group.pending:
            group.pending.remove(item)
        promoted = item.lead
    if promoted:
        _hand_on(group)


def _hand_on(group: _Group) -> None:
    with group.mutex:
        if not group.pending:
            group.leading = False
            return
        successor = group.pending[0]
        successor.lead = True
    successor.done.set()


def _run_batch(engine, batch: list[_Item]) -> None:
    """Run every item of `batch` in one transaction; record each one's result or error."""
    if not batch:
        return
    try:
        with _sqlite_writer(), _sqlite_transaction(engine) as tx:
            if len(batch) == 1:
                item = batch[0]
                item.result = item.work(tx)
                item.error = None
            else:
                cursor = tx.cursor
                for item in batch:
                    cursor.execute("SAVEPOINT billing")
                    try:
                        item.result = item.work(tx)
                        item.error = None
                    except Exception as exc:  # noqa: BLE001 - that request's failure, raised to it alone
                        cursor.execute("ROLLBACK TO billing")
                        item.result, item.error = None, exc
                    cursor.execute("RELEASE billing")
    except BaseException as exc:  # BEGIN or COMMIT failed (or the single item raised): nothing was written
        error = exc if isinstance(exc, Exception) else RuntimeError(f"billing transaction interrupted ({exc!r})")
        for item in batch:
            item.result = None
            if item.error is None or item.error is _NOT_RUN:
                item.error = error
        if not isinstance(exc, Exception):
            raise  # in the leader only; the others get a plain error


@contextlib.contextmanager
def _transaction(engine) -> Iterator[Tx]:
    fairy = engine.raw_connection()
    dbapi_connection = fairy.dbapi_connection
    ended = False
    try:
        cursor = dbapi_connection.cursor()
        try:
            yield Tx(cursor, engine.dialect)
        finally:
            cursor.close()
        dbapi_connection.commit()
        ended = True
    except BaseException:
        try:
            dbapi_connection.rollback()
            ended = True
        except Exception:  # noqa: BLE001 - a broken connection: drop it, report the first error
            fairy.invalidate()
        raise
    finally:
        _check_in(fairy, ended)


_billing_connections: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> {pid: connection}


def _billing_connection(engine):
    """This process's own SQLite connection for billing transactions (call under _sqlite_writer).

    Taken out of the pool once (with the pool's connect-time pragmas) and kept: no checkout and check-in
    per transaction, busy_timeout 0 for good (the write lock is waited for in begin_immediate, never
    inside SQLite), and a page cache that only another process's commit empties. Closed with the engine
    (engine.dispose()); a connection that fails to roll back is closed and replaced.
    """
    by_pid = _billing_connections.get(engine)
    if by_pid is None:
        by_pid = _billing_connections[engine] = {}
        event.listen(engine, "engine_disposed", _close_billing_connection)
    pid = os.getpid()
    connection = by_pid.get(pid)
    if connection is None:
        fairy = engine.raw_connection()
        connection = fairy.dbapi_connection
        fairy.detach()
        connection.execute("PRAGMA busy_timeout=0")
        by_pid[pid] = connection
    return connection


def _close_billing_connection(engine) -> None:
    connection = _billing_connections.get(engine, {}).pop(os.getpid(), None)  # never another process's
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.close()


@contextlib.contextmanager
def _sqlite_transaction(engine) -> Iterator[Tx]:
    connection = _billing_connection(engine)
    try:
        cursor = connection.cursor()
        try:
            if not connection.in_transaction:
                begin_immediate(cursor, busy_timeout_is_zero=True)
            yield Tx(cursor, engine.dialect)
        finally:
            cursor.close()
        connection.commit()
    except BaseException:
        try:
            connection.rollback()
        except Exception:  # noqa: BLE001 - a broken connection: replace it, report the first error
            _close_billing_connection(engine)
        raise


def _check_in(fairy, transaction_ended: bool) -> None:
    close_special = getattr(fairy, "_close_special", None)  # SQLAlchemy's own path for Connection.close()
    if transaction_ended and close_special is not None:
        close_special(transaction_reset=True)
    else:
        fairy.close()


@contextlib.contextmanager
def single_statement(engine) -> Iterator[Tx]:
    """A pooled connection in autocommit, for ONE statement that is atomic by itself (PostgreSQL: a
    statement with data-modifying CTEs). One round trip instead of BEGIN, the statements and COMMIT."""
    with engine.connect() as conn:
        dbapi_connection = conn.connection.dbapi_connection
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        try:
            yield Tx(cursor, conn.dialect)
        finally:
            cursor.close()
            dbapi_connection.autocommit = False


_LOG_TABLE = Log.__table__
LOG_INSERT = Prepared(_LOG_TABLE.insert().inline().values({name: bindparam(name) for name in LOG_COLUMNS}))


def dumps_other(other: dict[str, Any] | None) -> str | None:
    """The `other` column's compact JSON."""
    return json.dumps(other, ensure_ascii=False, separators=(",", ":")) if other else None


def log_params(row: dict[str, Any]) -> dict[str, Any]:
    params = {name: row.get(name, _LOG_DEFAULTS.get(name)) for name in LOG_COLUMNS}
    if isinstance(params["other"], dict):
        params["other"] = dumps_other(params["other"])
    return params


def insert_log_params(tx: Tx, params: dict[str, Any]) -> None:
    """Insert one log row already turned into statement parameters (`log_params`)."""
    tx.run(LOG_INSERT, params)


def insert_log(conn, row: dict[str, Any]) -> None:
    """Insert one log row (a dict of `logs` column names; `other` may be a dict) on a Tx or a Connection."""
    if isinstance(conn, Tx):
        conn.run(LOG_INSERT, log_params(row))
    else:
        conn.execute(LOG_INSERT.statement, log_params(row))


def _quota_data_upsert(dialect: str):
    """INSERT ... ON CONFLICT (bucket) DO UPDATE (SQLite, PostgreSQL) or ON DUPLICATE KEY UPDATE (MySQL)."""
    from app.models import QuotaData

    table = QuotaData.__table__
    c = table.c
    values = {name: bindparam(name) for name in QUOTA_DATA_COLUMNS}
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        base = mysql_insert(table).inline().values(values)
        return base.on_duplicate_key_update(
            count=c["count"] + base.inserted["count"], quota=c.quota + base.inserted.quota,
            token_used=c.token_used + base.inserted.token_used)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    base = dialect_insert(table).inline().values(values)
    return base.on_conflict_do_update(
        index_elements=[c.user_id, c.model_name, c.token_id, c.channel_id, c.created_at],
        set_={"count": c["count"] + base.excluded["count"], "quota": c.quota + base.excluded.quota,
              "token_used": c.token_used + base.excluded.token_used})


QUOTA_DATA_UPSERT = Prepared(_quota_data_upsert)


def quota_data_params(*, user_id: int, username: str, model_name: str, token_id: int, channel_id: int,
                      created_at: int, quota: int, token_used: int, count: int = 1) -> dict[str, Any]:
    """The rollup row of one request: its bucket (user, model, token, channel, hour start) and amounts."""
    return {"user_id": user_id, "username": username or "", "model_name": model_name, "token_id": token_id or 0,
            "channel_id": channel_id or 0, "created_at": created_at - created_at % 3600, "quota": quota,
            "token_used": token_used, "count": count}


def upsert_quota_data_params(tx: Tx, params: dict[str, Any]) -> None:
    """Add one request to its rollup bucket, with parameters from `quota_data_params`."""
    tx.run(QUOTA_DATA_UPSERT, params)


def upsert_quota_data(tx: Tx, **fields: Any) -> None:
    """Add one request to its hourly rollup bucket (fields as for `quota_data_params`)."""
    tx.run(QUOTA_DATA_UPSERT, quota_data_params(**fields))


# -- MySQL / MariaDB: a billing transaction in one round trip -------------------------------------------
# MySQL has no data-modifying CTEs, so a billing transaction is several statements. Sent one by one, each
# row lock (the key's, the user's, the channel's, the rollup bucket's) is held from its statement until the
# client's COMMIT arrives, several round trips later and, under gevent with hundreds of streams in flight,
# after however long the worker takes to get back to the greenlet: every other request of the same key
# queued behind it (measured: 87 streams/s where the mock serves 466). Sent as one multi-statement packet,
# START TRANSACTION ... COMMIT runs inside the server and the locks are held only while it runs.
# The packets go over connections of their own (an engine per database engine) opened with
# CLIENT.MULTI_STATEMENTS, so that the application's other connections never accept stacked statements;
# every value in a packet is escaped by the driver (cursor.mogrify), never formatted by hand.

_multi_statement_engines: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _multi_statement_engine(engine):
    billing = _multi_statement_engines.get(engine)
    if billing is None:
        from pymysql.constants import CLIENT
        from sqlalchemy import create_engine

        from app.database import configure_engine

        billing = create_engine(engine.url, hide_parameters=True, pool_size=engine.pool.size(),
                                max_overflow=getattr(engine.pool, "_max_overflow", 10),
                                connect_args={"client_flag": CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS})
        configure_engine(billing)
        _multi_statement_engines[engine] = billing
        event.listen(engine, "engine_disposed", lambda _engine: billing.dispose())
    return billing


def literal(cursor, dialect, prepared: Prepared | str, params: dict[str, Any] | None = None) -> str:
    """One statement of a packet with its values escaped by the driver."""
    if isinstance(prepared, str):
        return prepared
    sql, names = prepared.compiled(dialect)
    return cursor.mogrify(sql, tuple([params[n] for n in names]) if names is not None else params)


def run_packet(engine, statements: list[tuple[Prepared | str, dict[str, Any] | None]]) -> tuple | None:
    """Run `statements` (which must include their own START TRANSACTION and COMMIT) as one multi-statement
    packet on MySQL; return the first row of the last statement that returns rows. If any statement fails,
    the server runs none after it: the transaction is rolled back here and the error raised."""
    fairy = _multi_statement_engine(engine).raw_connection()
    connection = fairy.dbapi_connection
    row = None
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(";\n".join(literal(cursor, engine.dialect, statement, params)
                                      for statement, params in statements))
            while True:
                if cursor.description:
                    row = cursor.fetchone()
                if not cursor.nextset():
                    break
        finally:
            cursor.close()
    except BaseException:
        try:
            connection.rollback()
        except Exception:  # noqa: BLE001 - a broken connection: drop it, report the first error
            fairy.invalidate()
        fairy.close()
        raise
    _check_in(fairy, True)
    return row
