"""Admin management of users (Veloera `/api/user/` admin routes): list, search, create, edit, soft-delete,
and the manage actions (disable, enable, delete, promote, demote, add_quota).

Role rules, the same everywhere:
- an actor manages only users of a lower role, except root, who manages everyone;
- only root promotes, and only to admin; nobody creates or assigns a role equal to or above their own;
- root cannot be disabled, deleted or demoted, and nobody disables, deletes or demotes themselves.

Money rules: every balance change is one conditional UPDATE, or an UPDATE of a row locked with
SELECT ... FOR UPDATE, and writes its manage log row (type 3) in the same transaction.
Functions take the acting user (`actor`) explicitly; they never read the Flask request or session.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.billing.ledger import add_log, add_manage_log
from app.cache import bump
from app.database import retry_on_deadlock
from app.errors import Conflict, Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import LogType, Role, User, UserStatus
from app.options import get_option
from app.services.accounts import hash_password, quota_text
from app.validation import MAX_INT64, clean_text, display_name, password, strict_int, username

MAX_QUOTA = MAX_INT64
MAX_ROW_ID = 2**31 - 1  # users.id is a 32-bit INTEGER on PostgreSQL and MySQL
ROLES = (Role.USER, Role.ADMIN, Role.ROOT)
MANAGE_ACTIONS = ("disable", "enable", "delete", "promote", "demote", "add_quota")
QUOTA_MODES = ("add", "subtract", "override")
GROUP_RE = re.compile(r"^[\w.\-]{1,64}$")
LIKE_ESCAPE = "!"

# What the admin API shows of a user: a whitelist, so a new secret column never leaks by default.
PUBLIC_FIELDS = (
    "id", "username", "display_name", "role", "status", "email", "github_id", "oidc_id", "wechat_id",
    "telegram_id", "linux_do_id", "quota", "used_quota", "request_count", "group", "aff_code", "aff_count",
    "aff_quota", "aff_history_quota", "inviter_id",
)


# -- transactions and shared money primitives ------------------------------------------------------------

@contextmanager
def atomic() -> Iterator[None]:
    """Commit what the block did, or roll all of it back if it raises."""
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def credit_quota(user_id: int, amount: int) -> bool:
    """Add `amount` to an active user's balance in the current transaction (no commit).

    One conditional UPDATE; False if the user is disabled, deleted, missing, or the balance would pass
    the BIGINT range. The caller writes the log row in the same transaction.
    """
    result = db.session.execute(
        update(User)
        .where(User.id == user_id, User.status == UserStatus.ENABLED, User.deleted_at.is_(None),
               User.quota <= MAX_QUOTA - amount)
        .values(quota=User.quota + amount)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def lock_wallet(user_id: int) -> bool:
    """Lock the user's row (SELECT ... FOR UPDATE) for the rest of the transaction; False if it is gone.

    Call it BEFORE inserting rows whose foreign key points at the user (checkins, redemption_logs): on
    MySQL/MariaDB that insert takes a shared lock on the user row, and two transactions holding it would
    deadlock when both then UPDATE the balance. Lock order everywhere: code row, then user, then inviter.
    """
    found = db.session.execute(select(User.id).where(User.id == user_id).with_for_update())
    return found.scalar_one_or_none() is not None


def escape_like(text: str) -> str:
    """`text` for a LIKE pattern escaped with `!` (portable: MySQL treats a backslash specially)."""
    return (text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%")
            .replace("_", LIKE_ESCAPE + "_"))


def _ts(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def user_to_dict(user: User) -> dict[str, Any]:
    """A user as the admin API shows it: never the password hash, access token or settings."""
    data = {name: getattr(user, name) for name in PUBLIC_FIELDS}
    data["last_check_in_time"] = _ts(user.last_check_in_time)
    data["created_at"] = _ts(user.created_at)
    data["deleted_at"] = _ts(user.deleted_at)
    return data


# -- role rules ---------------------------------------------------------------------------------------

def can_manage(actor: User, target: User) -> bool:
    """Root manages everyone; anyone else only users of a strictly lower role."""
    return actor.role >= Role.ROOT or actor.role > target.role


def _require_manage(actor: User, target: User) -> None:
    if not can_manage(actor, target):
        raise Forbidden("you cannot manage a user whose role is equal to or higher than yours")


def _require_not_self(actor: User, target: User, what: str) -> None:
    if actor.id == target.id:
        raise Forbidden(f"you cannot {what} yourself")


def _require_not_root(target: User, what: str) -> None:
    if target.role >= Role.ROOT:
        raise Forbidden(f"the root user cannot be {what}")


def _parse_role(value: Any) -> int:
    role = strict_int(value, "role")
    if role not in ROLES:
        raise ValidationError("role must be 1 (user), 10 (admin) or 100 (root)")
    return role


def _require_assignable(actor: User, role: int) -> None:
    """Nobody hands out a role equal to or above their own (so root can create admins, not roots)."""
    if role >= actor.role:
        raise Forbidden("you cannot give a user a role equal to or higher than yours")


# -- reading ------------------------------------------------------------------------------------------

def _active_users():
    return select(User).where(User.deleted_at.is_(None))


def _paged(query, page: int, page_size: int) -> tuple[list[User], int]:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.session.scalars(query.order_by(User.id.desc()).limit(page_size).offset((page - 1) * page_size))
    return list(rows), total


def list_users(page: int = 1, page_size: int = 10) -> tuple[list[User], int]:
    """Users that are not deleted, newest first, and how many there are."""
    return _paged(_active_users(), page, page_size)


def search_users(keyword: Any = "", group: Any = "", page: int = 1,
                 page_size: int = 10) -> tuple[list[User], int]:
    """Users whose id equals `keyword`, or whose username, email or display name contains it (`%` and `_`
    match themselves); optionally only those in `group`."""
    keyword = clean_text(keyword or "", "keyword", max_len=64).strip()
    group = clean_text(group or "", "group", max_len=64).strip()
    query = _active_users()
    if keyword:
        pattern = f"%{escape_like(keyword)}%"
        conditions = [User.username.like(pattern, escape=LIKE_ESCAPE),
                      User.email.like(pattern, escape=LIKE_ESCAPE),
                      User.display_name.like(pattern, escape=LIKE_ESCAPE)]
        if keyword.isascii() and keyword.isdigit() and int(keyword) <= MAX_ROW_ID:
            conditions.append(User.id == int(keyword))
        query = query.where(or_(*conditions))
    if group:
        query = query.where(User.group == group)
    return _paged(query, page, page_size)


def find_user(user_id: Any) -> User:
    """A user that is not deleted, or NotFound."""
    if isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 < user_id <= MAX_ROW_ID:
        raise NotFound("user not found")
    user = db.session.scalar(_active_users().where(User.id == user_id))
    if user is None:
        raise NotFound("user not found")
    return user


def get_user(actor: User, user_id: int) -> User:
    """One user, if `actor` may manage them (admins cannot read other admins or root)."""
    user = find_user(user_id)
    _require_manage(actor, user)
    return user


def _lock_user(user_id: int) -> User:
    """The user's row, re-read and locked for the rest of the transaction (SELECT ... FOR UPDATE)."""
    user = db.session.execute(
        select(User).where(User.id == user_id, User.deleted_at.is_(None)).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if user is None:
        raise NotFound("user not found")
    return user


# -- writing ------------------------------------------------------------------------------------------

def _parse_group(value: Any) -> str:
    group = clean_text(value, "group", max_len=64).strip()
    if not GROUP_RE.fullmatch(group):
        raise ValidationError("group must be 1-64 letters, digits, '.', '_' or '-'")
    return group


def _username_taken(name: str, *, except_id: int | None = None) -> bool:
    query = select(User.id).where(User.username == name)  # deleted users keep their names
    if except_id is not None:
        query = query.where(User.id != except_id)
    return db.session.scalar(query.limit(1)) is not None


def create_user(actor: User, data: dict) -> User:
    """Create a user (`username`, `password`, optional `display_name`, `role`, `group`).

    New users start with the QuotaForNewUser option, logged as a system row, like one-api's Insert."""
    name = username(data.get("username"))
    secret = password(data.get("password"))
    shown = display_name(data["display_name"]) if data.get("display_name") not in (None, "") else name
    role = _parse_role(data["role"]) if data.get("role") is not None else Role.USER
    _require_assignable(actor, role)
    group = _parse_group(data["group"]) if data.get("group") not in (None, "") else "default"
    if _username_taken(name):
        raise Conflict("that username is already taken (possibly by a deleted user)")
    initial = int(get_option("QuotaForNewUser"))
    user = User(username=name, password=hash_password(secret), display_name=shown, role=role, group=group,
                quota=initial, status=UserStatus.ENABLED)
    try:
        with atomic():
            db.session.add(user)
            db.session.flush()
            if initial > 0:
                add_log(log_type=LogType.SYSTEM, user_id=user.id, username=user.username, quota=initial,
                        content=f"New user bonus: {quota_text(initial)} (created by admin {actor.username})")
    except IntegrityError:
        raise Conflict("that username is already taken") from None
    return user


def update_user(actor: User, data: dict) -> User:
    """Edit a user from a PUT body: `id` plus any of username, display_name, password, group, quota
    (absolute; the difference is logged) and role. Fields that are absent or unchanged are left alone."""
    user_id = strict_int(data.get("id"), "id", minimum=1)
    target = find_user(user_id)
    _require_manage(actor, target)

    changes: dict[str, Any] = {}
    if data.get("username") not in (None, "") and data["username"] != target.username:
        name = username(data["username"])
        if _username_taken(name, except_id=target.id):
            raise Conflict("that username is already taken")
        changes["username"] = name
    if "display_name" in data and data["display_name"] is not None:
        changes["display_name"] = display_name(data["display_name"]) or target.username
    new_password = data.get("password")
    if new_password not in (None, ""):
        changes["password"] = hash_password(password(new_password))
    if data.get("group") not in (None, ""):
        group = _parse_group(data["group"])
        if group != target.group:
            changes["group"] = group
    if data.get("role") is not None:
        role = _parse_role(data["role"])
        if role != target.role:
            _require_not_self(actor, target, "change the role of")
            _require_not_root(target, "given another role")
            _require_assignable(actor, role)
            changes["role"] = role
    new_quota = None
    if data.get("quota") is not None:
        new_quota = strict_int(data["quota"], "quota", minimum=0, maximum=MAX_QUOTA)

    try:
        with atomic():
            locked = _lock_user(target.id)
            if not can_manage(actor, locked):  # the role may have changed since the first read
                raise Forbidden("you cannot manage a user whose role is equal to or higher than yours")
            if "password" in changes:
                changes["session_version"] = User.session_version + 1
            if changes:
                db.session.execute(update(User).where(User.id == locked.id).values(**changes)
                                   .execution_options(synchronize_session=False))
            if new_quota is not None and new_quota != locked.quota:
                old = locked.quota
                db.session.execute(update(User).where(User.id == locked.id).values(quota=new_quota)
                                   .execution_options(synchronize_session=False))
                add_manage_log(locked, new_quota - old,
                               f"Admin {actor.username} set the balance from {quota_text(old)} "
                               f"to {quota_text(new_quota)}",
                               other={"admin_id": actor.id, "admin_username": actor.username,
                                      "old_quota": old, "new_quota": new_quota})
    except IntegrityError:
        raise Conflict("that username is already taken") from None
    if "group" in changes or "password" in changes:
        bump("tokens", "users")
    db.session.expire_all()
    return find_user(target.id)


def _soft_delete(target: User) -> None:
    with atomic():
        result = db.session.execute(
            update(User).where(User.id == target.id, User.deleted_at.is_(None))
            .values(deleted_at=datetime.now(UTC).replace(tzinfo=None),
                    session_version=User.session_version + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise NotFound("user not found")
    bump("tokens", "users")


def delete_user(actor: User, user_id: int) -> None:
    """Soft-delete a user: the row stays (logs, username), their sessions and keys stop working."""
    target = find_user(user_id)
    _require_manage(actor, target)
    _require_not_root(target, "deleted")
    _require_not_self(actor, target, "delete")
    _soft_delete(target)


def _set_status(target: User, status: int) -> None:
    values: dict[str, Any] = {"status": status}
    if status != UserStatus.ENABLED:
        values["session_version"] = User.session_version + 1  # ends every session at once
    with atomic():
        db.session.execute(update(User).where(User.id == target.id).values(**values)
                           .execution_options(synchronize_session=False))
    bump("tokens", "users")


def _set_role(target: User, role: int) -> None:
    with atomic():
        db.session.execute(update(User).where(User.id == target.id).values(role=role)
                           .execution_options(synchronize_session=False))


@retry_on_deadlock
def adjust_quota(actor: User, user_id: int, mode: Any, value: Any) -> int:
    """new-api's `add_quota` action: `add` or `subtract` a positive amount, or `override` the balance.

    Returns the new balance. Subtracting more than the balance is refused (the balance never goes
    below zero here). Each change writes a manage log row in the same transaction."""
    if mode not in QUOTA_MODES:
        raise ValidationError("mode must be add, subtract or override")
    minimum = 0 if mode == "override" else 1
    amount = strict_int(value, "value", minimum=minimum, maximum=MAX_QUOTA)
    target = find_user(user_id)
    _require_manage(actor, target)
    admin = {"admin_id": actor.id, "admin_username": actor.username}
    with atomic():
        if mode == "add":
            result = db.session.execute(
                update(User).where(User.id == target.id, User.deleted_at.is_(None),
                                   User.quota <= MAX_QUOTA - amount)
                .values(quota=User.quota + amount).execution_options(synchronize_session=False))
            if result.rowcount != 1:
                raise ValidationError("the balance would exceed the largest amount that can be stored")
            add_manage_log(target, amount, f"Admin {actor.username} added {quota_text(amount)}", other=admin)
        elif mode == "subtract":
            result = db.session.execute(
                update(User).where(User.id == target.id, User.deleted_at.is_(None), User.quota >= amount)
                .values(quota=User.quota - amount).execution_options(synchronize_session=False))
            if result.rowcount != 1:
                raise ValidationError("the user's balance is lower than the amount to subtract")
            add_manage_log(target, -amount, f"Admin {actor.username} subtracted {quota_text(amount)}", other=admin)
        else:
            locked = _lock_user(target.id)
            old = locked.quota
            db.session.execute(update(User).where(User.id == locked.id).values(quota=amount)
                               .execution_options(synchronize_session=False))
            add_manage_log(locked, amount - old,
                           f"Admin {actor.username} set the balance from {quota_text(old)} to {quota_text(amount)}",
                           other={**admin, "old_quota": old, "new_quota": amount})
    return db.session.scalar(select(User.quota).where(User.id == target.id))


def manage_user(actor: User, data: dict) -> dict[str, Any]:
    """POST /api/user/manage `{id, action[, mode, value]}`; returns the user's `{role, status[, quota]}`."""
    user_id = strict_int(data.get("id"), "id", minimum=1)
    action = data.get("action")
    if action not in MANAGE_ACTIONS:
        raise ValidationError("action must be one of " + ", ".join(MANAGE_ACTIONS))
    if action == "add_quota":
        quota = adjust_quota(actor, user_id, data.get("mode"), data.get("value"))
        target = find_user(user_id)
        return {"role": target.role, "status": target.status, "quota": quota}

    target = find_user(user_id)
    _require_manage(actor, target)
    if action == "disable":
        _require_not_root(target, "disabled")
        _require_not_self(actor, target, "disable")
        _set_status(target, UserStatus.DISABLED)
    elif action == "enable":
        _set_status(target, UserStatus.ENABLED)
    elif action == "delete":
        _require_not_root(target, "deleted")
        _require_not_self(actor, target, "delete")
        _soft_delete(target)
        return {"role": target.role, "status": target.status}
    elif action == "promote":
        if actor.role < Role.ROOT:
            raise Forbidden("only the root user can promote users to admin")
        if target.role >= Role.ADMIN:
            raise ValidationError("this user is already an admin")
        _set_role(target, Role.ADMIN)
    elif action == "demote":
        _require_not_root(target, "demoted")
        _require_not_self(actor, target, "demote")
        if target.role <= Role.USER:
            raise ValidationError("this user is already a common user")
        _set_role(target, Role.USER)
    db.session.expire_all()
    target = find_user(user_id)
    return {"role": target.role, "status": target.status}
