"""Sign-in through outside providers (GitHub, OIDC, Linux.do, Telegram, WeChat): which are on, the user a
provider profile belongs to, binding and unbinding.

No flask.request or session here: the views check the state, turn what the browser brought into a profile
(`configured(...).exchange(code)` for OAuth and WeChat, `.verify(fields)` for Telegram) and then call
`sign_in` or `bind`, and own the session. Accounts are keyed by the provider's stable id in the users
column the provider names (github_id, oidc_id, linux_do_id, telegram_id, wechat_id).
"""

from __future__ import annotations

import secrets
import unicodedata
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from app.errors import Conflict, Forbidden, NotFound
from app.extensions import db
from app.models import Setup, User, UserStatus
from app.oauth.base import OAuthProfile, SignInProvider
from app.oauth.registry import PROVIDERS, build, missing_settings
from app.options import get_option
from app.services import accounts

MAX_USERNAME = 20  # app.validation.username
NAME_ATTEMPTS = 12
# one-api, and new-api before it moved to numeric ids, kept GitHub's login in users.github_id; accounts
# imported from them (`flask import-oneapi`) are re-keyed to the numeric id at their first GitHub sign-in.
LEGACY_LOGIN_PROVIDERS = frozenset({"github"})


# -- providers -------------------------------------------------------------------------------------------
def provider_class(name: str) -> type[SignInProvider]:
    """The provider class for a URL slug; 404 for an unknown one."""
    cls = PROVIDERS.get(name)
    if cls is None:
        raise NotFound("unknown sign-in provider", code="oauth_unknown_provider")
    return cls


def is_enabled(name: str) -> bool:
    """True when the provider's switch is on and its client id, secret (and OIDC discovery URL) are set."""
    cls = PROVIDERS.get(name)
    return cls is not None and not missing_settings(cls, get_option)


def configured(name: str, kind: str | None = None) -> SignInProvider:
    """The provider `name` (of `kind`, when given), ready to use; 404 when unknown or of another kind, 403 when
    off or not fully configured."""
    cls = provider_class(name)
    if kind is not None and cls.kind != kind:
        raise NotFound("unknown sign-in provider", code="oauth_unknown_provider")
    if missing_settings(cls, get_option):
        raise Forbidden(f"sign-in with {cls.label} is not enabled on this server", code="oauth_disabled")
    return build(name, get_option, current_app.config)


def enabled_providers() -> list[dict[str, str]]:
    """`[{name, label, kind}]` of every provider a visitor can use now, in a stable order (for buttons)."""
    return [{"name": name, "label": cls.label, "kind": cls.kind} for name, cls in PROVIDERS.items()
            if is_enabled(name)]


# -- users -----------------------------------------------------------------------------------------------
def _linked(provider: SignInProvider, subject: str, *, include_deleted: bool) -> list[User]:
    column = getattr(User, provider.user_column)
    query = select(User).where(column == subject).order_by(User.id)
    if not include_deleted:
        query = query.where(User.deleted_at.is_(None))
    return list(db.session.scalars(query))


def _legacy_login(provider: SignInProvider, profile: OAuthProfile) -> str | None:
    """The value an imported account of this profile would hold instead of the id (GitHub's login), if any."""
    login = (profile.login or "").strip()
    if provider.name not in LEGACY_LOGIN_PROVIDERS or not login or login.isdigit() or login == profile.subject:
        return None
    return login


