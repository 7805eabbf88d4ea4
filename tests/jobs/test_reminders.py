"""Low-balance reminders: one e-mail per fall below QuotaRemindThreshold, through a real SMTP server."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.jobs import reminders
from app.jobs.schedule import SCHEDULE
from app.models import User, UserStatus
from app.options import options
from tests.conftest import build_app
from tests.fixtures.services import free_port
from tests.relay.conftest import create_user, set_options

THRESHOLD = 1000


def user_with(quota: int, *, email: str | None = "low@example.com", used: int = 500, **fields) -> int:
    user_id = create_user(quota=quota, email=email, **fields)
    with db.engine.begin() as conn:
        conn.execute(update(User).where(User.id == user_id).values(used_quota=used))
    return user_id


def set_quota(user_id: int, quota: int) -> None:
    with db.engine.begin() as conn:
        conn.execute(update(User).where(User.id == user_id).values(quota=quota))


def setting(user_id: int) -> dict:
    with db.engine.connect() as conn:
        raw = conn.execute(select(User.setting).where(User.id == user_id)).scalar_one()
    return json.loads(raw) if raw else {}


def test_runs_every_five_minutes():
    assert {e.func: e.cron for e in SCHEDULE}[reminders.send_low_quota_reminders] == "*/5 * * * *"


def test_off_without_a_threshold_or_without_mail(app, smtp_server):
    user_with(10)
    assert reminders.send_low_quota_reminders() == {"off": True}  # threshold 0 (the default)
    set_options(QuotaRemindThreshold=THRESHOLD)
    assert reminders.send_low_quota_reminders() == {"off": True}  # SMTP not set up
    assert smtp_server.messages == []


def test_one_mail_per_crossing(app, mail_settings):
    set_options(QuotaRemindThreshold=THRESHOLD, SystemName="Sluice Test")
    low = user_with(999, email="low@example.com")
    with db.engine.begin() as conn:  # other keys of the setting JSON survive the marker's comings and goings
        conn.execute(update(User).where(User.id == low).values(setting='{"notify_type":"email"}'))

    assert reminders.send_low_quota_reminders() == {"rearmed": 0, "sent": 1, "failed": 0, "busy": 0, "unreadable": 0}
    [message] = mail_settings.messages
    assert message.recipients == ["low@example.com"]
    assert message.message["Subject"] == "Sluice Test: your balance is running low"
    assert "is $0.001998, below $0.002" in message.text  # DisplayInCurrencyEnabled (the default)
    assert "https://gateway.sluice.test/console/wallet" in message.text
    assert setting(low)["notify_type"] == "email" and setting(low)[reminders.REMINDED_KEY] > 0

    assert reminders.send_low_quota_reminders()["sent"] == 0  # still low, already reminded
    set_quota(low, 500)
    assert reminders.send_low_quota_reminders()["sent"] == 0  # lower still: the same crossing
    assert len(mail_settings.messages) == 1

    set_quota(low, THRESHOLD)  # topped up: at the threshold is no longer below it
    assert reminders.send_low_quota_reminders() == {"rearmed": 1, "sent": 0, "failed": 0, "busy": 0, "unreadable": 0}
    assert setting(low) == {"notify_type": "email"}
    set_quota(low, 10)  # spent down again: a new crossing, a new mail
    assert reminders.send_low_quota_reminders()["sent"] == 1
    assert len(mail_settings.messages) == 2


def test_who_is_not_reminded(app, mail_settings):
    set_options(QuotaRemindThreshold=THRESHOLD)
    user_with(5000, email="rich@example.com")
    user_with(10, email=None)
    user_with(10, email="")
    user_with(0, email="fresh@example.com", used=0)  # never spent anything: not a fall below
    user_with(10, email="off@example.com", status=UserStatus.DISABLED)
    odd = user_with(10, email="odd@example.com")
    with db.engine.begin() as conn:  # not a JSON object: left as it is, and no mail every 5 minutes
        conn.execute(update(User).where(User.id == odd).values(setting="[1, 2]"))
    summary = reminders.send_low_quota_reminders()
    assert summary["sent"] == 0 and summary["unreadable"] == 1
    assert mail_settings.messages == []
    with db.engine.connect() as conn:
        assert conn.execute(select(User.setting).where(User.id == odd)).scalar_one() == "[1, 2]"


def test_a_failed_mail_is_retried_next_run(app, mail_settings):
    set_options(QuotaRemindThreshold=THRESHOLD)
    low = user_with(1, email="retry@example.com")
    options().update({"SMTPPort": free_port()})  # nothing listens there
    assert reminders.send_low_quota_reminders()["failed"] == 1
    assert reminders.REMINDED_KEY not in setting(low)
    options().update({"SMTPPort": mail_settings.port})
    assert reminders.send_low_quota_reminders()["sent"] == 1
    assert mail_settings.last_to("retry@example.com")


def test_a_relayed_request_that_crosses_the_threshold_triggers_one_mail(client, app, mail_settings, make_channel,
                                                                        make_token):
    set_options(QuotaRemindThreshold=THRESHOLD)
    make_channel()
    key = make_token(create_user(quota=THRESHOLD + 1, email="spender@example.com"))
    assert reminders.send_low_quota_reminders()["sent"] == 0  # above the threshold, nothing spent
    answer = client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key.key}"},
                         json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200
    assert reminders.send_low_quota_reminders()["sent"] == 1
    assert mail_settings.last_to("spender@example.com")


def race_two_reminders(app, box) -> None:
    """Two runs at once (the lock aside): the compare-and-set marker lets only one of them send."""
    set_options(QuotaRemindThreshold=THRESHOLD)
    user_with(1, email="once@example.com")
    rows = reminders._user_batch(THRESHOLD, below=True, after_id=0)
    results: list[str] = []
    barrier = threading.Barrier(2)

    def run():
        with app.app_context():
            barrier.wait()
            results.append(reminders._remind(rows[0], THRESHOLD))
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(results) == ["busy", "sent"]
    assert len(box.messages) == 1


def test_overlapping_runs_mail_once(app, mail_settings):
    race_two_reminders(app, mail_settings)


@pytest.mark.parametrize("url_fixture", ["fresh_postgres_url", "fresh_mysql_url"])
def test_overlapping_runs_mail_once_on_server_databases(request, tmp_path, tiktoken_cache, smtp_server,
                                                        url_fixture):
    server_app = build_app(tmp_path, request.getfixturevalue(url_fixture), TIKTOKEN_CACHE_DIR=tiktoken_cache)
    with server_app.app_context():
        options().update({"SMTPServer": smtp_server.host, "SMTPPort": smtp_server.port, "SMTPFrom": "n@sluice.test"})
        race_two_reminders(server_app, smtp_server)
        assert reminders.send_low_quota_reminders()["sent"] == 0
        db.session.remove()
        db.engine.dispose()
