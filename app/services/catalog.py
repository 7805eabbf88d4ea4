"""What the gateway offers: model prices, groups, the models of each channel type, and the site texts.

Pricing follows new-api's `/api/pricing`: one entry per model that an enabled ability serves, with the
groups that serve it (only the groups the caller may use), `quota_type` 0 (priced by ratio) or 1 (a fixed
price per request), and the ratios. We add the price in US dollars:

    charge in quota  = (prompt_tokens + completion_tokens x completion_ratio) x model_ratio x group_ratio
    dollars          = quota / QuotaPerUnit
    input  $ per 1M  = model_ratio x 1,000,000 / QuotaPerUnit      (= model_ratio x 2 at the default 500,000:
                                                                      "ratio 1 = $0.002 / 1K tokens")
    output $ per 1M  = input $ per 1M x completion_ratio
    fixed price      = model_price dollars per request (quota = model_price x QuotaPerUnit x group_ratio);
                       for the Sora video models dollars per second of video (`price_unit` "second")

new-api's pricing page hard-codes the factor 2 (`model_ratio * 2 * groupRatio`), which is right only while
QuotaPerUnit is 500,000; we derive it from QuotaPerUnit so the dollars match what the wallet is charged.
Prices are for group ratio 1; multiply by `group_ratio[group]` for a group.

Site texts (Notice, About, HomePageContent) are Markdown, returned as HTML sanitised with nh3 (no scripts,
no event handlers, no javascript: links). A text that is only an http(s) URL is returned as is: the
one-api family's front ends show such a page in a frame.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import markdown
import nh3
from sqlalchemy import select

from app.billing.pricing import ModelPriceError, price_for, priced_per_second
from app.extensions import db
from app.models import Ability, Channel
from app.options import options

TOKENS_PER_PRICE_UNIT = 1_000_000
USER_GROUP_DESCRIPTION = "User group"
_BARE_URL = re.compile(r"https?://[^\s<>\"'`]+")
MARKDOWN_EXTENSIONS = ("extra", "sane_lists")


# -- groups --------------------------------------------------------------------------------------------

def group_names() -> list[str]:
    """Every group that has a ratio (GET /api/group/)."""
    return sorted(options().get("GroupRatio"))


def usable_groups(user_group: str | None) -> dict[str, str]:
    """Groups a user may pick for a key: the UserUsableGroups option plus the user's own group."""
    groups = {str(k): str(v) for k, v in options().get("UserUsableGroups").items()}
    if user_group and user_group not in groups:
        groups[user_group] = USER_GROUP_DESCRIPTION
    return groups


def user_groups(user_group: str | None) -> dict[str, dict[str, Any]]:
    """new-api's GET /api/user/self/groups: `{group: {"ratio": r, "desc": text}}` for usable groups
    that have a ratio."""
    ratios = options().get("GroupRatio")
    return {name: {"ratio": ratios[name], "desc": desc}
            for name, desc in usable_groups(user_group).items() if name in ratios}


# -- models --------------------------------------------------------------------------------------------

def models_by_channel_type() -> dict[str, list[str]]:
    """The models configured on the channels of each type, `{"1": ["gpt-4o", ...], ...}`."""
    result: dict[str, set[str]] = {}
    for ctype, models in db.session.execute(select(Channel.type, Channel.models)).all():
        names = {m.strip() for m in (models or "").split(",") if m.strip()}
        result.setdefault(str(ctype), set()).update(names)
    return {ctype: sorted(names) for ctype, names in sorted(result.items(), key=lambda kv: int(kv[0]))}


def all_channel_models() -> list[str]:
    """The union of every channel's models."""
    return sorted({m for names in models_by_channel_type().values() for m in names})


# -- pricing -------------------------------------------------------------------------------------------

def price_entry(model: str) -> dict[str, Any] | None:
    """One model's prices at group ratio 1, from the billing layer's `price_for` (the same lookup the
    relay charges with); None when the model has no price and so cannot be used."""
    try:
        price = price_for(model, "")
    except ModelPriceError:
        return None
    entry: dict[str, Any] = {"model_name": model, "owner_by": "", "model_ratio": 0, "completion_ratio": 0,
                             "model_price": 0, "input_price_per_1m": None, "output_price_per_1m": None,
                             "price_per_request": None}
    if price.per_call:
        entry.update(quota_type=1, model_price=price.model_price, price_per_request=price.model_price,
                     price_unit="second" if priced_per_second(model) else "request")
        return entry
    input_price = price.model_ratio * TOKENS_PER_PRICE_UNIT / price.quota_per_unit
    entry.update(quota_type=0, model_ratio=price.model_ratio, completion_ratio=price.completion_ratio,
                 input_price_per_1m=round(input_price, 6),
                 output_price_per_1m=round(input_price * price.completion_ratio, 6),
                 cache_ratio=price.cache_ratio, create_cache_ratio=price.cache_creation_ratio)
    return entry


def pricing(user_group: str | None = None) -> dict[str, Any]:
    """new-api's GET /api/pricing body (without `success`): `data` (one entry per model an enabled
    ability serves in a group the caller may use), `group_ratio` and `usable_group` of those groups."""
    opts = options().all()
    usable = usable_groups(user_group)
    served: dict[str, set[str]] = {}
    for model, group in db.session.execute(
            select(Ability.model, Ability.group).where(Ability.enabled.is_(True)).distinct()).all():
        if group in usable:
            served.setdefault(model, set()).add(group)
    data = []
    for model in sorted(served):
        entry = price_entry(model)
        if entry is not None:
            entry["enable_groups"] = sorted(served[model])
            data.append(entry)
    ratios = opts["GroupRatio"]
    return {
        "data": data,
        "group_ratio": {g: ratios[g] for g in usable if g in ratios},
        "usable_group": usable,
        "quota_per_unit": opts["QuotaPerUnit"],
        "usd_per_ratio_per_1m": TOKENS_PER_PRICE_UNIT / float(opts["QuotaPerUnit"]),
    }


# -- site texts ----------------------------------------------------------------------------------------

@lru_cache(maxsize=32)
def render_markdown(text: str) -> str:
    """Markdown to HTML that is safe to insert in a page: nh3 keeps formatting, tables, links and images,
    and drops scripts, styles, event-handler attributes and javascript: URLs."""
    if not text or not text.strip():
        return ""
    stripped = text.strip()
    if _BARE_URL.fullmatch(stripped):
        return stripped
    html = markdown.markdown(text, extensions=list(MARKDOWN_EXTENSIONS), output_format="html")
    return nh3.clean(html, link_rel="noopener noreferrer")


def site_text(option_key: str) -> str:
    """The Notice, About or HomePageContent option, rendered (see render_markdown)."""
    return render_markdown(options().get(option_key) or "")
