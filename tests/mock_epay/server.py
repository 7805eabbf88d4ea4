"""A mock epay (易支付) gateway on 127.0.0.1, speaking the protocol of epay-compatible gateways.

Real HTTP (werkzeug's threaded server in a daemon thread). The wire format (as the public epay merchant
docs and new-api's go-epay client describe it):
- `GET|POST {url}/submit.php` with `pid, type, out_trade_no, notify_url, return_url, name, money, sign,
  sign_type=MD5`: the merchant's signed order. Unknown merchant, missing field, bad money or bad signature
  answer 400 with a message, as gateways show an error page. A good order answers the cashier page: an
  HTML form whose button "pays" (POST /pay).
- `POST {url}/pay` (`trade_no`): the buyer paid. The gateway calls the merchant's `notify_url` server to
  server (GET with the query string, as most epay gateways do; `notify_method="POST"` sends a form) with
  `pid, trade_no, out_trade_no, type, name, money, trade_status=TRADE_SUCCESS, sign, sign_type`, signed
  with the merchant key, records the body it got back (`success` ends the retries), then redirects the
  buyer to `return_url` with the same parameters.

The signature is computed here independently of the app: non-empty parameters except sign/sign_type,
sorted by name, `k=v` joined by `&`, merchant key appended, MD5 hex.

    with MockEpay() as gateway:
        gateway.add_merchant("1001", "merchant-key")
        ...                                  # the app posts an order to gateway.url + "/submit.php"
        gateway.pay(trade_no)                # buyer pays: notify sent, returns the merchant's answer
"""

from __future__ import annotations

import hashlib
import html
import itertools
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from werkzeug.wrappers import Request, Response

from tests.fixtures.wsgi_server import BackgroundServer

ORDER_FIELDS = ("pid", "type", "out_trade_no", "notify_url", "return_url", "name", "money")


def epay_sign(params: dict[str, str], key: str) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k not in ("sign", "sign_type") and v != "")
    return hashlib.md5(("&".join(f"{k}={v}" for k, v in pairs) + key).encode()).hexdigest()


@dataclass
class GatewayOrder:
    trade_no: str  # the gateway's own number
    params: dict[str, str]
    paid: bool = False
    notify_answers: list[str] = field(default_factory=list)


class MockEpay(BackgroundServer):
    thread_name = "mock-epay"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers = itertools.count(2024000001)
        self.notify_method = "GET"
        self.merchants: dict[str, str] = {}
        self.orders: dict[str, GatewayOrder] = {}  # by the merchant's out_trade_no
        self.rejections: list[str] = []

    # -- test knobs ----------------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.merchants, self.orders, self.rejections = {}, {}, []
            self.notify_method = "GET"

    def add_merchant(self, pid: str, key: str) -> None:
        self.merchants[pid] = key

    def notify_params(self, out_trade_no: str, /, *, key: str | None = None, **overrides: str) -> dict[str, str]:
        """The signed notify the gateway sends for a submitted order; `overrides` change fields before
        signing (money="0.01" is a notify whose amount differs, signed correctly), `key` signs with
        another key (a forged notify)."""
        order = self.orders[out_trade_no]
        params = {"pid": order.params["pid"], "trade_no": order.trade_no, "out_trade_no": out_trade_no,
                  "type": order.params["type"], "name": order.params["name"], "money": order.params["money"],
                  "trade_status": "TRADE_SUCCESS"}
        params.update(overrides)
        params["sign"] = epay_sign(params, key if key is not None else self.merchants[order.params["pid"]])
        params["sign_type"] = "MD5"
        return params

    def send_notify(self, out_trade_no: str, params: dict[str, str] | None = None) -> tuple[int, str]:
        """Call the order's notify_url as the gateway does; returns (HTTP status, body)."""
        order = self.orders[out_trade_no]
        params = params or self.notify_params(out_trade_no)
        notify_url = order.params["notify_url"]
        data = None
        if self.notify_method == "POST":
            data = urllib.parse.urlencode(params).encode()
        else:
            notify_url += ("&" if "?" in notify_url else "?") + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(urllib.request.Request(notify_url, data=data), timeout=30) as resp:
                status, body = resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read().decode()
        order.notify_answers.append(body)
        return status, body

    def pay(self, out_trade_no: str) -> str:
        """The buyer pays the order: the notify goes out; returns the merchant's answer body."""
        self.orders[out_trade_no].paid = True
        return self.send_notify(out_trade_no)[1]

    # -- WSGI ----------------------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        if request.path == "/submit.php" and request.method in ("GET", "POST"):
            response = self._submit(request)
        elif request.path == "/pay" and request.method == "POST":
            response = self._pay(request)
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)

    def _refuse(self, message: str) -> Response:
        self.rejections.append(message)
        return Response(message, status=400, mimetype="text/plain")

    def _submit(self, request: Request) -> Response:
        source = request.form if request.method == "POST" else request.args
        params = {k: source.get(k, "") for k in source}
        missing = [name for name in ORDER_FIELDS if not params.get(name)]
        if missing:
            return self._refuse(f"missing {', '.join(missing)}")
        key = self.merchants.get(params["pid"])
        if key is None:
            return self._refuse("unknown merchant")
        if params.get("sign_type", "MD5") != "MD5" or params.get("sign") != epay_sign(params, key):
            return self._refuse("bad signature")
        try:
            money = Decimal(params["money"])
        except InvalidOperation:
            return self._refuse("bad money")
        if money <= 0 or money != money.quantize(Decimal("0.01")):
            return self._refuse("bad money")
        with self._lock:
            existing = self.orders.get(params["out_trade_no"])
            if existing is not None and existing.params["money"] != params["money"]:
                return self._refuse("out_trade_no already used")
            if existing is None:
                existing = GatewayOrder(trade_no=str(next(self._numbers)), params=params)
                self.orders[params["out_trade_no"]] = existing
        page = (f"<!doctype html><title>Cashier</title><h1>Pay {html.escape(params['money'])}</h1>"
                f"<p data-testid=gateway-name>{html.escape(params['name'])}</p>"
                f"<form method=post action=/pay><input type=hidden name=out_trade_no "
                f"value=\"{html.escape(params['out_trade_no'])}\"><button id=confirm type=submit>Confirm payment"
                f"</button></form>")
        return Response(page, mimetype="text/html")

    def _pay(self, request: Request) -> Response:
        out_trade_no = request.form.get("out_trade_no", "")
        if out_trade_no not in self.orders:
            return self._refuse("unknown order")
        self.pay(out_trade_no)
        params = self.notify_params(out_trade_no)
        return_url = self.orders[out_trade_no].params["return_url"]
        target = return_url + ("&" if "?" in return_url else "?") + urllib.parse.urlencode(params)
        return Response(status=302, headers={"Location": target})
