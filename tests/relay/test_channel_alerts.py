"""The root user gets one e-mail per automatic channel status change (one-api's notifyRootUser), sent by a
background job through a real SMTP server (aiosmtpd), never with the channel's key in it."""

from __future__ import annotations

import time

from app.jobs.channel_alerts import mail_root_about_channel
from app.models import ChannelStatus, Role
from app.relay import health
from tests.factories import make_user
from tests.relay.conftest import channel_row, release, set_options

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ROOT_EMAIL = "root@sluice.test"


def post(client, key):
    return client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key.key}"})


def wait_for_mails(box, count: int, timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(box.messages) < count:
        time.sleep(0.05)
    return list(box.messages)


def settle() -> None:
    """Give a wrongly enqueued job the time to deliver, so "no more mail" is a real check."""
    time.sleep(0.5)


def test_auto_disable_then_reenable_mails_root_once_each(client, admin_client, make_channel, make_token,
                                                          mock_upstream, mail_settings):
    make_user("root", role=Role.ROOT, email=ROOT_EMAIL)
    make_user("second-admin", role=Role.ADMIN, email="admin@sluice.test")
    channel = make_channel(key="sk-revoked-key-0000", name="openai east")
    make_channel(key="sk-fine", priority=-1)
    mock_upstream.bad_keys.add("sk-revoked-key-0000")
    key = make_token()
    assert post(client, key).status_code == 200  # the retry reached the good channel
    assert channel_row(channel)["status"] == ChannelStatus.AUTO_DISABLED

    [disabled] = wait_for_mails(mail_settings, 1)
    assert disabled.recipients == [ROOT_EMAIL]
    assert "openai east" in disabled.message["Subject"] and "disabled" in disabled.message["Subject"]
    assert f"#{channel}" in disabled.text and "status 401" in disabled.text
    assert "sk-revoked-key-0000" not in disabled.message.as_string()

    # The channel is already off: a concurrent or later failure on it changes nothing and mails nothing.
    assert health.disable(channel, 0, "status 401: again") is False
    settle()
    assert len(mail_settings.messages) == 1

    mock_upstream.bad_keys.clear()
    release()
    assert admin_client.get(f"/api/channel/test/{channel}").get_json()["success"] is True
    assert channel_row(channel)["status"] == ChannelStatus.ENABLED
    mails = wait_for_mails(mail_settings, 2)
    assert [m.recipients for m in mails] == [[ROOT_EMAIL], [ROOT_EMAIL]]
    assert "re-enabled" in mails[1].message["Subject"] and "openai east" in mails[1].text
    # Enabling an enabled channel is no change: no third mail.
    assert health.enable(channel, 0) is False
    settle()
    assert len(mail_settings.messages) == 2


def test_no_mail_without_smtp_or_without_a_root_address(client, make_channel, make_token, mock_upstream,
                                                        smtp_server, monkeypatch):
    make_user("root", role=Role.ROOT, email=ROOT_EMAIL)
    enqueued = []
    monkeypatch.setattr("app.jobs.channel_alerts.enqueue", lambda *args, **kw: enqueued.append(args))
    channel = make_channel(key="sk-revoked")
    mock_upstream.bad_keys.add("sk-revoked")
    post(client, make_token())
    assert channel_row(channel)["status"] == ChannelStatus.AUTO_DISABLED
    assert enqueued == []  # SMTPServer is not set: nothing is even queued
    assert smtp_server.messages == []


def test_the_job_masks_keys_and_skips_a_root_without_email(app, make_channel, mail_settings):
    channel = make_channel(key="sk-first-key\nsk-second-key")
    release()
    assert mail_root_about_channel(channel, "ch", False, "status 401: bad key") == "no-address"
    make_user("root", role=Role.ROOT, email=ROOT_EMAIL)
    release()
    reason = "status 401: Incorrect API key provided: sk-second-key (and sk-first-key)"
    assert mail_root_about_channel(channel, "ch", False, reason) == "sent"
    [sent] = mail_settings.messages
    assert "sk-second-key" not in sent.text and "sk-first-key" not in sent.text and "***" in sent.text
    set_options(SMTPServer="")
    assert mail_root_about_channel(channel, "ch", True, "passed a channel test") == "off"
    assert len(mail_settings.messages) == 1
