"""Online top-up (Veloera/new-api `topups`): price quotes, orders, and crediting a paid order exactly once.

An order fixes, when it is created, both what the user pays (`amount`, in the gateway's currency) and what
they get (`quota`): a later change of Price, QuotaPerUnit or group ratios never changes an open order, and
the gateway's notify must report exactly the order's `amount` (new-api credits whatever its options say at
notify time and does not compare the paid money).

Crediting is one transaction (new-api writes the log row after its transaction, so a crash loses it): a
conditional `UPDATE topups SET status=paid WHERE trade_no=:t AND status=pending` whose row count decides,
then, only if it flipped the row, the balance credit (one conditional UPDATE), the top-up log row and the
inviter's rebate. Duplicate and concurrent notifies, and an admin's manual completion racing a notify,
therefore credit once on every database, with no process-local lock (new-api's LockOrder map only
serialises one process). Lock order: the order row, then the user, then the inviter.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, or_, select, update

from app.billing.ledger import add_log
from app.database import retry_on_deadlock
from app.errors import AppError, Conflict, NotFound, ValidationError
from app.extensions import db
from app.models import LogType, TopUp, TopUpStatus, User
from app.models.base import now_ts
from app.options import get_option
from app.security import random_string
from app.services import affiliate, epay
from app.services.accounts import quota_text
from app.services.users import LIKE_ESCAPE, MAX_QUOTA, atomic, credit_quota, escape_like
from app.validation import clean_text, strict_int

log = logging.getLogger(__name__)

MAX_TOPUP_AMOUNT = 1_000_000  # US dollars of quota in one order
MAX_MONEY = Decimal("9999999999.99")  # topups.amount is NUMERIC(12, 2)
CENT = Decimal("0.01")
MAX_TRADE_NO = 64  # epay gateways take out_trade_no up to 64 characters
MAX_KEYWORD = 64
STATUS_NAMES = {TopUpStatus.PENDING: "pending", TopUpStatus.PAID: "success", TopUpStatus.CANCELLED: "cancelled"}
STRIPE_METHOD = "stripe"


# -- settings --------------------------------------------------------------------------------------------

def epay_enabled() -> bool:
    """Online top-up through epay is on when the gateway address, merchant id and key are all set."""
    return bool(get_option("PayAddress") and get_option("EpayId") and get_option("EpayKey"))


def pay_methods() -> list[dict[str, str]]:
    """The configured methods as the wallet shows them: name, type and colour."""
    return [{"name": m["name"], "type": m["type"], "color": m.get("color", "")} for m in get_option("PayMethods")]


def stripe_enabled() -> bool:
    """Stripe top-up is on when the secret key, the webhook secret and the price id are all set."""
    return bool(get_option("StripeApiSecret") and get_option("StripeWebhookSecret") and get_option("StripePriceId"))


def topup_info() -> dict[str, Any]:
    """What a top-up form needs (new-api's GET /api/user/topup/info)."""
    return {
        "enable_online_topup": epay_enabled(),
        "enable_stripe_topup": stripe_enabled(),
        "pay_methods": pay_methods() if epay_enabled() else [],
        "min_topup": get_option("MinTopUp"),
        "stripe_min_topup": get_option("StripeMinTopUp"),
        "stripe_unit_price": get_option("StripeUnitPrice"),
        "price": get_option("Price"),
        "topup_link": get_option("TopUpLink"),
        # new-api's names: the wallet's preset buttons and amount -> price factor (epay only)
        "amount_options": amount_options(),
        "discount": get_option("AmountDiscount"),
    }


def amount_options() -> list[int]:
    """The preset amounts (AmountOptions) that an order may hold now: at least MinTopUp, ascending."""
    minimum = get_option("MinTopUp")
    return sorted(a for a in get_option("AmountOptions") if minimum <= a <= MAX_TOPUP_AMOUNT)


def discount_of(amount: int) -> Decimal:
    """AmountDiscount's factor for exactly `amount` dollars (new-api's exact-amount rule), else 1."""
    return Decimal(str(get_option("AmountDiscount").get(str(amount), 1)))


# -- quotes ----------------------------------------------------------------------------------------------

def strict_amount(value: Any) -> int:
    """A whole number (JSON number or digits in a form field) of US dollars of quota."""
    if value is None or value == "":
        raise ValidationError("please enter an amount", code="amount_missing")
    return strict_int(value, "amount", allow_str=True, maximum=None)


def parse_amount(value: Any) -> int:
    """A whole number of US dollars of quota, at least MinTopUp."""
    minimum = get_option("MinTopUp")
    amount = strict_amount(value)
    if amount < minimum:
        raise ValidationError(f"the smallest top-up is {minimum}", code="amount_too_small")
    if amount > MAX_TOPUP_AMOUNT:
        raise ValidationError(f"the largest top-up is {MAX_TOPUP_AMOUNT}", code="amount_too_large")
    return amount


def _group_ratio(group: str) -> Decimal:
    ratios = get_option("TopupGroupRatio")
    return Decimal(str(ratios.get(group, 1)))


def price_of(user: User, amount: int) -> Decimal:
    """What `amount` dollars of quota cost `user`, in the gateway's currency, rounded to the cent: Price x
    the group's TopupGroupRatio x the amount's AmountDiscount."""
    money = (Decimal(amount) * Decimal(str(get_option("Price"))) * _group_ratio(user.group)
             * discount_of(amount)).quantize(CENT, rounding=ROUND_HALF_UP)
    if money < CENT:
        raise ValidationError("the amount to pay is below 0.01; top up more", code="amount_too_small")
    if money > MAX_MONEY:
        raise ValidationError("the amount to pay is too large", code="amount_too_large")
    return money


def quota_of(amount: int) -> int:
    """The quota `amount` dollars buy (QuotaPerUnit per dollar), within the balance's range."""
    quota = int((Decimal(amount) * Decimal(str(get_option("QuotaPerUnit")))).to_integral_value(ROUND_HALF_UP))
    if not 0 < quota <= MAX_QUOTA:
        raise ValidationError("this amount cannot be credited", code="amount_too_large")
    return quota


def quote(user: User, raw_amount: Any) -> dict[str, Any]:
    """`{amount, money, quota, discount}` for a top-up of `raw_amount` dollars (validated; nothing is
    written); `discount` is the AmountDiscount factor already in `money`."""
    amount = parse_amount(raw_amount)
    return {"amount": amount, "money": price_of(user, amount), "quota": quota_of(amount),
            "discount": discount_of(amount)}


# -- orders ----------------------------------------------------------------------------------------------

def _require_epay() -> None:
    if not epay_enabled():
        raise ValidationError("online top-up is not available: the administrator has not set up payments",
                              code="payments_disabled", status=403)


def _parse_method(value: Any) -> str:
    types = [m["type"] for m in get_option("PayMethods")]
    if not isinstance(value, str) or value not in types:
        raise ValidationError("unknown payment method", code="payment_method_invalid")
    return value


def new_trade_no(user_id: int) -> str:
    """new-api's shape, `USR<user id>NO<random><unix time>`: unique by the random part, readable by staff."""
    return f"USR{user_id}NO{random_string(10)}{now_ts()}"


@retry_on_deadlock
def create_epay_order(user: User, raw_amount: Any, raw_method: Any) -> TopUp:
    """A pending order for `raw_amount` dollars paid with `raw_method` (one of PayMethods)."""
    _require_epay()
    method = _parse_method(raw_method)
    priced = quote(user, raw_amount)
    with atomic():
        order = TopUp(user_id=user.id, amount=priced["money"], quota=priced["quota"],
                      trade_no=new_trade_no(user.id), status=TopUpStatus.PENDING, payment_method=method,
                      created_time=now_ts(), paid_time=0)
        db.session.add(order)
    return order


def epay_checkout(order: TopUp, site_base: str, return_url: str) -> tuple[str, dict[str, str]]:
    """The gateway's submit URL and the signed form fields for a pending epay order.

    The fields are derived from the order alone, so the same form can be shown again later."""
    _require_epay()
    if order.status != TopUpStatus.PENDING:
        raise Conflict("this order is no longer waiting for payment", code="order_not_pending")
    if order.payment_method == STRIPE_METHOD:
        raise ValidationError("this order is paid through Stripe", code="payment_method_invalid")
    params = {
        "pid": get_option("EpayId"),
        "type": order.payment_method or "",
        "out_trade_no": order.trade_no,
        "notify_url": site_base.rstrip("/") + "/api/user/epay/notify",
        "return_url": return_url,
        "name": f"TUC{_dollars(order)}",
        "money": f"{order.amount:.2f}",
    }
    return epay.submit_url(get_option("PayAddress")), epay.signed(params, get_option("EpayKey"))


def _dollars(order: TopUp) -> str:
    """The order's quota in US dollars, as text without trailing zeros (the order name shows it)."""
    value = Decimal(order.quota) / Decimal(str(get_option("QuotaPerUnit")))
    return format(value.quantize(CENT, rounding=ROUND_HALF_UP).normalize(), "f")


# -- crediting --------------------------------------------------------------------------------------------

class OrderAlreadyPaid(Conflict):
    code = "order_already_paid"


class OrderCancelled(Conflict):
    code = "order_not_pending"


def _refuse_unless(status: int, completable: tuple[int, ...]) -> None:
    if status in completable:
        return
    if status == TopUpStatus.PAID:
        raise OrderAlreadyPaid("this order has already been paid")
    raise OrderCancelled("this order was cancelled")


@retry_on_deadlock
def cancel_stale_epay_orders(max_age_hours: int, now: int | None = None) -> int:
    """Cancel epay orders still pending `max_age_hours` after they were created; returns how many.

    One conditional UPDATE (status pending -> cancelled), so it and a notify for the same order never
    both win: the notify's own conditional UPDATE finds the row cancelled and is refused, or it flipped
    the row to paid first and this leaves it alone. Stripe orders end with their Checkout Session."""
    now = now_ts() if now is None else now
    with atomic():
        cancelled = db.session.execute(
            update(TopUp).where(TopUp.status == TopUpStatus.PENDING,
                                TopUp.created_time < now - max_age_hours * 3600,
                                or_(TopUp.payment_method.is_(None), TopUp.payment_method != STRIPE_METHOD))
            .values(status=TopUpStatus.CANCELLED).execution_options(synchronize_session=False)).rowcount
    if cancelled:
        log.info("cancelled %d epay orders unpaid after %d hours", cancelled, max_age_hours)
    return cancelled


def _find(trade_no: Any) -> TopUp:
    if not isinstance(trade_no, str) or not trade_no.strip() or len(trade_no) > 255:
        raise ValidationError("trade_no is required", code="trade_no_missing")
    order = db.session.scalar(select(TopUp).where(TopUp.trade_no == trade_no.strip())
                              .execution_options(populate_existing=True))
    if order is None:
        raise NotFound("no such order", code="order_not_found")
    return order


@retry_on_deadlock
def complete_order(trade_no: Any, *, via: str, paid_money: Decimal | None = None,
                   payment_method: str | None = None) -> TopUp:
    """Mark a pending order paid and credit its quota, exactly once, in one transaction.

    `paid_money`, when the gateway reports it, must equal the order's amount. Raises OrderAlreadyPaid
    (nothing credited) when the order was paid already, also when a concurrent call won the race, and
    OrderCancelled when it was cancelled (cancel_stale_epay_orders, an expired Stripe session). Only an
    admin (`via="admin"`) may complete a cancelled order: a gateway's late notify is refused, but a buyer
    who did pay late is credited once staff have checked the payment with the gateway."""
    with atomic():
        order = _find(trade_no)
        if paid_money is not None and paid_money != order.amount:
            raise ValidationError(f"paid amount {paid_money} does not match the order's {order.amount:.2f}",
                                  code="amount_mismatch")
        completable = (TopUpStatus.PENDING, TopUpStatus.CANCELLED) if via == "admin" else (TopUpStatus.PENDING,)
        _refuse_unless(order.status, completable)
        now = now_ts()
        values: dict[str, Any] = {"status": TopUpStatus.PAID, "paid_time": now}
        if payment_method:
            values["payment_method"] = payment_method[:64]
        flipped = db.session.execute(
            update(TopUp).where(TopUp.id == order.id, TopUp.status.in_(completable)).values(**values)
            .execution_options(synchronize_session=False)).rowcount
        if flipped != 1:
            # A concurrent call changed the row since we read it: a locking read sees what it became
            # (a plain read would see MariaDB's old snapshot).
            _refuse_unless(db.session.scalar(select(TopUp.status).where(TopUp.id == order.id).with_for_update()),
                           ())
        if not credit_quota(order.user_id, order.quota):
            raise ValidationError("the account of this order cannot receive quota (disabled or deleted)",
                                  code="account_unavailable")
        username = db.session.scalar(select(User.username).where(User.id == order.user_id))
        method = values.get("payment_method", order.payment_method)
        add_log(log_type=LogType.TOPUP, user_id=order.user_id, username=username, quota=order.quota,
                content=f"Online top-up of {quota_text(order.quota)}, paid {order.amount:.2f} "
                        f"({method}, order {order.trade_no})" + (" - completed by an admin" if via == "admin" else ""),
                other={"trade_no": order.trade_no, "money": f"{order.amount:.2f}", "payment_method": method,
                       "via": via})
        affiliate.pay_rebate(order.user_id, username, order.quota, {"trade_no": order.trade_no})
    db.session.expire_all()
    return _find(order.trade_no)


def _parse_money(value: Any) -> Decimal:
    try:
        money = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError("money is not a number", code="amount_mismatch") from None
    if not money.is_finite():
        raise ValidationError("money is not a number", code="amount_mismatch")
    return money


def handle_epay_notify(params: Mapping[str, str]) -> tuple[bool, str]:
    """Process a gateway notify: (acknowledged, reason). Acknowledged means answer `success`, so the
    gateway stops retrying: the order was credited now or before, or the notify reports a state other
    than TRADE_SUCCESS. Anything else (bad signature, wrong merchant, unknown order, wrong money) is
    refused and nothing is credited."""
    if not epay_enabled():
        return False, "payments are not configured"
    if not params:
        return False, "empty notify"
    if not epay.verify(params, get_option("EpayKey")):
        return False, "bad signature"
    if params.get("pid") != get_option("EpayId"):
        return False, "notify is for another merchant"
    if params.get("trade_status") != epay.TRADE_SUCCESS:
        return True, f"ignored trade_status {params.get('trade_status')!r}"
    trade_no = params.get("out_trade_no", "")
    try:
        order = _find(trade_no)
        if order.payment_method == STRIPE_METHOD:
            return False, "order is a Stripe order"
        complete_order(trade_no, via="epay", paid_money=_parse_money(params.get("money")),
                       payment_method=params.get("type") or None)
    except OrderAlreadyPaid:
        return True, "already paid"
    except AppError as exc:
        return False, exc.message
    return True, "credited"


# -- reading ---------------------------------------------------------------------------------------------

def order_to_dict(order: TopUp) -> dict[str, Any]:
    """An order as the API shows it: `money` is what was (to be) paid, `amount` the US dollars of quota
    it buys (new-api's meanings), `status` new-api's words (pending, success, cancelled)."""
    return {
        "id": order.id, "user_id": order.user_id, "trade_no": order.trade_no, "amount": float(_dollars(order)),
        "money": float(order.amount), "quota": order.quota, "payment_method": order.payment_method,
        "status": STATUS_NAMES.get(order.status, "unknown"), "create_time": order.created_time,
        "complete_time": order.paid_time,
    }


def list_orders(*, user_id: int | None = None, keyword: Any = "", page: int = 1,
                page_size: int = 10) -> tuple[list[TopUp], int]:
    """Orders newest first, of one user or of everyone; `keyword` matches a trade_no prefix, or for the
    admin list also a user id or an exact username."""
    keyword = clean_text(keyword or "", "keyword", max_len=MAX_KEYWORD).strip()
    query = select(TopUp)
    if user_id is not None:
        query = query.where(TopUp.user_id == user_id)
    if keyword:
        conditions = [TopUp.trade_no.like(escape_like(keyword) + "%", escape=LIKE_ESCAPE)]
        if user_id is None:
            conditions.append(TopUp.user_id.in_(select(User.id).where(User.username == keyword)))
            if keyword.isascii() and keyword.isdigit() and int(keyword) < 2**31:
                conditions.append(TopUp.user_id == int(keyword))
        query = query.where(or_(*conditions))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(query.order_by(TopUp.id.desc()).limit(page_size).offset((page - 1) * page_size))
    return list(rows), total


def get_order(trade_no: Any, *, user_id: int | None = None) -> TopUp:
    """One order by trade_no (of `user_id` only, when given), or NotFound."""
    order = _find(trade_no)
    if user_id is not None and order.user_id != user_id:
        raise NotFound("no such order", code="order_not_found")
    return order


def usernames(orders: list[TopUp]) -> dict[int, str]:
    """user id -> username for the admin list."""
    ids = {o.user_id for o in orders}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())