def _adopt_legacy_login(provider: SignInProvider, profile: OAuthProfile) -> bool:
    """Re-key an imported account that holds this profile's login to the stable id; True if one was.

    A login can be renamed and taken by someone else, which is why we key on ids; for an imported account
    the login is all there is, as it was in the product it came from. This happens once per account.
    """
    login = _legacy_login(provider, profile)
    if login is None:
        return False
    column = getattr(User, provider.user_column)
    try:
        moved = db.session.execute(
            update(User).where(column == login).values({provider.user_column: profile.subject})
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return moved > 0


def _name_base(login: str, fallback: str) -> str:
    """The provider login as a username: NFKC, letters, digits and . _ - only, at most MAX_USERNAME long."""
    text = unicodedata.normalize("NFKC", login or "")
    kept = "".join(ch for ch in text if ch.isalnum() or ch in "._-").strip("._-")
    return kept[:MAX_USERNAME] or fallback


def _candidates(base: str):
    """base, base_2 ... base_6, then base_<4 random digits>: each cut so the whole fits MAX_USERNAME."""
    yield base
    for n in range(2, 7):
        yield f"{base[:MAX_USERNAME - 2]}_{n}"
    while True:
        yield f"{base[:MAX_USERNAME - 5]}_{secrets.randbelow(10_000):04d}"


def _lock_sign_ups() -> None:
    """Serialise OAuth sign-ups and links until this transaction ends: SELECT ... FOR UPDATE on the setup row
    (BEGIN IMMEDIATE on SQLite, see app.database). Without a UNIQUE index on the *_id columns, this is what
    keeps two parallel first sign-ins of one provider account from making two users."""
    db.session.execute(select(Setup.id).where(Setup.id == 1).with_for_update())


def _register(provider: SignInProvider, profile: OAuthProfile, aff_code: str | None) -> User:
    if not get_option("RegisterEnabled"):
        raise Forbidden("new registrations are closed by the administrator", code="registration_closed")
    base = _name_base(profile.login, f"{provider.name}_user")
    for attempt, name in enumerate(_candidates(base)):
        if attempt >= NAME_ATTEMPTS:
            break
        # End the reads so far, so that (on MySQL's REPEATABLE READ too) the check after the lock sees
        # every sign-up committed before it; create_oauth_user's commit releases the lock.
        db.session.commit()
        _lock_sign_ups()
        raced = _linked(provider, profile.subject, include_deleted=True)
        if raced:  # a parallel request registered this very profile first
            db.session.commit()
            return sign_in(provider, profile)
        if accounts.username_taken(name):
            continue
        try:
            return accounts.create_oauth_user(
                name, id_column=provider.user_column, provider_id=profile.subject,
                display=profile.name or profile.login, email=profile.email, aff_code=aff_code,
            )
        except Conflict:
            continue  # the name was taken meanwhile (by a password registration): try the next one
    db.session.rollback()
    raise Conflict("could not find a free username for this account; please try again")


def sign_in(provider: SignInProvider, profile: OAuthProfile, *, aff_code: str | None = None) -> User:
    """The enabled user linked to `profile`, registering one first when nobody is (and registration is open).

    403 when the linked account is disabled or deleted, or when registration is closed.
    """
    users = _linked(provider, profile.subject, include_deleted=True)
    if not users and _adopt_legacy_login(provider, profile):
        users = _linked(provider, profile.subject, include_deleted=True)
    live = [user for user in users if user.deleted_at is None]
    if live:
        user = live[0]
    elif users:
        raise Forbidden(f"the account linked to this {provider.label} account has been deleted")
    else:
        user = _register(provider, profile, aff_code)
    if user.status != UserStatus.ENABLED:
        raise Forbidden("this account has been disabled")
    return user


def bind(user: User, provider: SignInProvider, profile: OAuthProfile) -> bool:
    """Link `profile` to `user` (replacing an earlier link of the same provider); False if it already was.

    409 when another account, deleted ones included, holds this provider id (or, for an imported account,
    the login it stood for).
    """
    column = getattr(User, provider.user_column)
    db.session.commit()  # as in _register: the check after the lock must see every link committed before
    _lock_sign_ups()
    held = [profile.subject] + [value for value in [_legacy_login(provider, profile)] if value]
    owners = db.session.scalars(select(User.id).where(column.in_(held)).order_by(User.id)).all()
    if owners == [user.id] and getattr(user, provider.user_column) == profile.subject:
        db.session.commit()
        return False
    if any(owner != user.id for owner in owners):
        db.session.rollback()
        raise Conflict(f"this {provider.label} account is already linked to another user", code="oauth_taken")
    try:
        db.session.execute(
            update(User).where(User.id == user.id).values({provider.user_column: profile.subject})
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    db.session.refresh(user)
    return True


# -- bindings on the profile page and in the admin user editor -------------------------------------------
def bindings(user: User) -> list[dict[str, Any]]:
    """Each provider with `user`'s id there ("" when not linked): `[{name, label, kind, enabled, subject}]`."""
    return [{"name": name, "label": cls.label, "kind": cls.kind, "enabled": is_enabled(name),
             "subject": getattr(user, cls.user_column) or ""} for name, cls in PROVIDERS.items()]


def _other_ways_in(user: User, except_column: str) -> bool:
    """True when `user` can still sign in without the provider of `except_column`: a password while
    password sign-in is on, or another linked provider that is enabled now."""
    if user.password and get_option("PasswordLoginEnabled"):
        return True
    return any(getattr(user, cls.user_column) for name, cls in PROVIDERS.items()
               if cls.user_column != except_column and is_enabled(name))


def unbind(user: User, name: str, *, by_admin: bool = False) -> None:
    """Remove the link to provider `name` from `user`.

    404 for an unknown provider or a deleted user; 409 when nothing is linked. Unless `by_admin`, 403 when it
    is the account's last way to sign in (no usable password, no other enabled provider linked). The check
    and the write share one transaction on the locked user row, so two parallel unbinds cannot both pass.
    """
    cls = provider_class(name)
    db.session.commit()  # end earlier reads: the row read under the lock below is the current one
    locked = db.session.execute(
        select(User).where(User.id == user.id, User.deleted_at.is_(None)).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    try:
        if locked is None:
            raise NotFound("user not found")
        if not getattr(locked, cls.user_column):
            raise Conflict(f"this account is not linked to {cls.label}", code="oauth_not_bound")
        if not by_admin and not _other_ways_in(locked, cls.user_column):
            raise Forbidden(f"{cls.label} is this account's only way to sign in: set a password or link "
                            "another account first", code="oauth_last_sign_in")
        setattr(locked, cls.user_column, None)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
