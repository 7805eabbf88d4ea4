"""Runtime settings: root only, one form per group, JSON fields validated."""

from __future__ import annotations

import pytest

from app.options import get_option
from tests.web.conftest import HX, fragment, full


@pytest.mark.parametrize("group", ["general", "registration", "quota", "checkin", "invitation", "health"])
def test_every_group_renders_full_and_as_fragment(root_client, group):
    assert 'id="settings-panel"' in full(root_client, f"/admin/settings?group={group}")
    part = fragment(root_client, f"/admin/settings?group={group}")
    assert part.lstrip().startswith('<div id="settings-panel"')


@pytest.mark.parametrize(("who", "status"), [("client", 302), ("user_client", 403), ("admin_client", 403)])
def test_settings_are_for_root_only(request, who, status):
    # One client per test: the fixture's app context (and so flask.g) is shared by its requests.
    client = request.getfixturevalue(who)
    assert client.get("/admin/settings").status_code == status
    assert client.post("/admin/settings/general", data={"SystemName": "x"}).status_code == status
    assert get_option("SystemName") != "x"


def test_save_general_settings(root_client):
    response = root_client.post("/admin/settings/general", headers=HX,
                                data={"SystemName": "My Gateway", "DisplayInCurrencyEnabled": "on"})
    assert response.status_code == 200 and "toast" in response.headers["HX-Trigger"]
    assert get_option("SystemName") == "My Gateway"
    assert get_option("DisplayInCurrencyEnabled") is True
    assert get_option("DataExportEnabled") is False  # an unchecked box is "off"


def test_invalid_json_ratio_is_refused(root_client):
    before = get_option("ModelRatio")
    response = root_client.post("/admin/settings/quota", headers=HX, data={"ModelRatio": '{"gpt-4o": "cheap"}'})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'role="alert"' in body and "ModelRatio" in body and "cheap" in body  # what was typed stays
    assert get_option("ModelRatio") == before


def test_valid_json_ratio_is_saved(root_client):
    response = root_client.post("/admin/settings/quota", headers=HX,
                                data={"ModelRatio": '{"my-model": 2.5}', "GroupRatio": '{"default": 1}'})
    assert response.status_code == 200
    assert get_option("ModelRatio") == {"my-model": 2.5}


def test_secret_fields_are_never_shown_and_empty_keeps_them(root_client):
    root_client.post("/admin/settings/registration", data={"GitHubClientSecret": "s3cret-value"})
    assert get_option("GitHubClientSecret") == "s3cret-value"
    assert "s3cret-value" not in full(root_client, "/admin/settings?group=registration")
    root_client.post("/admin/settings/registration", data={"GitHubClientSecret": ""})
    assert get_option("GitHubClientSecret") == "s3cret-value"


def test_unknown_group_is_404(root_client):
    assert root_client.get("/admin/settings?group=nope").status_code == 404
