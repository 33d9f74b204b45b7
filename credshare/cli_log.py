"""``credshare log``: inspect the transparency log and check anchor proofs offline (the witness
server another organization runs is ``credshare witness``, :mod:`credshare.cli_witness`)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from credshare.anchoring.note import NoteVerifier
from credshare.anchoring.proof import verify_anchor_proof
from credshare.cli_io import fail, read_bytes, read_json, read_text, rpc_chain_check
from credshare.compose import build_services
from credshare.foundation.errors import ConfigError, CredshareError
from credshare.verifier.credential import trust_from_policy


def _read_json(path: str, what: str) -> Any:
    return read_json(path, what, "proof_malformed")


@click.group("log")
def log_group() -> None:
    """The transparency log."""


@log_group.command("status")
def status() -> None:
    """Print the log's origin, size, root, key and witnesses as JSON."""
    try:
        svc = build_services()
        from credshare.issuing.cosigning import witness_summary

        click.echo(json.dumps({**svc.log.status(), **witness_summary(svc.trust_policy, svc.log.witness_keys),
                               "store": svc.store.backend}, indent=2))
    except CredshareError as exc:
        fail(exc)


@log_group.command("cosign")
@click.option("--size", type=click.IntRange(1), default=None, help="Checkpoint to have cosigned (default: latest).")
def cosign(size: int | None) -> None:
    """Ask the remote witnesses (CREDSHARE_WITNESS_POLICY) again to cosign a checkpoint, for
    one short of its quorum; print what they answered; exit 0 only if the quorum is met."""
    try:
        svc = build_services()
        if not svc.cosigning.witnesses:
            raise ConfigError("no remote witnesses to ask: set CREDSHARE_WITNESS_POLICY")
        witnessed = svc.cosigning.cosign(size)
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps(witnessed, indent=2))
    sys.exit(0 if witnessed and witnessed["quorum_met"] else 1)


@log_group.command("verify-consistency")
@click.argument("old_checkpoint")
@click.argument("new_checkpoint")
@click.argument("proof_file")
@click.option("--log-key", "log_key_file", required=True, help="File with the log's verifier key (GET /log/key).")
def verify_consistency(old_checkpoint: str, new_checkpoint: str, proof_file: str, log_key_file: str) -> None:
    """Check offline that NEW_CHECKPOINT's tree extends OLD_CHECKPOINT's, with the consistency
    proof in PROOF_FILE (GET /log/consistency?old=M&new=N); exit 0 only if it does."""
    from credshare.anchoring.note import open_checkpoint
    from credshare.log_monitor import check_consistency, parse_proof

    try:
        log_key = NoteVerifier.decode(read_text(log_key_file))
        old = open_checkpoint(read_text(old_checkpoint), log_key, log_key.name)
        new = open_checkpoint(read_text(new_checkpoint), log_key, log_key.name)
        check_consistency(old, new, parse_proof(read_text(proof_file)))
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps({"consistent": True, "origin": old.origin, "old_size": old.size, "new_size": new.size}))


@log_group.command("monitor")
@click.argument("url")
@click.option("--log-key", "log_key_file", required=True, help="File with the log's verifier key (GET /log/key).")
@click.option("--state", "state_file", default=None, help="File keeping the last checkpoint seen (made if absent).")
@click.option("--interval", type=click.FloatRange(1, 86400), default=60.0, show_default=True,
              help="Seconds between checks.")
@click.option("--once", is_flag=True, help="Check once and exit.")
def monitor(url: str, log_key_file: str, state_file: str | None, interval: float, once: bool) -> None:
    """Follow the log at URL: verify each new checkpoint's signature and that it extends the
    last one seen. Prints one JSON line per check; on a fork or a rollback prints the error
    and exits 2 (other failures: exit 1 with --once, a warning on stderr otherwise)."""
    import time
    from pathlib import Path

    from credshare.log_monitor import Monitor

    try:
        watcher = Monitor(url, NoteVerifier.decode(read_text(log_key_file)), Path(state_file) if state_file else None)
        kept = watcher.load()
    except CredshareError as exc:
        fail(exc)
    while True:
        try:
            kept, report = watcher.check(kept)
            click.echo(json.dumps(report))
        except CredshareError as exc:
            if exc.code in ("log_fork", "log_rollback"):
                click.echo(f"credshare log monitor: {exc.code}: {exc.detail}", err=True)
                click.echo(json.dumps(exc.to_dict()))
                sys.exit(2)
            if once:
                fail(exc)
            click.echo(f"credshare log monitor: {exc.code}: {exc.detail} (trying again)", err=True)
        if once:
            return
        time.sleep(interval)


