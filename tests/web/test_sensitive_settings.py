"""The sensitive-word options on the admin settings page (the filtering itself: tests/relay/test_sensitive.py)."""

from __future__ import annotations

from app.options import get_option
from tests.web.conftest import HX


def test_root_sets_the_words_on_the_settings_page(root_client):
    page = root_client.get("/admin/settings?group=sensitive")
    assert page.status_code == 200 and 'name="SensitiveWords"' in page.get_data(as_text=True)
    saved = root_client.post("/admin/settings/sensitive", headers=HX, data={
        "CheckSensitiveEnabled": "on", "CheckSensitiveOnPromptEnabled": "on", "SensitiveWords": " one \n\n two\n"})
    assert saved.status_code == 200
    assert get_option("CheckSensitiveEnabled") is True and get_option("SensitiveWords") == ["one", "two"]
