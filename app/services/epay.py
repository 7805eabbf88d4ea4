"""The epay (易支付) gateway protocol: signing an order for /submit.php and verifying a notify.

The wire format every epay-compatible gateway speaks (and new-api's go-epay client sends): the merchant
posts `pid, type, out_trade_no, notify_url, return_url, name, money, sign, sign_type=MD5` to
`{gateway}/submit.php`; once paid, the gateway calls `notify_url` (GET query or POST form) with
`pid, trade_no, out_trade_no, type, name, money, trade_status, sign, sign_type` and expects the body
`success`. The signature: the non-empty parameters except `sign` and `sign_type`, sorted by name, joined
as `k=v` with `&`, the merchant key appended, MD5 in lower-case hex.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SUBMIT_PATH = "/submit.php"
TRADE_SUCCESS = "TRADE_SUCCESS"
UNSIGNED = ("sign", "sign_type")


def sign(params: Mapping[str, str], key: str) -> str:
    """The MD5 signature of `params` with the merchant `key`."""
    pairs = sorted((name, str(value)) for name, value in params.items()
                   if name not in UNSIGNED and value is not None and str(value) != "")
    text = "&".join(f"{name}={value}" for name, value in pairs) + key
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - MD5 is the protocol's choice


def signed(params: Mapping[str, str], key: str) -> dict[str, str]:
    """`params` with `sign` and `sign_type` added, ready to post to the gateway."""
    out = {name: str(value) for name, value in params.items()}
    out["sign"] = sign(out, key)
    out["sign_type"] = "MD5"
    return out


def verify(params: Mapping[str, str], key: str) -> bool:
    """True when `params` carry a valid MD5 signature made with `key` (constant-time comparison)."""
    given = params.get("sign")
    if not key or not isinstance(given, str) or not given:
        return False
    if params.get("sign_type", "MD5").upper() != "MD5":
        return False
    return hmac.compare_digest(sign(params, key), given.lower())


def submit_url(gateway: str) -> str:
    """`{gateway}/submit.php`, whether or not the configured address ends with a slash."""
    return gateway.rstrip("/") + SUBMIT_PATH
