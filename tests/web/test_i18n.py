"""Chinese and English: the locale choice, and a complete, compiled zh_CN catalogue."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.web.conftest import full

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "app" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"


def test_chinese_from_accept_language(user_client):
    body = user_client.get("/console/keys", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "API 密钥" in body and "创建密钥" in body and '<html lang="zh-CN">' in body


def test_lang_cookie_beats_accept_language(client):
    client.get("/lang/en?next=/")
    body = client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "LLM API gateway" in body


def test_query_parameter_switches_one_page(client):
    assert "大模型 API 网关" in full(client, "/?lang=zh_CN")


def test_compiled_catalogue_matches_the_po_file():
    with open(CATALOG / "messages.po", "rb") as po, open(CATALOG / "messages.mo", "rb") as mo:
        source, compiled = read_po(po), read_mo(mo)
    expected = {m.id: m.string for m in source if m.id and m.string}
    actual = {m.id: m.string for m in compiled if m.id}
    assert actual == expected, "run: .venv/bin/pybabel compile -d app/translations"


def test_every_message_has_a_chinese_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "lazy_gettext", "--no-location", "-o", str(pot), "."], cwd=ROOT, check=True,
                   capture_output=True)
    with open(pot, "rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    with open(CATALOG / "messages.po", "rb") as f:
        translated = {m.id for m in read_po(f) if m.id and m.string}
    missing = sorted(str(m) for m in wanted - translated)
    assert not missing, f"untranslated (see babel.cfg for the commands): {missing}"
