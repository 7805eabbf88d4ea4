"""Flask CLI commands: root bootstrap, RQ worker and cron with the app context."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app.extensions import db


@click.command("create-root")
@click.option("--username", default="root", show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def create_root_command(username: str, password: str) -> None:
    """Create the root user for a headless deploy (the same rules as the /setup page)."""
    from app.errors import AppError
    from app.services.setup import perform_setup

    try:
        user = perform_setup(username, password, password)
    except AppError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"root user {user.username!r} created (id {user.id})")


@click.command("rq-worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--with-scheduler", is_flag=True, help="Also run RQ's scheduler for delayed jobs.")
@with_appcontext
def rq_worker_command(queues: tuple[str, ...], burst: bool, with_scheduler: bool) -> None:
    """Run an RQ worker whose jobs get the app context and a fresh database pool after fork."""
    from rq import Worker

    from app.jobs.queues import QUEUES

    redis = current_app.extensions.get("sluice_redis")
    if redis is None:
        raise click.ClickException("REDIS_URL is not set; without Redis, jobs run inside the web process")
    app = current_app._get_current_object()

    class AppWorker(Worker):
        def main_work_horse(self, job, queue):
            # The forked horse must not share the parent's pooled connections.
            with app.app_context():
                db.engine.dispose(close=False)
                try:
                    return super().main_work_horse(job, queue)
                finally:
                    db.session.remove()

    worker = AppWorker(list(queues or QUEUES), connection=redis)
    worker.work(burst=burst, with_scheduler=with_scheduler)


@click.command("rq-cron")
@with_appcontext
def rq_cron_command() -> None:
    """Enqueue the periodic jobs of app/jobs/schedule.py on their cron strings (run exactly one)."""
    from rq.cron import create_cron

    import app.jobs.schedule  # noqa: F401 - registers the schedule with rq.cron

    redis = current_app.extensions.get("sluice_redis")
    if redis is None:
        raise click.ClickException("REDIS_URL is not set; without Redis the web process runs the schedule")
    create_cron(redis).start()


@click.command("import-oneapi")
@click.option("--database-url", required=True,
              help="The one-api / new-api / Veloera database: a URL such as sqlite:////data/one-api.db, "
                   "postgres://user:pass@host/oneapi or mysql://user:pass@host/oneapi, or one-api's SQL_DSN "
                   "as it is (user:pass@tcp(host:3306)/oneapi).")
@click.option("--flavor", type=click.Choice(["auto", "one-api", "new-api", "veloera"]), default="auto",
              show_default=True,
              help="Which product wrote the database (decides how channel types are numbered).")
@with_appcontext
def import_oneapi_command(database_url: str, flavor: str) -> None:
    """Import users, API keys, channels and redemption codes from one-api / new-api / Veloera; safe to run again."""
    from app.errors import AppError
    from app.services.oneapi_import import import_database

    try:
        summary = import_database(database_url, flavor=flavor)
    except AppError as exc:
        raise click.ClickException(exc.message) from None
    for line in summary.lines():
        click.echo(line)


def register_cli(app) -> None:
    from app.services.stats import register_usage_cli

    for command in (create_root_command, rq_worker_command, rq_cron_command, import_oneapi_command):
        app.cli.add_command(command)
    register_usage_cli(app)  # flask usage verify|repair
