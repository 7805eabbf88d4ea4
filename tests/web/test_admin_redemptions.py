"""Admin redemption codes: bulk create shown once (copy, CSV), list, disable, delete, delete used."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from app.extensions import db
from app.models import Redemption, RedemptionStatus
from app.services import redemption
from tests.web.conftest import HX, fragment, full


@pytest.mark.parametrize(("who", "status"), [("client", 302), ("user_client", 403)])
def test_codes_page_is_for_admins(request, who, status):
    assert request.getfixturevalue(who).get("/admin/redemptions").status_code == status


def test_bulk_create_shows_codes_once_with_csv(admin_client):
    response = admin_client.post("/admin/redemptions", headers=HX, data={"name": "promo", "quota": "5", "count": "3"})
    assert response.status_code == 200 and "codes-changed" in response.headers["HX-Trigger"]
    body = response.get_data(as_text=True)
    keys = [c.key for c in db.session.query(Redemption).filter_by(name="promo")]
    assert len(keys) == 3 and all(k in body for k in keys)
    assert all(c.quota == 2_500_000 for c in db.session.query(Redemption))
    start = body.index('href="data:text/csv') + 6
    csv_text = unquote(body[start:body.index('"', start)].split(",", 1)[1])
    assert csv_text.splitlines()[0] == "name,quota,code" and keys[0] in csv_text
    page = full(admin_client, "/admin/redemptions")
    assert 'data-testid="codes-created"' not in page


def test_create_error_is_422(admin_client):
    response = admin_client.post("/admin/redemptions", headers=HX, data={"name": "", "quota": "5", "count": "1"})
    assert response.status_code == 422 and 'role="alert"' in response.get_data(as_text=True)


def test_list_full_and_fragment(admin_client, admin_user):
    redemption.create_codes(admin_user, {"name": "alpha", "quota": 100})
    redemption.create_codes(admin_user, {"name": "beta", "quota": 100})
    assert "alpha" in full(admin_client, "/admin/redemptions")
    part = fragment(admin_client, "/admin/redemptions?q=be")
    assert part.lstrip().startswith('<div id="code-list"') and "beta" in part and "alpha" not in part


def test_disable_delete_and_delete_used(admin_client, admin_user, user):
    redemption.create_codes(admin_user, {"name": "a", "quota": 100, "count": 3})
    first, second, third = db.session.query(Redemption).order_by(Redemption.id)
    response = admin_client.post(f"/admin/redemptions/{first.id}/status", headers=HX, data={"status": "3"})
    assert response.status_code == 200 and response.get_data(as_text=True).lstrip().startswith("<tr")
    response = admin_client.post(f"/admin/redemptions/{second.id}/delete", headers=HX)
    assert response.status_code == 200 and response.get_data(as_text=True) == ""
    redemption.redeem(user, third.key)
    response = admin_client.post("/admin/redemptions/delete-invalid", headers=HX)
    assert response.status_code == 200 and "2 used" in response.headers["HX-Trigger"]
    db.session.expire_all()
    assert db.session.get(Redemption, third.id).status == RedemptionStatus.USED
    assert all(c.deleted_at is not None for c in db.session.query(Redemption))
