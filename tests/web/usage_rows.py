"""Usage rows for page tests: one consume log and its hourly quota_data bucket, written with the same
ledger functions the relay's settlement uses."""

from __future__ import annotations

import time

from app.billing.ledger import insert_log, transaction, upsert_quota_data
from app.extensions import db
from app.models import LogType

DEFAULT_OTHER = {"model_ratio": 0.075, "completion_ratio": 4, "group_ratio": 1, "model_price": -1, "frt": 321}


def add_usage(user, *, model="gpt-4o-mini", quota=1500, prompt=100, completion=20, token_id=0, token_name="k1",
              channel_id=0, when: int | None = None, other: dict | None = None) -> None:
    when = when or int(time.time())
    db.session.rollback()  # the test's own read transaction must not hold SQLite's lock
    with transaction(db.engine) as conn:
        insert_log(conn, {
            "user_id": user.id, "username": user.username, "type": LogType.CONSUME, "model_name": model,
            "quota": quota, "prompt_tokens": prompt, "completion_tokens": completion, "token_id": token_id,
            "token_name": token_name, "channel_id": channel_id, "created_at": when, "use_time": 1,
            "group": "default", "request_id": "req-1", "is_stream": False, "content": "",
            "other": (other if other is not None else DEFAULT_OTHER) | {"admin_info": {"use_channel": [channel_id]}}})
        upsert_quota_data(conn, user_id=user.id, username=user.username, model_name=model, token_id=token_id,
                          channel_id=channel_id, created_at=when, quota=quota, token_used=prompt + completion)
