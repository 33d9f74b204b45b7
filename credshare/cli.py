"""The ``credshare`` command line. Errors print ``{"error": code, "detail": ...}`` and exit 1."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from credshare.cli_io import fail
from credshare.cli_issue import (
    issue_command,
    issuer_group,
    reinstate_command,
    revoke_command,
    suspend_command,
)
from credshare.cli_log import log_group
from credshare.cli_sdjwt import sdjwt
from credshare.cli_trust import trust_group
from credshare.cli_verify import verify_command
from credshare.cli_witness import witness_group
from credshare.foundation.errors import CredshareError


@click.group()
def cli() -> None:
    """credshare: verifiable physician credentials, shared field by field."""


cli.add_command(sdjwt)
cli.add_command(log_group)
cli.add_command(witness_group)
cli.add_command(issuer_group)
cli.add_command(issue_command)
cli.add_command(revoke_command)
cli.add_command(suspend_command)
cli.add_command(reinstate_command)
cli.add_command(verify_command)
cli.add_command(trust_group)


@cli.command()
@click.option("--host", default=None, help="Address to bind (default CREDSHARE_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to bind (default CREDSHARE_PORT or 8080).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True, help="Threads per worker.")
@click.option("--demo", is_flag=True, help="Create example issuers and a physician account with credentials first.")
def serve(host: str | None, port: int | None, workers: int, threads: int, demo: bool) -> None:
    """Run the server (gunicorn) and print its URL once it is listening."""
    from credshare import server
    from credshare.compose import build_services

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the options win over the environment, for this process and its workers (the public URL follows them)
    if host:
        os.environ["CREDSHARE_HOST"] = host
    if port:
        os.environ["CREDSHARE_PORT"] = str(port)
    try:
        services = build_services()  # fail now on bad config, before forking
        settings = services.settings
        services.log.status()  # makes the log and witness keys on first run
        services.deployment.record_public_url(settings.public_url)
        welcome = ""
        if demo:
            from credshare.demo import prepare_demo

            made = prepare_demo(services)
            welcome = (f"\ndemo: sign in at {settings.public_url}/sign-in as {made.email} with password {made.password}"
                       f" ({made.credentials} credentials in the wallet)")
        store = services.store
        where = f"{store.backend} store at {store.location()}"
        store.close()
    except CredshareError as exc:
        fail(exc)
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    banner = f"credshare is running at http://{shown}:{settings.port}/ ({where}){welcome}"
    if settings.anchor_schedule_on:
        banner += (f"\nchain anchors: every {settings.anchor_every_checkpoints or '-'} checkpoint(s) / "
                   f"{settings.anchor_every_minutes or '-'} minute(s)")
    server.run(worker_app, host=settings.host, port=settings.port, workers=workers, threads=threads, banner=banner)


def worker_app() -> Any:
    """The app of one ``serve`` worker process, with the anchor schedule's daemon thread when
    one is configured (one per worker; its lease makes exactly one act), stopped at exit."""
    import atexit

    from credshare.holding.deliveries import DeliveryThread
    from credshare.issuing.anchor_schedule import AnchorThread
    from credshare.webapp import create_app

    app = create_app()
    svc = app.extensions["credshare"]
    schedule = svc.anchor_schedule
    if schedule is not None:
        atexit.register(AnchorThread(schedule).start().stop)
    atexit.register(DeliveryThread(svc.notifications_run).start().stop)  # each delivery is leased: one sends it
    return app


def main() -> None:
    cli(prog_name="credshare")


if __name__ == "__main__":
    main()
