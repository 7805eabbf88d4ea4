"""Reserve -> settle | refund: how a relayed request moves quota. Every change is a conditional UPDATE.

- `reserve` (before the upstream call), ONE transaction:
      UPDATE tokens SET remain_quota = remain_quota - :r WHERE id = :id AND remain_quota >= :need
      UPDATE users  SET quota = quota - :r WHERE id = :id AND quota >= :need
  (no token statement for unlimited keys). `need` is max(r, 1): a key or a user with nothing left is
  refused even for a free model, as in new-api. Either UPDATE matching no row rolls the transaction
  back and raises InsufficientQuota; nothing was taken.
- `settle` (after the answer), ONE transaction: user, token and channel counters adjusted by the
  difference between the real cost and the reservation, the consume log row, the hourly rollup.
  The real cost is charged even when it exceeds the reservation (the upstream already served it), so
  a balance can go below zero by at most the overshoot of the requests in flight: max_tokens bounds it
  when the client sets it; without it the reservation assumes a default completion length.
- `refund` (any failure), ONE transaction: the whole reservation goes back; no consume row is written
  (an optional type-7 error row with quota 0 may be).
- uncharged requests (token counting) hold `nothing_held` (no statement) and end with `close_uncharged`,
  ONE transaction writing only their quota-0 log row.

Every transaction locks rows in the same order (the token, then the user, then the channel), so a
reservation and a settlement of the same key never deadlock on PostgreSQL or MySQL.
The statements are Core UPDATEs compiled once per dialect and run on the raw cursor of a pooled connection
of their own (app.billing.ledger.run), never the ORM session, so no transaction is ever left open
across an upstream call or a stream. On PostgreSQL the reservation and the settlement are each a single
statement (data-modifying CTEs) run in autocommit: one round trip instead of four and seven, and no row
lock held while the client is away (the hot rows of a busy key or channel would queue behind it).
On SQLite, requests of one process that bill at the same moment share the transaction (group commit,
app.billing.ledger): each request's statements run in a savepoint of their own, so "rolls the transaction
back" above means "rolls that request's savepoint back", and every call returns only after the COMMIT.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import has_app_context
from sqlalchemy import bindparam, func, literal_column, select, update

from app.billing import ledger
from app.billing.ledger import Prepared
from app.errors import InsufficientQuota
from app.extensions import db
from app.models import Channel, Token, User

_users = User.__table__
_tokens = Token.__table__
_channels = Channel.__table__

_USER_RESERVE = Prepared(update(_users).where(_users.c.id == bindparam("b_id"), _users.c.quota >= bindparam("b_need"))
                 .values(quota=_users.c.quota - bindparam("b_amount")))
_TOKEN_RESERVE = Prepared(update(_tokens)
                  .where(_tokens.c.id == bindparam("b_id"), _tokens.c.remain_quota >= bindparam("b_need"))
                  .values(remain_quota=_tokens.c.remain_quota - bindparam("b_amount")))
_USER_GIVE_BACK = Prepared(update(_users).where(_users.c.id == bindparam("b_id"))
                   .values(quota=_users.c.quota + bindparam("b_amount")))
_TOKEN_GIVE_BACK = Prepared(update(_tokens).where(_tokens.c.id == bindparam("b_id"))
                    .values(remain_quota=_tokens.c.remain_quota + bindparam("b_amount")))
_USER_SETTLE = Prepared(update(_users).where(_users.c.id == bindparam("b_id"))
                .values(quota=_users.c.quota - bindparam("b_delta"),
                        used_quota=_users.c.used_quota + bindparam("b_used"),
                        request_count=_users.c.request_count + literal_column("1")))
_TOKEN_SETTLE = Prepared(update(_tokens).where(_tokens.c.id == bindparam("b_id"))
                 .values(remain_quota=_tokens.c.remain_quota - bindparam("b_delta"),
                         used_quota=_tokens.c.used_quota + bindparam("b_used"),
                         accessed_time=bindparam("b_now")))
_TOKEN_SETTLE_UNLIMITED = Prepared(update(_tokens).where(_tokens.c.id == bindparam("b_id"))
                           .values(used_quota=_tokens.c.used_quota + bindparam("b_used"),
                                   accessed_time=bindparam("b_now")))
_CHANNEL_SETTLE = Prepared(update(_channels).where(_channels.c.id == bindparam("b_id"))
                   .values(used_quota=_channels.c.used_quota + bindparam("b_used"),
                           response_time=bindparam("b_ms")))


def _utcnow() -> datetime:
    """`updated_at` as the models' onupdate writes it (naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def release_session() -> None:
    """End the request's ORM session transaction, if it has one, before using a connection of our own.

    Option and cache-version reads go through the ORM session, which then sits in a read transaction;
    on SQLite (BEGIN IMMEDIATE, app/database.py) that transaction holds the write lock, so a second
    connection of the same request would wait on it, and every other writer would wait for the upstream.
    """
    if not has_app_context():
        return
    scoped = db.session
    if scoped.registry.has():
        session = scoped.registry()
        if session.in_transaction():
            session.rollback()