@log_group.command("mirror")
@click.argument("url")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--policy", "policy_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="The log's C2SP tlog-policy (log key, witnesses, quorum) the checkpoint must meet.")
@click.option("--log-key", "log_key_file", default=None, help="File with the log's verifier key, instead of a policy.")
def mirror_command(url: str, directory: str, policy_file: str | None, log_key_file: str | None) -> None:
    """Copy the log at URL (a credshare server: its tiles under URL/log) into DIRECTORY as static
    C2SP tlog-tiles files any web server can serve; each run fetches only what is new. Exits 2 on
    a fork or a rollback (nothing written), 1 on any other failure."""
    from pathlib import Path

    from credshare.anchoring.policy import parse_policy
    from credshare.log_mirror import http_fetch, mirror

    try:
        policy = parse_policy(read_bytes(policy_file)) if policy_file else None
        log_key = NoteVerifier.decode(read_text(log_key_file)) if log_key_file else None
        result = mirror(http_fetch(url.rstrip("/") + "/log"), Path(directory), policy=policy, log_key=log_key)
    except CredshareError as exc:
        if exc.code in ("log_fork", "log_rollback"):
            click.echo(json.dumps(exc.to_dict()))
            sys.exit(2)
        fail(exc)
    click.echo(json.dumps(result.to_json()))


@log_group.command("anchor")
@click.option("--rpc", "rpc_url", default=None,
              help="Ethereum JSON-RPC endpoint to publish through (default: CREDSHARE_ANCHOR_RPC).")
@click.option("--key-file", default=None,
              help="File with the anchoring account's private key, hex (default: CREDSHARE_ANCHOR_KEY_FILE).")
@click.option("--size", type=click.IntRange(1), default=None, help="Checkpoint to anchor (default: latest).")
@click.option("--due", is_flag=True,
              help="One scheduled attempt (CREDSHARE_ANCHOR_EVERY_CHECKPOINTS/_MINUTES), for cron: anchors the "
                   "latest checkpoint only if the schedule says so; exit 1 if the attempt failed.")
def anchor(rpc_url: str | None, key_file: str | None, size: int | None, due: bool) -> None:
    """Publish a checkpoint's root on Ethereum and record the anchor (extra [ethereum])."""
    try:
        svc = build_services()
        if due:
            if rpc_url or key_file or size:
                raise ConfigError("--due takes the endpoint, key and schedule from the configuration only")
            schedule = svc.anchor_schedule
            if schedule is None:
                raise ConfigError("no anchor schedule: set CREDSHARE_ANCHOR_EVERY_CHECKPOINTS or "
                                  "CREDSHARE_ANCHOR_EVERY_MINUTES (with CREDSHARE_ANCHOR_RPC and _KEY_FILE)")
            outcome = schedule.run_once()
            click.echo(json.dumps({**outcome.to_json(), "schedule": schedule.status()}, indent=2))
            sys.exit(1 if outcome.result == "failed" else 0)
        from credshare.anchoring.ethereum import EthereumAnchorer
        from credshare.anchoring.note import Checkpoint

        rpc = rpc_url or svc.settings.anchor_rpc
        key_path = key_file or (str(svc.settings.anchor_key_file) if svc.settings.anchor_key_file else None)
        if rpc is None or key_path is None:
            raise ConfigError("give --rpc and --key-file (or set CREDSHARE_ANCHOR_RPC and CREDSHARE_ANCHOR_KEY_FILE)")
        log = svc.log
        doc = log.checkpoint(size)
        checkpoint = Checkpoint.parse(doc["note"].partition("\n\n")[0] + "\n")
        anchored = EthereumAnchorer(rpc, read_text(key_path).strip()).publish(
            checkpoint.origin, checkpoint.size, checkpoint.root)
        log.add_chain_anchor(checkpoint.size, anchored.to_json())
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps(anchored.to_json(), indent=2))


@log_group.command("verify-proof")
@click.argument("proof_file")
@click.option("--leaf-file", required=True, help="The logged bytes: the credential's issuer-signed JWT.")
@click.option("--log-key", "log_key_file", required=True, help="File with the log's verifier key (GET /log/key).")
@click.option("--policy", "policy_file", default=None,
              help="The witness policy: a C2SP tlog-policy file listing the log key (GET /log/trust).")
@click.option("--rpc", "rpc_urls", multiple=True, help="Ethereum JSON-RPC endpoint for chain anchors (repeat).")
def verify_proof(proof_file: str, leaf_file: str, log_key_file: str, policy_file: str | None,
                 rpc_urls: tuple[str, ...]) -> None:
    """Check an anchor proof with no server; print the verdict, exit 0 only if verified."""
    try:
        proof = _read_json(proof_file, "the proof")
        leaf = read_bytes(leaf_file).strip()
        log_key = NoteVerifier.decode(read_text(log_key_file))
        policy = trust_from_policy(read_text(policy_file), log_key.encode()).policy if policy_file else None
        verdict = verify_anchor_proof(proof, leaf, log_key=log_key, policy=policy, chain_check=rpc_chain_check(rpc_urls))
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps(verdict.to_json(), indent=2))
    sys.exit(0 if verdict.verified else 1)
