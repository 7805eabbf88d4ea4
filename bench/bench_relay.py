#!/usr/bin/env python3
"""Benchmark Sluice's relay with the shared harness (../shared/bench), beside the mock and the floor.

Seeds a throw-away database (a root user, an OpenAI channel at the harness's mock upstream, and one
unlimited key), then runs `run_bench.py --targets direct,relay,floor-gevent,...` with Sluice under
gunicorn and the project's own gunicorn.conf.py, with auth, routing, billing and logging all on.

    bash ../shared/bench/setup.sh                  # once per machine
    .venv/bin/python bench/bench_relay.py          # default scenarios, 2 rounds
    .venv/bin/python bench/bench_relay.py --scenarios ns-c1,ns-c32 --rounds 1 --duration 10
    .venv/bin/python bench/bench_relay.py --database-url postgresql+psycopg://...   # another database

Everything after the options it knows is passed to run_bench.py unchanged.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(os.environ.get("SLUICE_BENCH_HARNESS", ROOT.parent / "shared" / "bench"))
MOCK_PORT = 18000
BENCH_MODELS = ("mock", "mock-d50", "mock-d100")


def seed(env: dict[str, str]) -> str:
    """Create the schema and the rows the benchmark needs; return the API key."""
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    script = f"""
import json
from wsgi import app
from app.extensions import db
from app.models import Channel, Role, Setup, Token, User
from app.options import options
from app.security import hash_secret, key_hint, new_api_key
from app.services.channels import rebuild_abilities
from werkzeug.security import generate_password_hash
with app.app_context():
    user = User(username="bench", password=generate_password_hash("bench-password"), role=Role.ROOT,
                quota=10**15)
    db.session.add_all([user, Setup(id=1, is_setup=True)])
    db.session.flush()
    channel = Channel(type=1, name="mock", key="sk-mock", base_url="http://127.0.0.1:{MOCK_PORT}",
                      models="{",".join(BENCH_MODELS)}", group="default")
    db.session.add(channel)
    db.session.flush()
    rebuild_abilities([channel])
    key = new_api_key()
    db.session.add(Token(user_id=user.id, key_hash=hash_secret(key), key_hint=key_hint(key), name="bench",
                         unlimited_quota=True, expired_time=-1))
    db.session.commit()
    ratios = dict(options().get("ModelRatio"))
    ratios.update({{m: 0.5 for m in {BENCH_MODELS!r}}})
    options().update({{"ModelRatio": json.dumps(ratios)}})
    print(key)
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True,
                         text=True)
    return out.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=3999, help="port for Sluice (default 3999)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--worker-class", default="gevent", help="gunicorn worker class")
    parser.add_argument("--database-url", help="database to benchmark on (default: SQLite in a temp dir)")
    parser.add_argument("--redis-url", help="run Sluice with Redis (caches, pub/sub)")
    parser.add_argument("--targets", default="direct,relay,floor-gevent")
    known, passthrough = parser.parse_known_args()

    workdir = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
    env = {**os.environ, "INSTANCE_PATH": str(workdir), "SECRET_KEY": "bench-secret", "SLUICE_ENV": "production",
           "SESSION_COOKIE_SECURE": "false", "DATABASE_URL": known.database_url or f"sqlite:///{workdir}/bench.db",
           "PORT": str(known.port), "WEB_CONCURRENCY": str(known.workers),
           "GUNICORN_WORKER_CLASS": known.worker_class, "LOG_LEVEL": "WARNING"}
    if known.redis_url:
        env["REDIS_URL"] = known.redis_url
    key = seed(env)
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [
        sys.executable, str(HARNESS / "run_bench.py"), "--targets", known.targets,
        "--relay-url", f"http://127.0.0.1:{known.port}/v1", "--relay-key", key,
        "--relay-cmd", f"exec {gunicorn} -c gunicorn.conf.py wsgi:app", "--relay-cwd", str(ROOT),
        "--relay-health", f"http://127.0.0.1:{known.port}/healthz", "--workers", str(known.workers),
        "--mock-port", str(MOCK_PORT), *passthrough,
    ]
    print(f"sluice bench: database {env['DATABASE_URL']}, {known.workers} x {known.worker_class}", file=sys.stderr)
    return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    raise SystemExit(main())