def _postgres_settle_statement(_dialect: str):
    """Settlement as ONE PostgreSQL statement: every write a data-modifying CTE (atomic on its own, so it
    runs in autocommit: one round trip). Unlimited keys pass t_delta = 0."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    from app.models import Log, QuotaData

    u, t, c = _users, _tokens, _channels
    tokens = (update(t).where(t.c.id == bindparam("t_id"))
              .values(remain_quota=t.c.remain_quota - bindparam("t_delta"),
                      used_quota=t.c.used_quota + bindparam("t_used"), accessed_time=bindparam("t_now"),
                      updated_at=bindparam("stamp"))
              .returning(t.c.id).cte("t"))
    # The user's UPDATE reads the token CTE, so PostgreSQL runs the token's first: the same lock order as
    # `reserve` (token, then user), whatever order it would otherwise pick for the CTEs.
    users = (update(u).where(u.c.id == bindparam("u_id"),
                             select(func.count()).select_from(tokens).scalar_subquery() >= literal_column("0"))
             .values(quota=u.c.quota - bindparam("u_delta"), used_quota=u.c.used_quota + bindparam("u_used"),
                     request_count=u.c.request_count + literal_column("1"), updated_at=bindparam("stamp"))
             .returning(u.c.id).cte("u"))
    channels = (update(c).where(c.c.id == bindparam("c_id"))
                .values(used_quota=c.c.used_quota + bindparam("c_used"), response_time=bindparam("c_ms"),
                        updated_at=bindparam("stamp"))
                .returning(c.c.id).cte("c"))
    logs_table = Log.__table__
    logs = (logs_table.insert().values({name: bindparam("l_" + name) for name in ledger.LOG_COLUMNS})
            .returning(logs_table.c.id).cte("l"))
    qt = QuotaData.__table__
    base = pg_insert(qt).values({name: bindparam("q_" + name) for name in ledger.QUOTA_DATA_COLUMNS})
    rollup = (base.on_conflict_do_update(
        index_elements=[qt.c.user_id, qt.c.model_name, qt.c.token_id, qt.c.channel_id, qt.c.created_at],
        set_={"count": qt.c["count"] + base.excluded["count"], "quota": qt.c.quota + base.excluded.quota,
              "token_used": qt.c.token_used + base.excluded.token_used})
        .returning(qt.c.id).cte("q"))
    return select(literal_column("1")).add_cte(tokens, users, channels, logs, rollup)


_POSTGRES_SETTLE = Prepared(_postgres_settle_statement)


def _postgres_reserve_statement(_dialect: str):
    """A limited key's reservation as ONE PostgreSQL statement, run in autocommit.

    Two UPDATEs in a transaction hold the token's and the user's row locks from the first UPDATE until the
    client's COMMIT arrives: a round trip plus, under gevent with a thousand streams in flight, however
    long the worker takes to get back to this greenlet. Every other request of the same key or user
    queues behind those locks (measured: 100 streams/s where the mock serves 470). In one statement the
    locks are held only while PostgreSQL runs it.
    The user's UPDATE reads the token CTE, so the token's runs first (the lock order of `settle`) and the
    user is charged only if the key was. If the key was charged but the user was not, the outer SELECT
    divides by zero: the statement fails as a whole and the key's UPDATE is undone with it (PostgreSQL
    has no RAISE in plain SQL; the divisor is a subquery, so the planner cannot fold it in advance)."""
    t, u = _tokens, _users
    tokens = (update(t).where(t.c.id == bindparam("t_id"), t.c.remain_quota >= bindparam("need"))
              .values(remain_quota=t.c.remain_quota - bindparam("amount"), updated_at=bindparam("stamp"))
              .returning(t.c.id).cte("t"))
    users = (update(u).where(u.c.id == bindparam("u_id"), u.c.quota >= bindparam("need"),
                             select(func.count()).select_from(tokens).scalar_subquery() == literal_column("1"))
             .values(quota=u.c.quota - bindparam("amount"), updated_at=bindparam("stamp"))
             .returning(u.c.id).cte("u"))
    charged_keys = select(func.count()).select_from(tokens).scalar_subquery()
    charged_users = select(func.count()).select_from(users).scalar_subquery()
    # 1 // 0 exactly when the key was charged (1) and the user was not (0)
    guard = literal_column("1") // (charged_users - charged_keys + literal_column("1"))
    return select(charged_keys.label("key_charged"), charged_users.label("user_charged"), guard.label("guard"))


_POSTGRES_RESERVE = Prepared(_postgres_reserve_statement)


class TokenQuotaExhausted(InsufficientQuota):
    code = "insufficient_token_quota"


@dataclass(slots=True)
class Reservation:
    """Quota held for one request. `settle` or `refund` closes it exactly once."""

    user_id: int
    token_id: int
    unlimited: bool
    amount: int
    engine: Any = field(repr=False, default=None)
    closed: bool = False


def reserve(user_id: int, token_id: int, amount: int, *, unlimited: bool = False) -> Reservation:
    """Hold `amount` quota from the user and (unless unlimited) the key, or raise InsufficientQuota."""
    amount = max(int(amount), 0)
    need = max(amount, 1)
    release_session()
    engine = db.engine
    stamp = _utcnow()
    if engine.dialect.name == "postgresql":
        _reserve_postgres(engine, user_id, token_id, amount, need, stamp, unlimited)
        return Reservation(user_id, token_id, unlimited, amount, engine)
    if engine.dialect.name in ("mysql", "mariadb"):
        _reserve_mysql(engine, user_id, token_id, amount, need, stamp, unlimited)
        return Reservation(user_id, token_id, unlimited, amount, engine)

    def work(tx: ledger.Tx) -> None:
        if not unlimited:
            result = tx.run(_TOKEN_RESERVE, {"b_id": token_id, "b_need": need, "b_amount": amount, "updated_at": stamp})
            if result != 1:
                raise TokenQuotaExhausted("this API key does not have enough quota left for the request")
        result = tx.run(_USER_RESERVE, {"b_id": user_id, "b_need": need, "b_amount": amount, "updated_at": stamp})
        if result != 1:
            raise InsufficientQuota("your account does not have enough quota left for this request")

    ledger.run(engine, work)
    return Reservation(user_id, token_id, unlimited, amount, engine)


def _reserve_postgres(engine, user_id: int, token_id: int, amount: int, need: int, stamp: datetime,
                      unlimited: bool) -> None:
    """`reserve` on PostgreSQL: one statement in autocommit (see _postgres_reserve_statement)."""
    with ledger.single_statement(engine) as tx:
        if unlimited:
            if tx.run(_USER_RESERVE, {"b_id": user_id, "b_need": need, "b_amount": amount, "updated_at": stamp}) != 1:
                raise InsufficientQuota("your account does not have enough quota left for this request")
            return
        try:
            tx.run(_POSTGRES_RESERVE, {"t_id": token_id, "u_id": user_id, "need": need, "amount": amount,
                                       "stamp": stamp})
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == _DIVISION_BY_ZERO:  # the key was charged, the user was not
                raise InsufficientQuota("your account does not have enough quota left for this request") from None
            raise
        key_charged, _user_charged, _guard = tx.cursor.fetchone()
    if key_charged != 1:
        raise TokenQuotaExhausted("this API key does not have enough quota left for the request")


_DIVISION_BY_ZERO = "22012"


def _reserve_mysql(engine, user_id: int, token_id: int, amount: int, need: int, stamp: datetime,
                   unlimited: bool) -> None:
    """`reserve` on MySQL: one packet (app.billing.ledger.run_packet). The user is charged only if the key
    was (ROW_COUNT() of the key's UPDATE, kept in a session variable); a key charged for a user who was not
    is given back inside the same transaction, so the packet's net effect is all or nothing and its locks
    are taken in `settle`'s order (the key, then the user). An unlimited key is not charged at all."""
    user = {"b_id": user_id, "b_need": need, "b_amount": amount, "updated_at": stamp}
    if unlimited:
        statements = [("SET @sluice_key_charged = 1", None), (_USER_RESERVE, user)]
    else:
        statements = [
            (_TOKEN_RESERVE, {"b_id": token_id, "b_need": need, "b_amount": amount, "updated_at": stamp}),
            ("SET @sluice_key_charged = ROW_COUNT()", None),
            (_USER_RESERVE_AFTER_KEY, user),
        ]
    statements.append(("SET @sluice_user_charged = ROW_COUNT()", None))
    if not unlimited:
        statements.append((_TOKEN_GIVE_BACK_UNLESS_USER, {"b_id": token_id, "b_amount": amount, "updated_at": stamp}))
    row = _run_mysql_packet(engine, [("START TRANSACTION", None), *statements, ("COMMIT", None),
                                     ("SELECT @sluice_key_charged, @sluice_user_charged", None)])
    key_charged, user_charged = (int(v or 0) for v in row)
    if key_charged != 1:
        raise TokenQuotaExhausted("this API key does not have enough quota left for the request")
    if user_charged != 1:
        raise InsufficientQuota("your account does not have enough quota left for this request")


def _run_mysql_packet(engine, statements):
    """A billing packet, run again if InnoDB chose it as a deadlock victim or its lock wait timed out (the
    server rolled the whole transaction back, so running it again cannot charge twice)."""
    for attempt in range(4):
        try:
            return ledger.run_packet(engine, statements)
        except Exception as exc:
            code = exc.args[0] if getattr(exc, "args", None) else None
            if code not in (1205, 1213) or attempt == 3:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


_USER_RESERVE_AFTER_KEY = Prepared(
    update(_users).where(_users.c.id == bindparam("b_id"), _users.c.quota >= bindparam("b_need"),
                         literal_column("@sluice_key_charged") == literal_column("1"))
    .values(quota=_users.c.quota - bindparam("b_amount")))
_TOKEN_GIVE_BACK_UNLESS_USER = Prepared(
    update(_tokens).where(_tokens.c.id == bindparam("b_id"),
                          literal_column("@sluice_key_charged") == literal_column("1"),
                          literal_column("@sluice_user_charged") == literal_column("0"))
    .values(remain_quota=_tokens.c.remain_quota + bindparam("b_amount")))


def settle(res: Reservation, quota: int, *, channel_id: int, response_ms: int, log: dict[str, Any],
           rollup: dict[str, Any] | None = None) -> None:
    """Charge `quota` for the request held by `res`; write `log` (a `logs` row) and the rollup."""
    if res.closed:
        raise RuntimeError("reservation already settled or refunded")
    quota = max(int(quota), 0)
    delta = quota - res.amount
    now = log.get("created_at") or int(time.time())
    stamp = _utcnow()
    release_session()
    if rollup is not None and res.engine.dialect.name == "postgresql":
        _settle_postgres(res, quota, delta, now, stamp, channel_id, response_ms, log, rollup)
        res.closed = True
        return
    log_row = ledger.log_params({**log, "quota": quota, "created_at": now})
    rollup_row = ledger.quota_data_params(quota=quota, created_at=now, **rollup) if rollup is not None else None
    if res.engine.dialect.name in ("mysql", "mariadb"):
        _settle_mysql(res, quota, delta, now, stamp, channel_id, response_ms, log_row, rollup_row)
        res.closed = True
        return

    def work(tx: ledger.Tx) -> None:
        if res.unlimited:
            tx.run(_TOKEN_SETTLE_UNLIMITED, {"b_id": res.token_id, "b_used": quota, "b_now": now,
                                              "updated_at": stamp})
        else:
            tx.run(_TOKEN_SETTLE, {"b_id": res.token_id, "b_delta": delta, "b_used": quota, "b_now": now,
                                    "updated_at": stamp})
        tx.run(_USER_SETTLE, {"b_id": res.user_id, "b_delta": delta, "b_used": quota, "updated_at": stamp})
        if channel_id:
            tx.run(_CHANNEL_SETTLE, {"b_id": channel_id, "b_used": quota, "b_ms": response_ms, "updated_at": stamp})
        ledger.insert_log_params(tx, log_row)
        if rollup_row is not None:
            ledger.upsert_quota_data_params(tx, rollup_row)

    ledger.run(res.engine, work)
    res.closed = True


def _settle_mysql(res: Reservation, quota: int, delta: int, now: int, stamp: datetime, channel_id: int,
                  response_ms: int, log_row: dict[str, Any], rollup_row: dict[str, Any] | None) -> None:
    """`settle` on MySQL: the same statements as the generic path, in one packet (ledger.run_packet)."""
    statements: list = [("START TRANSACTION", None)]
    if res.unlimited:
        statements.append((_TOKEN_SETTLE_UNLIMITED, {"b_id": res.token_id, "b_used": quota, "b_now": now,
                                                      "updated_at": stamp}))
    else:
        statements.append((_TOKEN_SETTLE, {"b_id": res.token_id, "b_delta": delta, "b_used": quota, "b_now": now,
                                            "updated_at": stamp}))
    statements.append((_USER_SETTLE, {"b_id": res.user_id, "b_delta": delta, "b_used": quota, "updated_at": stamp}))
    if channel_id:
        statements.append((_CHANNEL_SETTLE, {"b_id": channel_id, "b_used": quota, "b_ms": response_ms,
                                              "updated_at": stamp}))
    statements.append((ledger.LOG_INSERT, log_row))
    if rollup_row is not None:
        statements.append((ledger.QUOTA_DATA_UPSERT, rollup_row))
    statements.append(("COMMIT", None))
    _run_mysql_packet(res.engine, statements)


def _settle_postgres(res: Reservation, quota: int, delta: int, now: int, stamp: datetime, channel_id: int,
                     response_ms: int, log: dict[str, Any], rollup: dict[str, Any]) -> None:
    params = {"u_id": res.user_id, "u_delta": delta, "u_used": quota, "stamp": stamp,
              "t_id": res.token_id, "t_delta": 0 if res.unlimited else delta, "t_used": quota, "t_now": now,
              "c_id": channel_id or 0, "c_used": quota, "c_ms": response_ms}
    for name, value in ledger.log_params({**log, "quota": quota, "created_at": now}).items():
        params["l_" + name] = value
    for name, value in ledger.quota_data_params(quota=quota, created_at=now, **rollup).items():
        params["q_" + name] = value
    with ledger.single_statement(res.engine) as tx:
        tx.run(_POSTGRES_SETTLE, params)


def nothing_held(user_id: int, token_id: int, *, unlimited: bool = False) -> Reservation:
    """A reservation of nothing, for requests that are never charged (token counting): no balance is
    checked or moved, so a key with nothing left may still count. Close it with `close_uncharged` (or
    `refund`, which then writes only its error row)."""
    return Reservation(user_id, token_id, unlimited, 0, db.engine)


def close_uncharged(res: Reservation, *, log: dict[str, Any]) -> None:
    """Close a reservation of nothing with its quota-0 log row: one transaction, no balance or counter moves."""
    if res.closed:
        raise RuntimeError("reservation already settled or refunded")
    if res.amount:
        raise ValueError("only a reservation of nothing can be closed uncharged")
    release_session()
    log_row = ledger.log_params({**log, "quota": 0, "created_at": log.get("created_at") or int(time.time())})
    ledger.run(res.engine, lambda tx: ledger.insert_log_params(tx, log_row))
    res.closed = True


def refund(res: Reservation, *, error_log: dict[str, Any] | None = None) -> None:
    """Give the whole reservation back (any failure); optionally record a quota-0 error row."""
    if res.closed:
        return
    if res.amount == 0 and error_log is None:
        res.closed = True
        return
    release_session()
    stamp = _utcnow()
    log_row = ledger.log_params({**error_log, "quota": 0}) if error_log is not None else None

    def work(tx: ledger.Tx) -> None:
        if res.amount:
            if not res.unlimited:
                tx.run(_TOKEN_GIVE_BACK, {"b_id": res.token_id, "b_amount": res.amount, "updated_at": stamp})
            tx.run(_USER_GIVE_BACK, {"b_id": res.user_id, "b_amount": res.amount, "updated_at": stamp})
        if log_row is not None:
            ledger.insert_log_params(tx, log_row)

    ledger.run(res.engine, work)
    res.closed = True
