"""Changes an admin makes to a user reach the relay's caches at once: a disabled user's keys stop."""

from __future__ import annotations

import openai
import pytest

from app.models import Role
from tests.conftest import login_client
from tests.factories import make_user
from tests.relay.conftest import release


def test_disabled_user_is_refused_on_the_next_request(app, make_channel, make_token, sdk):
    make_channel(models=("gpt-4o-mini",))
    key = make_token()
    client = sdk(key.key)
    assert client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

    admin = make_user("boss", role=Role.ROOT)
    response = login_client(app, admin).post("/api/user/manage", json={"id": key.user_id, "action": "disable"})
    assert response.status_code == 200, response.json
    release()

    with pytest.raises((openai.AuthenticationError, openai.PermissionDeniedError)):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
