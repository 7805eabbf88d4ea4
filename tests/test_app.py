"""The factory, configuration from the environment, /healthz and /api/status."""

from __future__ import annotations

import threading

import pytest

from app.config import Config, TestConfig, _instance_secret_key, normalize_database_url
from tests.conftest import build_app


@pytest.mark.parametrize("given, expected", [
    ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
    ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
    ("mysql://u@h/d", "mysql+pymysql://u@h/d"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
])
def test_database_urls_are_normalised(given, expected):
    assert normalize_database_url(given) == expected


def test_secret_key_required_in_production(monkeypatch, tmp_path):
    monkeypatch.setenv("SLUICE_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        Config()


def test_development_secret_is_generated_once(monkeypatch, tmp_path):
    monkeypatch.setenv("SLUICE_ENV", "development")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    first, second = Config().SECRET_KEY, Config().SECRET_KEY
    assert first == second and len(first) > 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_development_secret_created_by_many_at_once_is_one_secret(tmp_path):
    """Workers starting together must agree on the secret (each used to write the same temporary file)."""
    for round_ in range(20):
        instance = tmp_path / str(round_)
        barrier = threading.Barrier(16)
        seen: list[str | BaseException] = []

        def create(instance=instance, barrier=barrier, seen=seen):
            barrier.wait()
            try:
                seen.append(_instance_secret_key(instance))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                seen.append(exc)

        threads = [threading.Thread(target=create) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert set(seen) == {(instance / "secret_key").read_text().strip()}
        assert [p.name for p in instance.iterdir()] == ["secret_key"]  # no temporary file left behind
        assert (instance / "secret_key").stat().st_mode & 0o077 == 0


def test_test_config_leaves_the_deployment_instance_alone(monkeypatch, tmp_path):
    deployment = tmp_path / "deployment"
    monkeypatch.setenv("INSTANCE_PATH", str(deployment))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    assert TestConfig(tmp_path / "test").INSTANCE_PATH == tmp_path / "test"
    assert not (deployment / "secret_key").exists()


def test_defaults(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "REDIS_URL", "PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    config = Config()
    assert config.PORT == 3000
    assert config.REDIS_URL is None
    assert config.SQLALCHEMY_DATABASE_URI == f"sqlite:///{tmp_path / 'sluice.db'}"


def test_bad_integer_env_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(RuntimeError, match="PORT"):
        Config()


def test_healthz_without_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "redis": "not configured"}}


def test_healthz_with_redis(tmp_path, fresh_redis_url):
    app = build_app(tmp_path, REDIS_URL=fresh_redis_url)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json["checks"]["redis"] == "ok"


def test_healthz_reports_unreachable_redis(tmp_path):
    from tests.fixtures.services import free_port

    app = build_app(tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"].startswith("error")


def test_status_is_public_and_complete(client):
    response = client.get("/api/status")
    assert response.status_code == 200
    body = response.json
    assert body["success"] is True
    data = body["data"]
    for field in ("system_name", "version", "setup", "register_enabled", "quota_per_unit", "display_unit",
                  "check_in_enabled", "oauth", "database_type"):
        assert field in data
    assert data["quota_per_unit"] == 500000
    assert data["database_type"] == "sqlite"
    assert data["setup"] is False


def test_pages_redirect_to_setup_until_done(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/setup")


def test_unknown_api_route_is_an_envelope(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json == {"success": False, "message": response.json["message"], "data": None}


def test_unknown_relay_route_is_openai_error(client):
    response = client.post("/v1/no-such-thing", json={})
    assert response.status_code == 404
    assert set(response.json["error"]) == {"message", "type", "param", "code"}


def test_test_config_is_isolated(tmp_path):
    config = TestConfig(tmp_path)
    assert str(tmp_path) in config.SQLALCHEMY_DATABASE_URI


def test_status_reports_an_oauth_provider_only_when_fully_configured(client):
    from app.options import options

    options().update({"GitHubOAuthEnabled": True})
    data = client.get("/api/status").json["data"]
    assert data["github_oauth"] is False and data["github_client_id"] == ""
    options().update({"GitHubClientId": "gh-client", "GitHubClientSecret": "gh-secret"})
    data = client.get("/api/status").json["data"]
    assert data["github_oauth"] is True and data["oauth"]["github_oauth"] is True
    assert data["github_client_id"] == "gh-client"
    assert "gh-secret" not in client.get("/api/status").get_data(as_text=True)
