"""Admin users page: role guard, list and search, create, edit, manage actions, quota adjustment."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Log, LogType, Role, User, UserStatus
from tests.factories import make_user
from tests.web.conftest import HX, fragment, full


@pytest.mark.parametrize(("who", "status"), [("client", 302), ("user_client", 403)])
def test_users_page_is_for_admins(request, who, status):
    assert request.getfixturevalue(who).get("/admin/users").status_code == status


def test_list_full_and_fragment_with_search(admin_client):
    make_user("carol", display_name="<img src=x onerror=alert(1)>")
    body = full(admin_client, "/admin/users")
    assert "carol" in body and "&lt;img src=x onerror=alert(1)&gt;" in body and "<img src=x" not in body
    part = fragment(admin_client, "/admin/users?q=car")
    assert part.lstrip().startswith('<div id="user-list"') and "carol" in part and "admin</div>" not in part


def test_create_user(admin_client):
    response = admin_client.post("/admin/users", headers=HX,
                                 data={"username": "dave", "password": "password-1", "group": "default"})
    assert response.status_code == 200 and "users-changed" in response.headers["HX-Trigger"]
    assert db.session.query(User).filter_by(username="dave").one().role == Role.USER


def test_create_user_error_is_422(admin_client):
    response = admin_client.post("/admin/users", headers=HX, data={"username": "bad name", "password": "x"})
    assert response.status_code == 422 and 'role="alert"' in response.get_data(as_text=True)


def test_edit_full_fragment_and_save(admin_client):
    target = make_user("erin")
    assert 'data-testid="user-editor"' in full(admin_client, f"/admin/users/{target.id}/edit")
    part = fragment(admin_client, f"/admin/users/{target.id}/edit")
    assert part.lstrip().startswith('<div class="card') and 'value="erin"' in part
    response = admin_client.post(f"/admin/users/{target.id}", headers=HX,
                                 data={"username": "erin", "display_name": "Erin E", "group": "vip"})
    assert response.status_code == 200
    db.session.refresh(target)
    assert (target.display_name, target.group) == ("Erin E", "vip")


def test_quota_adjustment_in_dollars_is_logged(admin_client):
    target = make_user("frank", quota=0)
    response = admin_client.post(f"/admin/users/{target.id}/quota", headers=HX, data={"mode": "add", "amount": "2"})
    assert response.status_code == 200 and "toast" in response.headers["HX-Trigger"]
    db.session.refresh(target)
    assert target.quota == 1_000_000
    assert db.session.query(Log).filter_by(user_id=target.id, type=LogType.MANAGE).count() == 1
    bad = admin_client.post(f"/admin/users/{target.id}/quota", headers=HX, data={"mode": "subtract", "amount": "9"})
    assert bad.status_code == 422


def test_disable_swaps_the_row_and_delete_removes_it(admin_client):
    target = make_user("gina")
    response = admin_client.post(f"/admin/users/{target.id}/manage", headers=HX, data={"action": "disable"})
    assert response.status_code == 200 and response.get_data(as_text=True).lstrip().startswith("<tr")
    db.session.refresh(target)
    assert target.status == UserStatus.DISABLED
    response = admin_client.post(f"/admin/users/{target.id}/manage", headers=HX, data={"action": "delete"})
    assert response.status_code == 200 and response.get_data(as_text=True) == ""


def test_admin_cannot_manage_another_admin(admin_client):
    other = make_user("hank", role=Role.ADMIN)
    assert admin_client.get(f"/admin/users/{other.id}/edit").status_code == 403
    response = admin_client.post(f"/admin/users/{other.id}/manage", headers=HX, data={"action": "disable"})
    assert response.status_code == 403 and "<html" not in response.get_data(as_text=True)
