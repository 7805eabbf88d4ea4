"""Prices: the only place where ratio arithmetic lives.

new-api's formula (relay/helper/price.go, relay/compatible_handler.go), in quota units
(QuotaPerUnit quota = 1 USD; model ratio 1 = $0.002 per 1K prompt tokens):

    token-priced:  quota = ceil((uncached_prompt + cached x cache_ratio + cache_creation x cache_creation_ratio
                                 + completion x completion_ratio) x model_ratio x group_ratio)
                   where uncached_prompt = prompt - cached - cache_creation (OpenAI's prompt_tokens
                   include cached reads), at least 1 when the ratio product is > 0 and any token was used,
                   0 when no token was used at all;
    call-priced:   quota = ceil(ModelPrice[model] (USD) x QuotaPerUnit x group_ratio x calls).
                   (videos: ModelPrice is USD per second and calls = seconds x size factor)

A ModelPrice entry wins over a ModelRatio entry. The model priced is the one the client asked for,
never the channel's mapped name. A model with neither is refused with `model_price_error` unless
SelfUseModeEnabled, where it is priced at ratio 1 (completion ratio 1).
Transcriptions billed by duration count AUDIO_TOKENS_PER_SECOND prompt tokens per second, chosen so
that whisper-1's default ratio 15 gives OpenAI's $0.006 per minute.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from app.errors import AppError
from app.options import VIDEO_PRICE_PER_SECOND, options

DEFAULT_CACHE_RATIO = 1.0  # no discount for cached reads unless CacheRatio says so
DEFAULT_CACHE_CREATION_RATIO = 1.25  # Anthropic's 5-minute cache write price, new-api's default
AUDIO_TOKENS_PER_SECOND = 10 / 3
# dall-e-3 costs twice as much for the tall/wide sizes and for quality "hd" (OpenAI's price list).
IMAGE_SIZE_FACTOR = {"dall-e-3": {"1024x1792": 2.0, "1792x1024": 2.0}}
IMAGE_QUALITY_FACTOR = {"dall-e-3": {"hd": 2.0}, "gpt-image-1": {"medium": 4.0, "high": 16.0}}
# Videos are priced per second (ModelPrice); sora-2-pro's large sizes cost $0.50/s instead of $0.30/s.
VIDEO_SIZE_FACTOR = {"sora-2-pro": {"1024x1792": 5 / 3, "1792x1024": 5 / 3}}
_DATE_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")


class ModelPriceError(AppError):
    status = 400
    error_type = "invalid_request_error"
    code = "model_price_error"


def _round_quota(value: float) -> int:
    """Round up, ignoring float noise below 1e-6 (0.075 x 100 must be 8, not 7.500000001 -> 8 by luck)."""
    return math.ceil(round(value, 6))


@dataclass(frozen=True, slots=True)
class Price:
    """The ratios in force for one (model, group) at the time of the request."""

    model: str
    group: str
    group_ratio: float
    model_ratio: float = 0.0
    completion_ratio: float = 1.0
    cache_ratio: float = DEFAULT_CACHE_RATIO
    cache_creation_ratio: float = DEFAULT_CACHE_CREATION_RATIO
    model_price: float | None = None  # USD per call when the model is call-priced
    quota_per_unit: float = 500000.0
    unpriced: bool = False  # priced by SelfUseModeEnabled

    @property
    def per_call(self) -> bool:
        return self.model_price is not None

    @property
    def free(self) -> bool:
        if self.per_call:
            return self.model_price == 0 or self.group_ratio == 0
        return self.model_ratio == 0 or self.group_ratio == 0

    def call_quota(self, calls: float = 1) -> int:
        """Quota of `calls` calls of a call-priced model (images: calls include size/quality factors)."""
        if self.model_price is None:
            raise ValueError(f"{self.model} is not priced per call")
        return _round_quota(self.model_price * self.quota_per_unit * self.group_ratio * calls)

    def token_quota(self, usage: Any) -> int:
        """Quota for `usage` (an object with the fields of app.relay.types.Usage) of a token-priced model."""
        return self.tokens_quota(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens,
                                 usage.cache_creation_tokens, usage.audio_seconds)

    def tokens_quota(self, prompt: int, completion: int, cached: int = 0, creation: int = 0,
                     audio_seconds: float | None = None) -> int:
        """new-api's token formula (see the module docstring)."""
        if audio_seconds is not None:
            prompt += math.ceil(audio_seconds * AUDIO_TOKENS_PER_SECOND)
        cached = min(max(cached, 0), prompt)
        creation = min(max(creation, 0), prompt - cached)
        if prompt + completion <= 0:
            return 0
        weighted = ((prompt - cached - creation) + cached * self.cache_ratio
                    + creation * self.cache_creation_ratio + completion * self.completion_ratio)
        ratio = self.model_ratio * self.group_ratio
        quota = _round_quota(weighted * ratio)
        return max(quota, 1) if ratio > 0 else 0

    def quota(self, usage: Any, calls: float = 1) -> int:
        """What a finished request costs: per call if call-priced, else by tokens."""
        return self.call_quota(calls) if self.per_call else self.token_quota(usage)

    def log_fields(self) -> dict[str, Any]:
        """The ratios as written to the log row's `other` JSON (new-api's names)."""
        if self.per_call:
            return {"model_price": self.model_price, "group_ratio": self.group_ratio, "model_ratio": 0,
                    "completion_ratio": 0}
        return {"model_ratio": self.model_ratio, "group_ratio": self.group_ratio,
                "completion_ratio": self.completion_ratio, "cache_ratio": self.cache_ratio,
                "cache_creation_ratio": self.cache_creation_ratio, "model_price": -1}


