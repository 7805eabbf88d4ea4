"""Task pages: the user's own Midjourney and Suno tasks and every task for admins, with filters, paging,
safe upstream URLs, and a list that polls itself only while a task runs (286 stops it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.extensions import db
from app.models import Midjourney, Task
from app.relay.tasks.common import DONE
from app.services.tasks import FINISHED_PROGRESS
from app.web.filters import http_url
from tests.conftest import login_client
from tests.factories import make_user
from tests.web.conftest import HX, fragment, full

JAN_15 = int(datetime(2025, 1, 15, 12, tzinfo=UTC).timestamp())
POLL = {**HX, "HX-Trigger": "task-list"}  # what htmx sends when the list polls itself
XSS = "<img src=x onerror=alert(1)>"


def table(html: str) -> str:
    """The task table's body (the query string is echoed elsewhere on the page: form values, links)."""
    return html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]


def add_mj(user, *, mj_id="mj-1", status="SUCCESS", progress="100%", action="IMAGINE", prompt="a cat",
           image_url="https://cdn.example/cat.png", fail_reason="", channel_id=3, submit_time=JAN_15, quota=50_000):
    """A Midjourney row (its times in milliseconds, as the relay writes them)."""
    row = Midjourney(user_id=user.id, mj_id=mj_id, status=status, progress=progress, action=action, prompt=prompt,
                     image_url=image_url, fail_reason=fail_reason, channel_id=channel_id, quota=quota,
                     submit_time=submit_time * 1000, code=1)
    db.session.add(row)
    db.session.commit()
    return row


def add_suno(user, *, task_id="suno-1", status="SUCCESS", progress="100%", action="MUSIC", data=None,
             fail_reason="", channel_id=4, submit_time=JAN_15, quota=20_000):
    """A generic `tasks` row on the Suno platform (times in seconds)."""
    if data is None:
        data = [{"id": "c1", "title": "Mock song", "audio_url": "https://cdn1.suno.ai/c1.mp3",
                 "video_url": "https://cdn1.suno.ai/c1.mp4", "image_url": "https://cdn2.suno.ai/c1.jpeg"}]
    row = Task(user_id=user.id, task_id=task_id, platform="suno", status=status, progress=progress, action=action,
               data=data, fail_reason=fail_reason, channel_id=channel_id, quota=quota, submit_time=submit_time)
    db.session.add(row)
    db.session.commit()
    return row


# -- the user's page ---------------------------------------------------------------------------------------
def test_video_tab_shows_the_users_videos_without_upstream_ids(user_client, user, admin_client):
    props = {"origin_model_name": "sora-2", "seconds": "8", "size": "1280x720", "prompt": "a calico cat",
             "upstream_id": "video_upstream_secret"}
    db.session.add(Task(user_id=user.id, task_id="video_ours1", platform="video", status="IN_PROGRESS",
                        progress="50%", action="GENERATE", properties=props, channel_id=5, quota=400_000,
                        submit_time=JAN_15))
    db.session.commit()
    add_suno(user, task_id="song-elsewhere")
    body = full(user_client, "/console/tasks?platform=video")
    rows = table(body)
    assert "video_ours1" in rows and "a calico cat" in rows and "sora-2 · 8 s · 1280x720" in rows
    assert "song-elsewhere" not in rows and "video_upstream_secret" not in body
    assert "/console/tasks?platform=video" in body and 'data-polling="true"' in body
    assert "video_ours1" in table(full(admin_client, "/admin/tasks?platform=video&action=generate"))


def test_user_tasks_full_page_and_fragment(user_client, user):
    add_mj(user, mj_id="mj-cat")
    body = full(user_client, "/console/tasks")
    assert "mj-cat" in body and "IMAGINE" in body and "a cat" in body and "Succeeded" in body
    assert 'href="https://cdn.example/cat.png" target="_blank" rel="noopener noreferrer"' in body
    assert '<img src="https://cdn.example/cat.png"' in body
    assert 'data-testid="task-tabs"' in body and "/console/tasks?platform=suno" in body
    assert 'href="/console/tasks"' in body  # the nav link
    assert "/admin/tasks" not in body  # no admin link for users
    part = fragment(user_client, "/console/tasks?status=SUCCESS")
    assert part.lstrip().startswith('<div id="task-list"') and "mj-cat" in part
    assert "No task matches" in fragment(user_client, "/console/tasks?status=FAILURE")


