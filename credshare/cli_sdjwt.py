"""``credshare sdjwt``: issue, present and verify SD-JWTs from scripts and other tools.

Output is JSON or the token on stdout; a rejection prints ``{"error": code, "detail": ...}``
on stdout and exits 1.
"""

from __future__ import annotations

import json
from typing import Any

import click

from credshare.cli_io import fail, read_json, read_json_list, read_text
from credshare.disclosure.issuance import issue
from credshare.disclosure.jws import PublicKey, Signer
from credshare.disclosure.paths import parse_claim_path
from credshare.disclosure.presentation import KeyBindingRequest, present
from credshare.disclosure.verification import KeyBindingPolicy, jwks_resolver, verify_presentation
from credshare.foundation.clock import SYSTEM_CLOCK
from credshare.foundation.errors import CredshareError


def _read_json(path: str, what: str) -> Any:
    return read_json(path, what, "key_invalid" if "key" in what else "claims_invalid")


def load_public_keys(path: str) -> list[PublicKey]:
    """A JWKS file: a JSON list of public JWKs or a ``{"keys": [...]}`` set."""
    return [PublicKey.from_jwk(jwk) for jwk in read_json_list(path, "keys", "the key set", "key_invalid")]


@click.group()
def sdjwt() -> None:
    """Issue, present and verify SD-JWTs (RFC 9901, SD-JWT VC)."""


@sdjwt.command()
@click.option("--alg", type=click.Choice(["EdDSA", "ES256", "ES384", "ES512"]), default="EdDSA", show_default=True)
@click.option("--kid", default=None, help="Key id (default: the RFC 7638 thumbprint).")
def keygen(alg: str, kid: str | None) -> None:
    """Print a new private JWK."""
    click.echo(json.dumps(Signer.generate(alg, kid).private_jwk))


@sdjwt.command("issue")
@click.option("--claims", "claims_file", required=True, help="JSON file of the claims to sign ('-' for stdin).")
@click.option("--key", "key_file", required=True, help="Issuer private JWK file.")
@click.option("--sd", "sd_paths", multiple=True, help="Selectively disclosable claim path (repeat).")
@click.option("--holder-jwk", "holder_file", default=None, help="Holder public JWK file, for cnf.jwk.")
@click.option("--typ", default="dc+sd-jwt", show_default=True)
@click.option("--sd-alg", default="sha-256", show_default=True)
@click.option("--sd-array-size", type=click.IntRange(0, 1000), default=None, help="Pad each _sd array to this size.")
def issue_cmd(claims_file: str, key_file: str, sd_paths: tuple[str, ...], holder_file: str | None,
              typ: str, sd_alg: str, sd_array_size: int | None) -> None:
    """Print an SD-JWT carrying every disclosure."""
    try:
        signer = Signer.from_jwk(_read_json(key_file, "the issuer key"))
        holder = _read_json(holder_file, "the holder key") if holder_file else None
        issued = issue(_read_json(claims_file, "the claims"), signer=signer,
                       disclosable=[parse_claim_path(p) for p in sd_paths], holder_jwk=holder,
                       typ=typ, sd_alg=sd_alg, sd_array_size=sd_array_size)
    except CredshareError as exc:
        fail(exc)
    click.echo(issued.serialize())


@sdjwt.command("present")
@click.argument("sd_jwt_file")
@click.option("--disclose", "paths", multiple=True, help="Claim path to reveal (repeat).")
@click.option("--holder-key", "holder_key_file", default=None, help="Holder private JWK: adds a KB-JWT.")
@click.option("--aud", default=None, help="KB-JWT audience (with --holder-key).")
@click.option("--nonce", default=None, help="KB-JWT nonce (with --holder-key).")
@click.option("--iat", type=int, default=None, help="KB-JWT issued-at (default: now).")
def present_cmd(sd_jwt_file: str, paths: tuple[str, ...], holder_key_file: str | None,
                aud: str | None, nonce: str | None, iat: int | None) -> None:
    """Print a presentation revealing only the chosen claims."""
    if holder_key_file and not (aud and nonce):
        raise click.UsageError("--holder-key needs --aud and --nonce")
    try:
        kb = None
        if holder_key_file:
            signer = Signer.from_jwk(_read_json(holder_key_file, "the holder key"))
            kb = KeyBindingRequest(signer, aud or "", nonce or "", iat if iat is not None else SYSTEM_CLOCK.seconds())
        presentation = present(read_text(sd_jwt_file), [parse_claim_path(p) for p in paths], kb)  # type: ignore[misc]
    except CredshareError as exc:
        fail(exc)
    click.echo(presentation)


@sdjwt.command("verify")
@click.argument("presentation_file")
@click.option("--issuer-jwks", "jwks_file", required=True, help="Trusted issuer public keys (JWKS).")
@click.option("--serialization", type=click.Choice(["compact", "json"]), default="compact", show_default=True)
@click.option("--require-kb", is_flag=True, help="Require a Key Binding JWT (then --aud and --nonce).")
@click.option("--aud", default=None)
@click.option("--nonce", default=None)
@click.option("--kb-max-age", type=click.IntRange(1), default=300, show_default=True, help="Seconds.")
@click.option("--now", type=int, default=None, help="Unix time to verify at (default: now).")
@click.option("--typ", default=None, help="Required typ header of the issuer JWT.")
def verify_cmd(presentation_file: str, jwks_file: str, serialization: str, require_kb: bool,
               aud: str | None, nonce: str | None, kb_max_age: int, now: int | None, typ: str | None) -> None:
    """Verify a presentation; print its processed claims as JSON."""
    if require_kb and not (aud and nonce):
        raise click.UsageError("--require-kb needs --aud and --nonce")
    try:
        policy = KeyBindingPolicy(require_kb, aud, nonce, kb_max_age)
        result = verify_presentation(
            read_text(presentation_file), issuer_keys=jwks_resolver(load_public_keys(jwks_file)),
            now=SYSTEM_CLOCK.seconds() if now is None else now, serialization=serialization,  # type: ignore[arg-type]
            key_binding=policy, expected_typ=typ,
        )
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps(result.claims, indent=2, ensure_ascii=False))