def _lookup(table: dict[str, Any], model: str) -> Any:
    """`table[model]`, else `table` at the model name without a date suffix (gpt-4o-2024-08-06 -> gpt-4o)."""
    value = table.get(model)
    if value is None and model[-1:].isdigit():
        base = _DATE_SUFFIX.sub("", model)
        if base != model:
            value = table.get(base)
    return value


def group_ratio(group: str) -> float:
    ratio = options().get("GroupRatio").get(group)
    return 1.0 if ratio is None else float(ratio)


def price_for(model: str, group: str) -> Price:
    """The price of `model` for a key in `group`; raises ModelPriceError when the model has no price."""
    store = options()
    g_ratio = group_ratio(group)
    per_unit = float(store.get("QuotaPerUnit"))
    model_price = _lookup(store.get("ModelPrice"), model)
    if model_price is not None:
        return Price(model, group, g_ratio, model_price=float(model_price), quota_per_unit=per_unit)
    model_ratio = _lookup(store.get("ModelRatio"), model)
    unpriced = model_ratio is None
    if unpriced:
        if not store.get("SelfUseModeEnabled"):
            raise ModelPriceError(f"model {model} has no price configured; ask the administrator to set "
                                  "a model ratio or price for it")
        model_ratio = 1.0
    completion = 1.0 if unpriced else _lookup(store.get("CompletionRatio"), model)
    cache = _lookup(store.get("CacheRatio"), model)
    creation = _lookup(store.get("CacheCreationRatio"), model)
    return Price(
        model, group, g_ratio, model_ratio=float(model_ratio),
        completion_ratio=1.0 if completion is None else float(completion),
        cache_ratio=DEFAULT_CACHE_RATIO if cache is None else float(cache),
        cache_creation_ratio=DEFAULT_CACHE_CREATION_RATIO if creation is None else float(creation),
        quota_per_unit=per_unit, unpriced=unpriced,
    )


def image_calls(model: str, n: int, size: str | None, quality: str | None) -> float:
    """How many "calls" an image request is worth: n x size factor x quality factor."""
    size_factor = IMAGE_SIZE_FACTOR.get(model, {}).get(size or "", 1.0)
    quality_factor = IMAGE_QUALITY_FACTOR.get(model, {}).get(quality or "", 1.0)
    return n * size_factor * quality_factor


def priced_per_second(model: str) -> bool:
    """True for the video models whose ModelPrice is USD per second (the default Sora prices); what the
    price list shows. /v1/videos charges any model per second."""
    return _DATE_SUFFIX.sub("", model) in VIDEO_PRICE_PER_SECOND or model in VIDEO_PRICE_PER_SECOND


def video_calls(model: str, seconds: int, size: str) -> float:
    """How many "calls" a video is worth: its seconds x the size factor (ModelPrice is USD per second)."""
    factor = VIDEO_SIZE_FACTOR.get(_DATE_SUFFIX.sub("", model), {}).get(size, 1.0)
    return seconds * factor


def reservation(price: Price, prompt_tokens: int, completion_tokens: int, calls: float = 1,
                floor: int | None = None) -> int:
    """Quota to hold before the upstream call.

    Call-priced: the exact price. Token-priced: the formula on the estimated prompt and completion
    tokens, raised to `floor` (PreConsumedQuota by default) so that a cheap-looking request still
    holds something. Free models hold nothing.
    """
    if price.free:
        return 0
    if price.per_call:
        return price.call_quota(calls)
    quota = price.tokens_quota(prompt_tokens, completion_tokens)
    if floor is None:
        floor = int(options().get("PreConsumedQuota"))
    return max(quota, floor)