def test_suno_tab_lists_clips_as_links(user_client, user):
    add_suno(user, task_id="song-1")
    add_suno(user, task_id="words-1", action="LYRICS",
             data={"id": "words-1", "title": "Mock lyrics", "text": "[Verse]\nla la"})
    add_mj(user, mj_id="mj-elsewhere")
    body = full(user_client, "/console/tasks?platform=suno")
    assert "song-1" in body and "words-1" in body and "mj-elsewhere" not in body
    assert 'href="https://cdn1.suno.ai/c1.mp3" target="_blank" rel="noopener noreferrer"' in body
    assert "Mock lyrics" in body and "[Verse]\nla la" in body and "<details>" in body
    assert "Suno" in body and "$0.04" in body  # quota shown as money (500,000 units make $1)
    part = fragment(user_client, "/console/tasks?platform=suno&action=lyrics")  # actions match in any case
    assert "words-1" in part and "song-1" not in part
    assert 'name="platform" value="suno"' in body


def test_filters_status_action_id_and_dates(user_client, user):
    add_mj(user, mj_id="early", submit_time=JAN_15, action="UPSCALE")
    add_mj(user, mj_id="late", submit_time=JAN_15 + 3 * 86400, status="FAILURE", fail_reason="banned prompt")
    part = fragment(user_client, "/console/tasks?start=2025-01-15&end=2025-01-15")
    assert "early" in part and "late" not in part
    part = fragment(user_client, "/console/tasks?start=2025-01-16")
    assert "late" in part and "early" not in part and "banned prompt" in part
    assert "late" not in fragment(user_client, "/console/tasks?task_id=early")
    assert "late" not in fragment(user_client, "/console/tasks?action=UPSCALE")
    add_suno(user, task_id="s-early", submit_time=JAN_15)
    add_suno(user, task_id="s-late", submit_time=JAN_15 + 3 * 86400)
    part = fragment(user_client, "/console/tasks?platform=suno&end=2025-01-15")
    assert "s-early" in part and "s-late" not in part


def test_bad_filter_is_explained(user_client):
    assert 'role="alert"' in fragment(user_client, "/console/tasks?start=not-a-date")


def test_paging_keeps_filters(user_client, user):
    for n in range(3):
        add_mj(user, mj_id=f"mj-{n}")
    part = fragment(user_client, "/console/tasks?page_size=2&status=SUCCESS")
    assert "p=2" in part and "status=SUCCESS" in part and "platform=midjourney" in part


def test_a_user_never_sees_another_users_tasks(app, user_client, user):
    bob = make_user("bob")
    add_mj(bob, mj_id="bobs-mj", prompt="bob's secret prompt")
    add_suno(bob, task_id="bobs-song")
    add_mj(user, mj_id="alices-mj")
    for url in ("/console/tasks", f"/console/tasks?user_id={bob.id}", "/console/tasks?task_id=bobs-mj",
                "/console/tasks?channel_id=3", "/console/tasks?platform=suno",
                "/console/tasks?platform=suno&task_id=bobs-song"):
        body = full(user_client, url)
        assert "bobs-" not in table(body) and "secret prompt" not in body, url
        assert "bobs-" not in fragment(user_client, url.replace("task_id=bobs", "task_id=x")), url
    assert "alices-mj" in table(full(user_client, f"/console/tasks?user_id={bob.id}"))
    bob_body = full(login_client(app, bob), "/console/tasks")
    assert "bobs-mj" in bob_body and "alices-mj" not in bob_body


# -- admins ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("who", "url", "status"), [
    ("client", "/console/tasks", 302), ("client", "/admin/tasks", 302), ("user_client", "/admin/tasks", 403),
])
def test_guards(request, who, url, status):
    assert request.getfixturevalue(who).get(url).status_code == status


def test_admin_sees_every_task_and_filters_by_user_and_channel(admin_client, user):
    bob = make_user("bob")
    add_mj(user, mj_id="alices-mj", channel_id=3)
    add_mj(bob, mj_id="bobs-mj", channel_id=9)
    body = full(admin_client, "/admin/tasks")
    assert "alices-mj" in body and "bobs-mj" in body and "alice" in body and f"#{bob.id}" in body
    assert 'href="/admin/tasks"' in body  # the admin menu link
    part = fragment(admin_client, f"/admin/tasks?user_id={bob.id}")
    assert "bobs-mj" in part and "alices-mj" not in part
    part = fragment(admin_client, "/admin/tasks?channel_id=3")
    assert "alices-mj" in part and "bobs-mj" not in part
    assert 'role="alert"' in fragment(admin_client, "/admin/tasks?user_id=bob")
    add_suno(bob, task_id="bobs-song", channel_id=9)
    part = fragment(admin_client, f"/admin/tasks?platform=suno&user_id={bob.id}&channel_id=9")
    assert "bobs-song" in part


