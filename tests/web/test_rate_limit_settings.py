"""The request rate limit options on the admin settings page (the limits themselves: tests/relay/test_rate_limit.py)."""

from __future__ import annotations

from app.options import get_option
from tests.web.conftest import HX

FORM = {"ModelRequestRateLimitEnabled": "on", "ModelRequestRateLimitDurationMinutes": "5",
        "ModelRequestRateLimitCount": "100", "ModelRequestRateLimitSuccessCount": "50",
        "ModelRequestRateLimitGroup": '{"vip": [0, 2000]}'}


def test_root_sets_the_limits_on_their_own_settings_group(root_client):
    page = root_client.get("/admin/settings?group=ratelimit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="ModelRequestRateLimitGroup"' in html and "Successful requests per user in the window" in html
    saved = root_client.post("/admin/settings/ratelimit", headers=HX, data=FORM)
    assert saved.status_code == 200
    assert get_option("ModelRequestRateLimitEnabled") is True
    assert get_option("ModelRequestRateLimitDurationMinutes") == 5
    assert (get_option("ModelRequestRateLimitCount"), get_option("ModelRequestRateLimitSuccessCount")) == (100, 50)
    assert get_option("ModelRequestRateLimitGroup") == {"vip": [0, 2000]}


def test_a_bad_group_value_is_refused_and_nothing_is_saved(root_client):
    refused = root_client.post("/admin/settings/ratelimit", headers=HX,
                               data={**FORM, "ModelRequestRateLimitGroup": '{"vip": [-1, 5]}'})
    assert refused.status_code == 422
    assert "[count, successCount]" in refused.get_data(as_text=True)
    assert get_option("ModelRequestRateLimitEnabled") is False and get_option("ModelRequestRateLimitCount") == 0
