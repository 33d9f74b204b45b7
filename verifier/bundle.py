"""The offline verification bundle (``credshare-verification-bundle/v1``): one JSON file with
everything needed to verify a shared credential with no server and no network, years later.

Members (docs/bundle.md):

* ``presentation``: the compact SD-JWT as shared (issuer JWT, chosen disclosures, KB-JWT),
  with ``key_binding`` {``aud``, ``nonce``, ``not_before``} it must have been made for;
* ``anchor_proof``: the credential's anchor proof (docs/anchor-proof.md);
* ``issuer``: ``key_history`` {``jws``, ``anchor_proof``}, the issuer's signed, logged keys;
* ``status``: the issuer's signed status list token and when it was read (``as_of``), or
  ``problem`` when it could not be read;
* ``log``: the log's verifier key, its witnesses' BLS keys and the quorum;
* ``share``: what the owner chose (``history``, ``withheld``) and the link's id and expiry,
  for display. These are the owner's statements, not signed ones.

Trust comes from outside the bundle: the verifier names the log key(s) it trusts, and a
bundle under any other key fails ``trust_anchor``.
"""

from __future__ import annotations

import hmac
from typing import Any, Sequence

from anchoring.errors import AnchoringError
from credshare.errors import InputError
from disclosure.verification import KeyBindingPolicy
from verifier.credential import ChainCheck, KeyHistoryEvidence, StatusEvidence, trust_from_json, verify_credential
from verifier.report import Check, Report

BUNDLE_TYPE = "credshare-verification-bundle/v1"
KB_CLOCK_SLACK = 60


class BundleError(InputError):
    code = "bundle_malformed"


def build_bundle(
    *, presentation: str, audience: str, nonce: str, not_before: int, anchor_proof: dict[str, Any],
    history: KeyHistoryEvidence, status: StatusEvidence | None, log_key: str, witnesses: list[dict[str, Any]],
    quorum: int, share: dict[str, Any], created_at: int,
) -> dict[str, Any]:
    return {
        "type": BUNDLE_TYPE,
        "created_at": created_at,
        "presentation": presentation,
        "key_binding": {"aud": audience, "nonce": nonce, "not_before": not_before},
        "anchor_proof": anchor_proof,
        "issuer": {"key_history": {"jws": history.jws, "anchor_proof": history.anchor_proof}},
        "status": None if status is None else {"token": status.token, "as_of": status.as_of, "problem": status.problem},
        "log": {"key": log_key, "witnesses": witnesses, "quorum": quorum},
        "share": share,
    }


def _member(doc: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise BundleError(f"the bundle's {name} is missing or not a {getattr(kind, '__name__', 'valid value')}")
    return value


def verify_bundle(doc: Any, *, trusted_log_keys: Sequence[str], now: int, chain_check: ChainCheck | None = None) -> Report:
    """Verify a bundle against the log keys the caller trusts. A malformed bundle raises
    :class:`BundleError`; anything that parses gets a full report."""
    if not isinstance(doc, dict) or doc.get("type") != BUNDLE_TYPE:
        raise BundleError(f"not a {BUNDLE_TYPE} document")
    presentation = _member(doc, "presentation", str)
    kb = _member(doc, "key_binding", dict)
    log = _member(doc, "log", dict)
    history = _member(_member(doc, "issuer", dict), "key_history", dict)
    status = doc.get("status")
    share = doc.get("share") if isinstance(doc.get("share"), dict) else {}
    aud, nonce, not_before = _member(kb, "aud", str), _member(kb, "nonce", str), _member(kb, "not_before", int)
    log_key = _member(log, "key", str)
    try:
        trust = trust_from_json(log_key, _member(log, "witnesses", list), _member(log, "quorum", int))
    except AnchoringError as exc:
        raise BundleError(f"the bundle's log keys are malformed: {exc.detail}") from exc
    if status is not None and not (isinstance(status, dict) and isinstance(status.get("as_of"), int)
                                   and isinstance(status.get("token"), (str, type(None)))):
        raise BundleError("the bundle's status is malformed")

    report = verify_credential(
        presentation, _member(doc, "anchor_proof", dict),
        trust=trust,
        history=KeyHistoryEvidence(_member(history, "jws", str), _member(history, "anchor_proof", dict)),
        status=None if status is None else StatusEvidence(status.get("token"), status["as_of"], str(status.get("problem") or "")),
        # the holder signed the KB-JWT when the link was made: any time from then until now
        key_binding=KeyBindingPolicy(required=True, audience=aud, nonce=nonce,
                                     max_age_seconds=max(0, now - not_before) + KB_CLOCK_SLACK),
        now=now,
        allow_expired=share.get("history") is True,
        chain_check=chain_check,
    )
    if not trusted_log_keys:
        report.checks.insert(0, Check("trust_anchor", "unchecked", f"no trusted log key given; the bundle names {trust.log_key.name} "
                                             f"key id {trust.log_key.key_id.hex()}"))
    elif any(hmac.compare_digest(log_key.strip().encode(), k.strip().encode()) for k in trusted_log_keys):
        report.checks.insert(0, Check("trust_anchor", "passed", f"{trust.log_key.name} key id {trust.log_key.key_id.hex()}"))
    else:
        report.checks.insert(0, Check("trust_anchor", "failed", f"the bundle's log key ({trust.log_key.name} key id "
                                             f"{trust.log_key.key_id.hex()}) is not one you trust"))
    return report
