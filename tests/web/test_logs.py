"""Log pages: the user's own logs and every log for admins, with filters, paging and row details."""

from __future__ import annotations

import pytest

from tests.factories import make_user
from tests.web.conftest import fragment, full
from tests.web.usage_rows import add_usage


def test_user_logs_full_and_fragment_with_details(user_client, user):
    add_usage(user, model="gpt-4o-mini", token_name="my-key")
    body = full(user_client, "/console/logs")
    assert "gpt-4o-mini" in body and "my-key" in body
    assert "model 0.075 × completion 4 × group 1" in body and "321 ms" in body
    assert "Channels tried" not in body
    part = fragment(user_client, "/console/logs?model_name=gpt-4o-mini&type=2")
    assert part.lstrip().startswith('<div id="log-list"') and "gpt-4o-mini" in part
    assert "No log matches" in fragment(user_client, "/console/logs?model_name=other")


def test_user_sees_only_own_logs(user_client, admin_user):
    add_usage(admin_user, token_name="admins-key")
    assert "admins-key" not in full(user_client, "/console/logs")


def test_bad_filter_is_explained(user_client):
    assert 'role="alert"' in fragment(user_client, "/console/logs?start=not-a-date")


def test_paging_keeps_filters(user_client, user):
    for _ in range(3):
        add_usage(user)
    part = fragment(user_client, "/console/logs?page_size=2&model_name=gpt-4o-mini")
    assert "p=2" in part and "model_name=gpt-4o-mini" in part


@pytest.mark.parametrize(("who", "status"), [("client", 302), ("user_client", 403)])
def test_all_logs_are_for_admins(request, who, status):
    assert request.getfixturevalue(who).get("/admin/logs").status_code == status


def test_admin_logs_filter_by_user(admin_client):
    bob, eve = make_user("bob"), make_user("eve")
    add_usage(bob, channel_id=7)
    add_usage(eve)
    body = full(admin_client, "/admin/logs")
    assert "bob" in body and "eve" in body and "Channels tried" in body
    part = fragment(admin_client, "/admin/logs?username=bob")
    assert "bob" in part and ">eve<" not in part