# -- upstream text and URLs are never markup -------------------------------------------------------------
@pytest.mark.parametrize("url", ["/console/tasks", "/admin/tasks"])
def test_midjourney_text_and_urls_render_as_text(request, user, url):
    client = request.getfixturevalue("admin_client" if url.startswith("/admin") else "user_client")
    add_mj(user, mj_id="xss-1", prompt=XSS, fail_reason=XSS, image_url=XSS)
    add_mj(user, mj_id="xss-2", image_url="javascript:alert(1)", fail_reason="javascript:alert(1)")
    add_mj(user, mj_id="xss-3", image_url=" JavaScript:alert(1)//https://x")
    add_mj(user, mj_id="plain-http", image_url="http://cdn.example/dog.png")
    body = full(client, url)
    assert XSS not in body and "&lt;img src=x onerror=alert(1)&gt;" in body
    assert 'src="x"' not in body and "onerror=alert" not in body.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    assert 'href="javascript' not in body.lower() and 'href=" javascript' not in body.lower()
    assert "javascript:alert(1)" in body  # shown as text
    # http: a link, but no <img> (the CSP allows images from https: only)
    assert 'href="http://cdn.example/dog.png"' in body and 'src="http://cdn.example/dog.png"' not in body


def test_suno_text_and_urls_render_as_text(user_client, user):
    add_suno(user, task_id="xss-song", fail_reason=XSS, data=[
        {"title": XSS, "audio_url": "javascript:alert(1)", "video_url": "data:text/html,<script>x</script>",
         "image_url": "https://ok.example/cover.jpg", "text": XSS}])
    body = full(user_client, "/console/tasks?platform=suno")
    assert XSS not in body and "<script>x" not in body
    assert 'href="javascript' not in body and 'href="data:' not in body
    assert 'href="https://ok.example/cover.jpg"' in body


def test_only_http_urls_become_links():
    assert http_url("https://cdn.example/a.png?x=1") == "https://cdn.example/a.png?x=1"
    assert http_url("HTTP://cdn.example/a") == "HTTP://cdn.example/a"
    for bad in ("javascript:alert(1)", " https://x.example", "https:javascript:alert(1)", "https://",
                "java\tscript:alert(1)", "https://x.example/\nb", "data:image/png;base64,AAAA", "//x.example/a",
                "/relative", "", None, 42, XSS):
        assert http_url(bad) == "", bad


# -- polling -------------------------------------------------------------------------------------------------
def test_list_polls_only_while_a_task_runs_and_286_stops_it(user_client, user):
    running = add_mj(user, mj_id="running", status="IN_PROGRESS", progress="45%", image_url="")
    add_mj(user, mj_id="done")
    body = full(user_client, "/console/tasks?status=")
    assert 'hx-trigger="every 5s"' in body and 'data-polling="true"' in body
    assert '<progress class="task-progress align-middle me-1" max="100" value="45">' in body
    response = user_client.get("/console/tasks?page_size=5", headers=POLL)
    assert response.status_code == 200
    poll = response.get_data(as_text=True)
    assert 'hx-trigger="every 5s"' in poll and "page_size=5" in poll and "In progress" in poll

    running.status, running.progress = "SUCCESS", FINISHED_PROGRESS
    db.session.commit()
    response = user_client.get("/console/tasks?page_size=5", headers=POLL)
    assert response.status_code == 286  # htmx stops polling and swaps in the final list
    poll = response.get_data(as_text=True)
    assert 'data-polling="false"' in poll and "hx-trigger" not in poll and "Succeeded" in poll
    # a filter or paging swap (not the poll) of a finished list is a plain 200
    assert user_client.get("/console/tasks", headers=HX).status_code == 200
    assert "hx-trigger=\"every" not in full(user_client, "/console/tasks")


def test_suno_tab_polls_on_its_own_rows(user_client, user):
    add_mj(user, mj_id="mj-running", status="SUBMITTED", progress="0%")
    add_suno(user, task_id="song-done")
    response = user_client.get("/console/tasks?platform=suno", headers=POLL)
    assert response.status_code == 286
    assert 'hx-trigger="every 5s"' in full(user_client, "/console/tasks?platform=midjourney")


def test_finished_progress_is_the_relays():
    assert FINISHED_PROGRESS == DONE


def test_chinese_page(user_client, user):
    add_mj(user)
    body = user_client.get("/console/tasks", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "<h1 class=\"h3 mb-3\">任务</h1>" in body and "text-bg-success\">成功</span>" in body and "提交时间" in body
