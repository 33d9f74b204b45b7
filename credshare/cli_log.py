"""``credshare log``: inspect the transparency log and check anchor proofs offline (the witness
server another organization runs is ``credshare witness``, :mod:`credshare.cli_witness`)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from credshare.anchoring.note import NoteVerifier
from credshare.anchoring.proof import verify_anchor_proof
from credshare.anchoring.witness import WitnessKey
from credshare.cli_io import fail, read_bytes, read_json, read_json_list, read_text, rpc_chain_check
from credshare.compose import build_services
from credshare.foundation.errors import CredshareError


def _read_json(path: str, what: str) -> Any:
    return read_json(path, what, "proof_malformed")


def load_witness_keys(path: str) -> list[WitnessKey]:
    """A JSON list of witness keys, or ``{"witnesses": [...]}`` as served at /log/witnesses."""
    return [WitnessKey.from_json(k) for k in read_json_list(path, "witnesses", "the witness key file", "witness_malformed")]


@click.group("log")
def log_group() -> None:
    """The transparency log."""


@log_group.command("status")
def status() -> None:
    """Print the log's origin, size, root, key and witnesses as JSON."""
    try:
        svc = build_services()
        click.echo(json.dumps({**svc.log.status(), "witness_quorum": svc.settings.witness_quorum,
                               "store": svc.store.backend}, indent=2))
    except CredshareError as exc:
        fail(exc)


@log_group.command("anchor")
@click.option("--rpc", "rpc_url", required=True, help="Ethereum JSON-RPC endpoint to publish through.")
@click.option("--key-file", required=True, help="File with the anchoring account's private key (hex).")
@click.option("--size", type=click.IntRange(1), default=None, help="Checkpoint to anchor (default: latest).")
def anchor(rpc_url: str, key_file: str, size: int | None) -> None:
    """Publish a checkpoint's root on Ethereum and record the anchor (extra [ethereum])."""
    from credshare.anchoring.ethereum import EthereumAnchorer
    from credshare.anchoring.note import Checkpoint

    try:
        log = build_services().log
        doc = log.checkpoint(size)
        checkpoint = Checkpoint.parse(doc["note"].partition("\n\n")[0] + "\n")
        anchored = EthereumAnchorer(rpc_url, read_text(key_file).strip()).publish(
            checkpoint.origin, checkpoint.size, checkpoint.root)
        log.add_chain_anchor(checkpoint.size, anchored.to_json())
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps(anchored.to_json(), indent=2))


@log_group.command("verify-proof")
@click.argument("proof_file")
@click.option("--leaf-file", required=True, help="The logged bytes: the credential's issuer-signed JWT.")
@click.option("--log-key", "log_key_file", required=True, help="File with the log's verifier key (GET /log/key).")
@click.option("--witness-keys", "witness_file", default=None, help="Witness keys (GET /log/witnesses).")
@click.option("--quorum", type=click.IntRange(1), default=None, help="Cosignatures required (default: all).")
@click.option("--rpc", "rpc_urls", multiple=True, help="Ethereum JSON-RPC endpoint for chain anchors (repeat).")
def verify_proof(proof_file: str, leaf_file: str, log_key_file: str, witness_file: str | None,
                 quorum: int | None, rpc_urls: tuple[str, ...]) -> None:
    """Check an anchor proof with no server; print the verdict, exit 0 only if verified."""
    try:
        proof = _read_json(proof_file, "the proof")
        leaf = read_bytes(leaf_file).strip()
        log_key = NoteVerifier.decode(read_text(log_key_file))
        witnesses = load_witness_keys(witness_file) if witness_file else None
        verdict = verify_anchor_proof(proof, leaf, log_key=log_key, witness_keys=witnesses, quorum=quorum,
                                      chain_check=rpc_chain_check(rpc_urls))
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps(verdict.to_json(), indent=2))
    sys.exit(0 if verdict.verified else 1)
