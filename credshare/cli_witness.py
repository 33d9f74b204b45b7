"""``credshare witness``: run a C2SP transparency log witness (c2sp.org/tlog-witness) for a
credshare log, on another organisation's machine (a medical board, FCVS).

    credshare witness key --data-dir D --name NAME
    credshare witness serve --data-dir D --name NAME --logs POLICY_FILE [--host H] [--port P]

``key`` prints the witness's verifier key (a type 0x04 vkey, c2sp.org/tlog-cosignature),
creating the key in ``D/witness.key`` if absent; the log's operator lists it with the URL in
its witness policy. ``serve`` runs the witness under gunicorn and, once listening, prints one
line ``witness <NAME> <vkey> listening on http://HOST:PORT``. ``POLICY_FILE`` is a tlog-policy
file whose ``log <vkey> [<url>]`` lines name the logs to witness. A failure prints
``{"error": code, "detail": ...}`` and exits 1; a usage error exits 2.

The group runs on its own too, ``python -m credshare.cli_witness serve ...``: a witness host
needs nothing of the credential server.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from credshare.cli_io import fail
from credshare.foundation.errors import CredshareError
from credshare.witness_app import WitnessSettings, build_witness, create_witness_app, load_cosigner

MAX_NAME_CHARS = 255
MAX_PATH_CHARS = 4096

_DATA_DIR = click.option("--data-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
                         help="The witness's own data directory (its key and its embedded store).")
_NAME = click.option("--name", required=True,
                     help="The witness's key name, a schema-less URL such as witness.example.org/w1.")


def _bounded(settings: WitnessSettings) -> WitnessSettings:
    if len(settings.name) > MAX_NAME_CHARS:
        raise click.BadParameter(f"at most {MAX_NAME_CHARS} characters", param_hint="--name")
    for hint, path in (("--data-dir", settings.data_dir), ("--logs", settings.logs_file)):
        if len(str(path)) > MAX_PATH_CHARS:
            raise click.BadParameter(f"at most {MAX_PATH_CHARS} characters", param_hint=hint)
    return settings


@click.group("witness")
def witness_group() -> None:
    """Run a C2SP witness that cosigns a credshare log's checkpoints."""


@witness_group.command("key")
@_DATA_DIR
@_NAME
def key_command(data_dir: Path, name: str) -> None:
    """Print the witness's verifier key, creating the key if it is absent."""
    _bounded(WitnessSettings(data_dir, name, Path()))
    try:
        click.echo(load_cosigner(data_dir, name).key.encode())
    except CredshareError as exc:
        fail(exc)


@witness_group.command("serve")
@_DATA_DIR
@_NAME
@click.option("--logs", "logs_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="tlog-policy file whose 'log <vkey> [<url>]' lines are the logs to witness.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8081, show_default=True, help="Port to bind.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True, help="Threads per worker.")
@click.option("--store-uri", default=None, help="mongodb://... for a MongoDB of the witness's own (default: an "
              "embedded store in the data directory).")
def serve_command(data_dir: Path, name: str, logs_file: Path, host: str, port: int, workers: int, threads: int,
                  store_uri: str | None) -> None:
    """Run the witness (gunicorn) and print its name, key and URL once it is listening."""
    from credshare import server

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _bounded(WitnessSettings(data_dir, name, logs_file, store_uri))
    try:
        service, store = build_witness(settings)  # fail now on a bad key, logs file or store, before forking
        store.ping()
        store.close()
    except CredshareError as exc:
        fail(exc)
    shown = f"[{host}]" if ":" in host else host
    banner = f"witness {name} {service.key.encode()} listening on http://{shown}:{port}"
    server.run(lambda: create_witness_app(settings), host=host, port=port, workers=workers, threads=threads,
               banner=banner)


if __name__ == "__main__":
    witness_group(prog_name="credshare witness")
