"""The pricing formula, table-driven, and how prices are looked up from the options."""

from __future__ import annotations

import pytest

from app.billing import pricing
from app.billing.pricing import ModelPriceError, Price
from app.relay.types import Usage
from tests.relay.conftest import set_options


def token_price(model_ratio=1.0, completion_ratio=1.0, group_ratio=1.0, cache_ratio=1.0,
                cache_creation_ratio=1.25) -> Price:
    return Price("m", "default", group_ratio, model_ratio=model_ratio, completion_ratio=completion_ratio,
                 cache_ratio=cache_ratio, cache_creation_ratio=cache_creation_ratio)


@pytest.mark.parametrize(
    ("usage", "ratios", "expected"),
    [
        # (10 + 7 x 4) x 0.075 = 2.85 -> rounded up
        (Usage(10, 7), {"model_ratio": 0.075, "completion_ratio": 4}, 3),
        # cached reads are part of prompt_tokens: 60 uncached + 40 x 0.5
        (Usage(100, 0, cached_tokens=40), {"cache_ratio": 0.5}, 80),
        # cache writes: (80 + 20 x 1.25) x 2
        (Usage(100, 0, cache_creation_tokens=20), {"model_ratio": 2}, 210),
        # everything at once: (50 + 30 x 0.1 + 20 x 1.25 + 10 x 3) x 1.5 x 2 = 324
        (Usage(100, 10, cached_tokens=30, cache_creation_tokens=20),
         {"model_ratio": 1.5, "group_ratio": 2, "completion_ratio": 3, "cache_ratio": 0.1}, 324),
        # tiny but not free: at least 1
        (Usage(3, 0), {"model_ratio": 0.1, "group_ratio": 0.5}, 1),
        # free model or free group: 0
        (Usage(1000, 1000), {"model_ratio": 0}, 0),
        (Usage(1000, 1000), {"group_ratio": 0}, 0),
        # nothing used: 0 even for a paid model
        (Usage(0, 0), {"model_ratio": 5}, 0),
        # float noise does not round up: 100 x 0.075 = 7.5 -> 8, 1000 x 0.07 = 70.00000000000001 -> 70
        (Usage(100, 0), {"model_ratio": 0.075}, 8),
        (Usage(1000, 0), {"model_ratio": 0.07}, 70),
        # cached larger than prompt is clamped
        (Usage(10, 0, cached_tokens=50), {"cache_ratio": 0.5}, 5),
        # transcription by duration: 60 s = 200 tokens at whisper's ratio 15 = $0.006
        (Usage(0, 0, audio_seconds=60.0), {"model_ratio": 15}, 3000),
    ],
)
def test_token_formula(usage, ratios, expected):
    assert token_price(**ratios).quota(usage) == expected


@pytest.mark.parametrize(
    ("model_price", "group_ratio", "calls", "expected"),
    [
        (0.04, 1, 1, 20000),  # $0.04 x 500000
        (0.04, 2, 1, 40000),
        (0.04, 1, 3, 60000),
        (0.0, 1, 1, 0),
        (0.000001, 1, 1, 1),  # 0.5 quota rounds up to 1
    ],
)
def test_call_formula(model_price, group_ratio, calls, expected):
    price = Price("dall-e-3", "default", group_ratio, model_price=model_price)
    assert price.quota(Usage(999, 999), calls=calls) == expected


def test_image_calls_include_size_and_quality():
    assert pricing.image_calls("dall-e-3", 2, "1024x1792", "hd") == 8
    assert pricing.image_calls("dall-e-3", 1, "1024x1024", "standard") == 1
    assert pricing.image_calls("dall-e-2", 3, "512x512", None) == 3


def test_price_lookup_from_options(app):
    set_options(ModelRatio={"gpt-4o": 1.25, "free-model": 0}, CompletionRatio={"gpt-4o": 4},
                ModelPrice={"dall-e-3": 0.04, "gpt-4o-priced": 0.01}, GroupRatio={"default": 1, "vip": 0.5},
                CacheRatio={"gpt-4o": 0.5}, QuotaPerUnit=500000)
    price = pricing.price_for("gpt-4o", "vip")
    assert (price.model_ratio, price.completion_ratio, price.group_ratio, price.cache_ratio) == (1.25, 4, 0.5, 0.5)
    assert not price.per_call
    # a dated snapshot is priced like its family
    assert pricing.price_for("gpt-4o-2024-08-06", "default").model_ratio == 1.25
    # ModelPrice wins and is per call
    assert pricing.price_for("dall-e-3", "default").call_quota() == 20000
    # an unknown group prices at 1
    assert pricing.price_for("gpt-4o", "nosuchgroup").group_ratio == 1
    assert pricing.price_for("free-model", "default").free


def test_unpriced_model_is_refused_unless_self_use(app):
    with pytest.raises(ModelPriceError) as info:
        pricing.price_for("mystery-model", "default")
    assert info.value.status == 400 and info.value.code == "model_price_error"
    set_options(SelfUseModeEnabled=True)
    price = pricing.price_for("mystery-model", "default")
    assert price.unpriced and price.model_ratio == 1 and price.completion_ratio == 1


def test_reservation_estimate(app):
    price = token_price(model_ratio=1, completion_ratio=2)
    assert pricing.reservation(price, 100, 50, floor=0) == 200
    assert pricing.reservation(price, 1, 1, floor=500) == 500  # the PreConsumedQuota floor
    assert pricing.reservation(token_price(model_ratio=0), 1000, 1000, floor=500) == 0  # free holds nothing
    per_call = Price("dall-e-3", "default", 1, model_price=0.04)
    assert pricing.reservation(per_call, 0, 0, calls=2, floor=10**9) == 40000  # exact, no floor
