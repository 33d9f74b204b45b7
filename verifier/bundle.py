"""The offline verification bundle (``credshare-verification-bundle/v1``): one JSON file with
everything needed to verify a shared credential with no server and no network, years later.

Members (docs/bundle.md):

* ``presentation``: the compact SD-JWT as shared (issuer JWT, chosen disclosures, KB-JWT),
  with ``key_binding`` {``aud``, ``nonce``, ``not_before``} it must have been made for;
* ``anchor_proof``: the credential's anchor proof (docs/anchor-proof.md);
* ``tlog_proof``: the same proof as C2SP tlog-proof text (c2sp.org/tlog-proof), for tools that
  speak C2SP (its leaf hash is ``SHA-256(0x00 || SHA-256(issuer JWT))``); carried, not checked;
* ``issuer``: ``key_history`` {``jws``, ``anchor_proof``}, the issuer's signed, logged keys;
* ``status``: the issuer's signed status list token, its anchor proof (the token is a leaf
  of the log: its signer is judged at the time it was logged) and when it was read
  (``as_of``), or ``problem`` when it could not be read;
* ``log``: the log's verifier key and the C2SP tlog-policy it suggests (``GET /log/trust``:
  its witnesses' cosignature/v1 keys and the quorum), for information only;
* ``share``: the link's id, recipient and expiry, for display only: nothing in it is signed,
  so nothing in it counts. What the holder states about the share (shared as history, fields
  withheld) counts only as signed in the KB-JWT (verifier/credential.py, ``SHARE_CLAIM``).

A Blockcerts record travels in the same type with ``format`` ``"blockcerts"`` (absent: the
SD-JWT bundle above) and one evidence member, ``blockcerts`` (blockcerts/evidence.py
``evidence_to_json``: the record as issued, the issuer profile snapshot, the revocation list and
status list snapshots, each with where and when it was read), plus ``share`` for display only.
It carries no transaction lookups: whoever verifies asks their own blockchain endpoints.

Trust comes from outside the bundle: the verifier's own trust list (verifier/trust_list.py)
names the logs it trusts (each a C2SP tlog-policy, as ``GET /log/trust`` serves it, or a log key
alone) and the issuers it recognises; a bundle under any other log fails ``trust_anchor``, one
from an issuer not on the list fails ``issuer_trust``. The policy the bundle carries is never
used for checking.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Callable

from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.tlog_proof import build_tlog_proof
from credshare.blockcerts.errors import BlockcertsError
from credshare.blockcerts.evidence import (
    Anchor,
    BlockcertsEvidence,
    Snapshot,
    TransactionLookup,
    evidence_from_json,
    evidence_to_json,
)
from credshare.blockcerts.record import parse_record
from credshare.disclosure.verification import KeyBindingPolicy
from credshare.foundation import strict_json
from credshare.foundation.b64 import b64_decode
from credshare.foundation.checks import Check
from credshare.foundation.errors import InputError
from credshare.verifier.blockcerts import blockcerts_report
from credshare.verifier.credential import (
    ChainCheck,
    KeyHistoryEvidence,
    StatusEvidence,
    trust_from_log_key,
    verify_credential,
)
from credshare.verifier.mirror import check_mirror
from credshare.verifier.report import Report
from credshare.verifier.trust_list import (
    TrustedLog as TrustedLog,  # re-exported: a log on the trust list
    TrustList,
)

BUNDLE_TYPE = "credshare-verification-bundle/v1"
KB_CLOCK_SLACK = 60
BLOCKCERTS_FORMAT = "blockcerts"
SD_JWT_FORMAT = "sd-jwt-vc"  # a bundle without ``format`` is one
MAX_BUNDLE_BYTES = 2 * 1024 * 1024  # a whole bundle file, as read (the Blockcerts members below fit in it)
# the Blockcerts members, each as compact UTF-8 JSON: a record as cert-issuer writes it is a few KiB
# (an embedded image can make it tens); an issuer profile lists keys; a revocation list grows
# with every revoked record; a StatusList2021 credential of 131,072 entries is a few KiB compressed
BLOCKCERTS_LIMITS: dict[str, int] = {
    "document": 256 * 1024,
    "issuer_profile": 256 * 1024,
    "revocation_list": 1024 * 1024,
    "status_list": 256 * 1024,
}
_MEMBER_NAMES = {"document": "Blockcerts record", "issuer_profile": "issuer profile snapshot",
                 "revocation_list": "revocation list snapshot", "status_list": "status list snapshot"}
MAX_PROBLEM = 500  # characters of a member's "why it could not be had"
MAX_LOOKUPS = 8  # anchors looked up per record (cert-issuer writes one)
Lookup = Callable[[Anchor], TransactionLookup]


class BundleError(InputError):
    code = "bundle_malformed"


def build_bundle(
    *, presentation: str, audience: str, nonce: str, not_before: int, anchor_proof: dict[str, Any],
    history: KeyHistoryEvidence, status: StatusEvidence | None, log_key: str, policy: str,
    share: dict[str, Any], created_at: int,
) -> dict[str, Any]:
    """``policy``: the tlog-policy text the server suggests (``GET /log/trust``), carried for
    information only: a verifier checks under its own."""
    return {
        "type": BUNDLE_TYPE,
        "created_at": created_at,
        "presentation": presentation,
        "key_binding": {"aud": audience, "nonce": nonce, "not_before": not_before},
        "anchor_proof": anchor_proof,
        "tlog_proof": build_tlog_proof(index=anchor_proof["leaf_index"], note=anchor_proof["checkpoint"],
                                       proof=[b64_decode(h) for h in anchor_proof["inclusion_proof"]]),
        "issuer": {"key_history": {"jws": history.jws, "anchor_proof": history.anchor_proof}},
        "status": None if status is None else {"token": status.token, "as_of": status.as_of, "problem": status.problem,
                                               "anchor_proof": status.anchor_proof},
        "log": {"key": log_key, "policy": policy},
        "share": share,
    }


def build_blockcerts_bundle(evidence: BlockcertsEvidence, *, share: dict[str, Any],
                            created_at: int | None = None) -> dict[str, Any]:
    """The bundle of a Blockcerts record shared by link: the record and the issuer's documents as
    they were read (snapshots), never the transaction lookups. ``created_at``: when the server
    made it (unsigned, like the rest of the envelope)."""
    doc: dict[str, Any] = {"type": BUNDLE_TYPE, "format": BLOCKCERTS_FORMAT}
    if created_at is not None:
        doc["created_at"] = created_at
    doc["blockcerts"] = evidence_to_json(evidence)
    doc["share"] = share
    return doc


def _member(doc: dict[str, Any], name: str, kind: type | tuple[type, ...], *, non_empty: bool = False) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise BundleError(f"the bundle's {name} is missing or not a {getattr(kind, '__name__', 'valid value')}")
    if non_empty and not value:
        raise BundleError(f"the bundle's {name} is empty")
    return value


def _bounded_member(value: Any, name: str, limit: int) -> None:
    """Refuse a Blockcerts member over ``limit`` bytes (compact UTF-8 JSON) or nested deeper than
    the strict JSON limit, whoever parsed it."""
    what = f"the {_MEMBER_NAMES[name]} (blockcerts.{name})"
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise BundleError(f"{what} is not JSON") from None
    if len(text.encode("utf-8")) > limit:
        raise BundleError(f"{what} is larger than {limit // 1024} KiB", code="bundle_member_too_large")
    strict_json.check_depth(text)


SHARER = "the wallet server it was shared from"  # who fetched a bundle's issuer documents


def blockcerts_evidence(member: Any, *, kept_by: str = "") -> BlockcertsEvidence:
    """The evidence of a bundle's ``blockcerts`` member (or of a record and the snapshots given
    beside it, as ``evidence_to_json`` writes them), bounded: every member within its size
    (``bundle_member_too_large``), a snapshot either null or ``{document, source_url,
    fetched_at}``, a problem a string (else ``bundle_malformed``). Nothing in it is trusted:
    the checks judge the record and the snapshots. ``kept_by``: who fetched the snapshots (a
    bundle's: :data:`SHARER`), set on every one of them whatever the member says."""
    if not isinstance(member, dict):
        raise BundleError("the bundle's blockcerts is missing or not an object")
    if not isinstance(member.get("document"), dict):
        raise BundleError("the bundle's blockcerts.document (the record) is missing or not an object")
    for name, limit in BLOCKCERTS_LIMITS.items():
        value = member.get(name)
        if value is None:
            continue
        _bounded_member(value, name, limit)
        if name != "document" and not (isinstance(value, dict) and isinstance(value.get("document"), dict)
                                       and isinstance(value.get("source_url"), str)
                                       and type(value.get("fetched_at")) is int):
            raise BundleError(f"the {_MEMBER_NAMES[name]} (blockcerts.{name}) is not a snapshot "
                              "(document, source_url, fetched_at)")
    for name in ("profile_problem", "revocation_problem", "status_problem"):
        problem = member.get(name, "")
        if not isinstance(problem, str) or len(problem) > MAX_PROBLEM:
            raise BundleError(f"the bundle's blockcerts.{name} is not a short text")
    evidence = evidence_from_json(member)
    assert evidence is not None  # the document is an object
    if not kept_by:
        return evidence

    def kept(snapshot: Snapshot | None) -> Snapshot | None:
        return replace(snapshot, kept_by=kept_by) if snapshot is not None else None
    return replace(evidence, issuer_profile=kept(evidence.issuer_profile), revocation_list=kept(evidence.revocation_list),
                   status_list=kept(evidence.status_list))


def verify_blockcerts_evidence(evidence: BlockcertsEvidence, *, trusted: TrustList, now: int,
                      lookup: Lookup | None = None) -> Report:
    """The Blockcerts report (verifier/blockcerts.py) on bounded evidence, with the record's
    anchors looked up through ``lookup`` (a blockchain endpoint; test anchors never: they are
    no public chain). Without ``lookup`` the anchor is listed unchecked. A record that cannot be
    parsed is looked up nowhere: its report says why."""
    return _blockcerts_report(blockcerts_evidence(evidence_to_json(evidence)), trusted=trusted, now=now, lookup=lookup)


def _blockcerts_report(evidence: BlockcertsEvidence, *, trusted: TrustList, now: int, lookup: Lookup | None) -> Report:
    lookups: tuple[TransactionLookup, ...] = ()
    if lookup is not None:
        try:
            anchors = parse_record(evidence.document).anchors
        except BlockcertsError:
            anchors = ()
        lookups = tuple(lookup(a) for a in anchors[:MAX_LOOKUPS] if not a.test)
    return blockcerts_report(replace(evidence, lookups=lookups), trusted, now=now)


def verify_bundle(doc: Any, *, trusted: TrustList, now: int, chain_check: ChainCheck | None = None,
                  mirror: Callable[[str], bytes | None] | None = None,
                  fresh_status: StatusEvidence | None = None, lookup: Lookup | None = None) -> Report:
    """Verify a bundle against the caller's trust list: the logs it trusts and the issuers it
    recognises (verifier/trust_list.py). Only the bundle's log key is taken from it, and only
    to find which trusted log it claims; the witness policy always comes from the caller.
    ``mirror``: a mirror's tlog-tiles resources (``fetch(path)``), for the extra
    ``inclusion_mirror`` check (verifier/mirror.py). ``fresh_status``: the issuer's status list
    as the caller read it now (a verifier that can reach the issuer), checked instead of the
    bundle's snapshot. A malformed bundle raises
    :class:`BundleError`; anything that parses gets a full report.

    A Blockcerts bundle (``format`` ``"blockcerts"``) gets the Blockcerts report instead
    (:func:`verify_blockcerts_evidence`; ``lookup``: the anchors' blockchain endpoints, ``chain_check``,
    ``mirror`` and ``fresh_status`` do not apply to it); any other ``format`` is refused
    (``bundle_format_unknown``)."""
    if not isinstance(doc, dict) or doc.get("type") != BUNDLE_TYPE:
        raise BundleError(f"not a {BUNDLE_TYPE} document")
    if doc.get("format", SD_JWT_FORMAT) != SD_JWT_FORMAT:
        if doc["format"] != BLOCKCERTS_FORMAT:
            raise BundleError("the bundle's format is not one this verifier knows (blockcerts, or sd-jwt-vc: the "
                              "default)", code="bundle_format_unknown")
        return _blockcerts_report(blockcerts_evidence(doc.get("blockcerts"), kept_by=SHARER), trusted=trusted, now=now,
                                  lookup=lookup)
    presentation = _member(doc, "presentation", str)
    kb = _member(doc, "key_binding", dict)
    log = _member(doc, "log", dict)
    history = _member(_member(doc, "issuer", dict), "key_history", dict)
    status = doc.get("status")
    aud, nonce = _member(kb, "aud", str, non_empty=True), _member(kb, "nonce", str, non_empty=True)
    not_before = _member(kb, "not_before", int)
    log_key = _member(log, "key", str).strip()
    if status is not None and not (isinstance(status, dict) and isinstance(status.get("as_of"), int)
                                   and isinstance(status.get("token"), (str, type(None)))
                                   and isinstance(status.get("anchor_proof"), (dict, type(None)))):
        raise BundleError("the bundle's status is malformed")
    match = trusted.log_for_key(log_key)
    try:
        if match is not None:
            trust = match.trust(log_key)
        else:  # checked as far as it goes; trust_anchor below says it proves nothing
            trust = trust_from_log_key(log_key)
    except AnchoringError as exc:
        raise BundleError(f"the log keys are malformed: {exc.detail}") from exc

    report = verify_credential(
        presentation, _member(doc, "anchor_proof", dict),
        trust=trust,
        history=KeyHistoryEvidence(_member(history, "jws", str), _member(history, "anchor_proof", dict)),
        status=fresh_status if fresh_status is not None else None if status is None else StatusEvidence(
            status.get("token"), status["as_of"], str(status.get("problem") or ""), snapshot=True,
            anchor_proof=status.get("anchor_proof")),
        # the holder signed the KB-JWT when the link was made: its iat lies in [not_before - 60 s
        # slack - 30 s skew, now + 30 s skew] (docs/bundle.md, check 5). The "age" is counted from
        # now, so a not_before later than now narrows the window (and empties it past 120 s):
        # never clamped, or a link claimed to be made later would widen it back to now.
        key_binding=KeyBindingPolicy(required=True, audience=aud, nonce=nonce,
                                     max_age_seconds=now - not_before + KB_CLOCK_SLACK),
        now=now,
        issuers=trusted,
        chain_check=chain_check,
    )
    named = f"{trust.log_key.name} key id {trust.log_key.key_id.hex()}"
    if match is not None:
        anchor = Check("trust_anchor", "passed", f"{named}, a log you trust")
    elif not trusted.logs:
        anchor = Check("trust_anchor", "unchecked", f"no trusted log given; the bundle names {named}")
    else:
        anchor = Check("trust_anchor", "failed", f"the bundle's log ({named}) is not one you trust")
    report.checks.insert(0, anchor)
    if mirror is not None:
        report.checks.append(check_mirror(presentation.split("~", 1)[0].encode("ascii", "replace"),
                                          doc.get("anchor_proof"), trust if match is not None else None, mirror))
    return report
