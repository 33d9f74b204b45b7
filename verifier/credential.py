"""Verifying a shared credential end to end, from evidence alone (no network, no store).

A presentation is trusted through this chain, each link one check in the report:

1. ``key_history``: the issuer's signed key history (``key-history+jwt``) is included in the
   log (its own anchor proof) and signed by a key it lists that was valid when it was logged.
2. ``proof_format``, ``checkpoint_signature``, ``inclusion``, ``witness_quorum``,
   ``chain_anchor``: the credential's issuer-signed JWT is a leaf of a checkpoint signed by
   the log and cosigned (C2SP cosignature/v1) by witnesses satisfying the verifier's C2SP
   tlog-policy (docs/anchor-proof.md, RFC 9162 §2.1.3). The log's own development witnesses
   never make that quorum: met only with them, ``witness_quorum`` is ``unchecked``.
3. ``issuer_key_valid``: the ``kid`` that signed the credential was valid at the checkpoint's
   signing time (verifier/key_history.py).
4. ``issuer_signature``, ``disclosures``, ``key_binding``: RFC 9901 §7.1 and §7.3, with the
   issuer keys taken from the key history only.
5. ``status``: the issuer's Token Status List, itself a leaf of the log, signed by a key of
   the history that was valid when it was logged.
6. ``credential_validity``: ``exp`` and ``nbf``, reported rather than enforced silently; an
   expired credential the holder shares as history is ``history``, never ``passed``.

An SD-JWT VC issuer that is not a credshare server keeps no log: its keys are the ones its
JWT VC Issuer Metadata publishes (draft-ietf-oauth-sd-jwt-vc, fetched by whoever gathers the
evidence: :class:`IssuerKeysEvidence`). Then ``issuer_keys`` takes the place of
``key_history`` (where the keys came from, and when), every anchoring check is ``unchecked``
(:data:`NO_LOG`), so the outcome is at best ``incomplete``, never ``verified``; the trust list
must name the issuer with its keys in its metadata; its status list is read live from the
issuer and signed with those same keys, and ``status`` says so: no log proved when the list
was made (:func:`_published_status_check`).

An issuer the trust list names by X.509 roots (``keys == "x5c"``, HAIP) has no key history
either: its key is the one the credential's own ``x5c`` chain certifies (verifier/x5c.py), the
``issuer_certificate`` check in place of ``key_history`` and ``issuer_key_valid``. The chain is
judged when the credential was anchored, if its anchor proof verifies, else now; without an
anchor proof the credential is not logged and its ``inclusion`` is ``unchecked``. Its status
list token is judged by its own ``x5c`` chain, to the same roots and for the same issuer
(:func:`_verify_certified`).

Whoever calls this decides which log key and which witness policy to trust (``LogTrust``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Hashable, Sequence

from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import Checkpoint, NoteVerifier
from credshare.anchoring.policy import parse_policy
from credshare.anchoring.proof import (
    ChainCheck as ChainCheck,  # re-exported: what checks a chain anchor
    verify_anchor_proof,
)
from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import PublicKey, parse_compact
from credshare.disclosure.status_list import INVALID, SUSPENDED, VALID, read_status_list, status_reference
from credshare.disclosure.vc import VC_TYP
from credshare.disclosure.verification import (
    DEFAULT_SKEW_SECONDS,
    KeyBindingPolicy,
    VerifiedSDJWT,
    jwks_resolver,
    verify_presentation,
)
from credshare.foundation.cache import BoundedCache
from credshare.foundation.checks import Check, Status
from credshare.foundation.errors import Stage
from credshare.verifier.key_history import HISTORY_TYP, KeyRecord, key_valid_at
from credshare.verifier.report import Report
from credshare.verifier.trust_list import (
    KeySource,
    LogTrust as LogTrust,  # re-exported: what the caller trusts
    TrustedIssuer,
    TrustList,
)
from credshare.verifier.x5c import CertificateError, certified_key

SHARE_CLAIM = "credshare_share"  # KB-JWT claim: the holder's own statement about the share (history, withheld)

# The presentation's checks, in the order verify_presentation makes them.
_STAGES: tuple[Stage, ...] = ("issuer_signature", "disclosures", "key_binding")
TRUSTED_HISTORIES = 1024  # key histories that verified, by (history and its proof, trust): no clock in that check
_trusted_histories: BoundedCache[tuple[tuple[KeyRecord, ...], dict[str, Any], str]] = BoundedCache(TRUSTED_HISTORIES)


@dataclass(frozen=True)
class KeyHistoryEvidence:
    """The issuer's signed key history and its anchor proof. ``problem``: why there is none to
    check (an issuer's server that could not be asked): the check is ``unchecked`` with it,
    never passed. ``note``: where it came from, added to a check that passed (a copy fetched
    earlier from another server, and when)."""

    jws: str
    anchor_proof: dict[str, Any]
    problem: str = ""
    note: str = ""

    @classmethod
    def unavailable(cls, problem: str) -> KeyHistoryEvidence:
        return cls("", {}, problem=problem)


@dataclass(frozen=True)
class IssuerKeysEvidence:
    """The keys an issuer publishes in its JWT VC Issuer Metadata (or at its ``jwks_uri``), as
    fetched from ``source_url`` at ``fetched_at``, for the issuer identified ``issuer``; or why
    they could not be had (``problem``, ``jwks`` ``None``): ``invalid`` when the issuer's
    answer broke the rules (a failed check), else it could not be asked (unchecked)."""

    issuer: str
    jwks: dict[str, Any] | None
    source_url: str
    fetched_at: int
    problem: str = ""
    invalid: bool = False

    @property
    def kids(self) -> frozenset[str]:
        keys = self.jwks.get("keys") if isinstance(self.jwks, dict) else None
        return frozenset(k["kid"] for k in keys or [] if isinstance(k, dict) and isinstance(k.get("kid"), str))


@dataclass(frozen=True)
class StatusEvidence:
    """The issuer's status list token as read at ``as_of``, or why it could not be read, with
    the token's ``anchor_proof`` (docs/anchor-proof.md; the leaf is the token's text): the
    token's signer is judged at the time the log signed that checkpoint, never at the token's
    own ``iat``. A ``snapshot`` (from an offline bundle) must be at least as new as the
    presentation, and the report says the status is as of its signing: later changes cannot
    be seen without the issuer."""

    token: str | None
    as_of: int
    problem: str = ""
    snapshot: bool = False
    anchor_proof: dict[str, Any] | None = None
    source: str = ""  # the URL it was fetched from, when another server's ("": read where it is served)
    fetched_at: int | None = None  # when it was fetched from ``source`` (a cached copy: earlier than as_of)


def _date(ts: int | float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def offline_chain_check(anchor: dict[str, Any], _checkpoint: Checkpoint) -> tuple[Status, str]:
    """Without RPC endpoints a chain anchor is listed, never counted as checked."""
    where = f"chain {anchor.get('chain_id')}, transaction {anchor.get('tx_hash')}"
    if anchor.get("test_anchor"):
        return "unchecked", f"test anchor on a development chain ({where}): not a public anchor; not looked up"
    return "unchecked", f"{where}: not looked up (no Ethereum RPC endpoint given)"


def _history_key(evidence: KeyHistoryEvidence, trust: LogTrust) -> Hashable | None:
    """All a key history's check depends on: its text, its anchor proof and the trust (the
    check reads no clock and looks nothing up). ``None`` when the proof is not plain JSON."""
    try:
        proof = json.dumps(evidence.anchor_proof, sort_keys=True, separators=(",", ":"), allow_nan=False)
        text = evidence.jws.encode("utf-8", "surrogatepass")
    except (TypeError, ValueError, RecursionError, AttributeError):
        return None
    digest = hashlib.sha256(len(text).to_bytes(8, "big") + text + proof.encode("utf-8", "surrogatepass")).digest()
    return digest, trust.log_key, None if trust.policy is None else trust.policy.to_text()


def _key_history(evidence: KeyHistoryEvidence | None, trust: LogTrust,
                 report: Report) -> tuple[list[KeyRecord], dict[str, Any]] | None:
    """The issuer's key records, when the history is logged and self-consistently signed. One
    that verified is kept (:data:`TRUSTED_HISTORIES`) under all it depends on; a failure is not."""
    if evidence is None:
        report.add("key_history", "failed", "the issuer is unknown here: no key history to trust its keys by")
        return None
    if evidence.problem:
        report.add("key_history", "unchecked", evidence.problem)
        return None
    kept_as = _history_key(evidence, trust)
    kept = _trusted_histories.get(kept_as) if kept_as is not None else None
    if kept is not None:
        records, payload, detail = kept
        report.add("key_history", "passed", f"{detail}; {evidence.note}" if evidence.note else detail)
        return list(records), dict(payload)
    found = _verified_history(evidence, trust, report)
    last = report.checks[-1]
    if found is not None and kept_as is not None and (last.name, last.status) == ("key_history", "passed"):
        _trusted_histories.put(kept_as, (tuple(found[0]), dict(found[1]), last.detail))
    if found is not None and evidence.note:
        report.checks[-1] = Check(last.name, last.status, f"{last.detail}; {evidence.note}")
    return found


def check_key_history(evidence: KeyHistoryEvidence, trust: LogTrust) -> tuple[Check, dict[str, Any] | None]:
    """The ``key_history`` check alone, and the history's payload when it passed: for whoever
    fetches a history from another server and keeps only one that verifies."""
    report = Report()
    found = _key_history(evidence, trust, report)
    return report.checks[-1], (found[1] if found else None)


def _verified_history(evidence: KeyHistoryEvidence, trust: LogTrust,
                      report: Report) -> tuple[list[KeyRecord], dict[str, Any]] | None:
    try:
        jws = parse_compact(evidence.jws)
        if jws.header.get("typ") != HISTORY_TYP:
            raise SDJWTError(f"a key history has typ {HISTORY_TYP}", code="typ_mismatch")
        records = [KeyRecord.from_json(k) for k in jws.payload.get("keys") or []]
        if not records or not isinstance(jws.payload.get("iss"), str):
            raise SDJWTError("a key history names its issuer and lists its keys", code="jws_malformed")
    except (SDJWTError, TypeError, AttributeError) as exc:
        report.add("key_history", "failed", f"the key history is malformed: {getattr(exc, 'detail', exc)}")
        return None
    verdict = verify_anchor_proof(evidence.anchor_proof, evidence.jws.encode("ascii"), log_key=trust.log_key,
                                  policy=trust.policy)  # witnesses when trusted
    if not verdict.verified or verdict.anchored_at is None:
        failed = next((c for c in verdict.checks if c.status != "passed"), None)
        report.add("key_history", "failed", f"the key history is not proven to be in the log: {failed.detail if failed else ''}")
        return None
    kid = jws.header.get("kid")
    valid, why = key_valid_at(records, kid, verdict.anchored_at)
    record = next((r for r in records if r.kid == kid), None)
    try:
        signed = valid and record is not None and jws.verify_with([PublicKey.from_jwk({**record.jwk, "kid": record.kid})])
    except SDJWTError:
        signed = False
    if not signed:
        report.add("key_history", "failed", f"the key history is not signed by a valid key of its own ({why})")
        return None
    report.add("key_history", "passed", f"version {jws.payload.get('version')}, {len(records)} key(s), logged at "
               f"{_date(verdict.anchored_at)} as leaf {verdict.leaf_index}")
    return records, jws.payload


def _issuer_keys(records: Sequence[KeyRecord]) -> list[PublicKey]:
    keys = []
    for record in records:
        try:
            keys.append(PublicKey.from_jwk({**record.jwk, "kid": record.kid}))
        except SDJWTError:
            continue  # an unusable entry vouches for nothing
    return keys


def _presentation_checks(presentation: str, keys: list[PublicKey] | None, policy: KeyBindingPolicy, now: int,
                         report: Report, no_keys: str = "no trusted issuer keys: the key history did not verify",
                         signer: str | None = None) -> VerifiedSDJWT | None:
    """``keys``: the trusted issuer keys (``None``: none, for the reason ``no_keys``);
    ``signer``: how the signature check names the key (else by its ``kid``)."""
    if keys is None:
        for stage in _STAGES:
            report.add(stage, "unchecked", no_keys)
        return None
    try:
        verified = verify_presentation(presentation, issuer_keys=jwks_resolver(keys), now=now,
                                       key_binding=policy, expected_typ=VC_TYP, enforce_validity=False)
    except SDJWTError as exc:
        # the stage the refusal was raised in is the check it fails (disclosure/verification.py)
        failed = exc.stage if exc.stage in _STAGES else _STAGES[0]
        if exc.code == "kb_missing":  # refused before anything else ran: the rest is not known
            before: tuple[str, ...] = ()
        else:
            before = _STAGES[:_STAGES.index(failed)]
        for stage in _STAGES:
            if stage in before:
                report.add(stage, "passed")
            elif stage == failed:
                report.add(stage, "failed", f"{exc.detail} [{exc.code}]")
            else:
                report.add(stage, "unchecked", "not checked: an earlier check failed")
        return None
    report.add("issuer_signature", "passed", f"{verified.issuer_header.get('alg')} "
               f"{signer or 'key ' + str(verified.issuer_header.get('kid'))}")
    report.add("disclosures", "passed", _disclosures_detail(verified.claims, verified.disclosed_paths))
    if verified.key_binding is not None:
        report.add("key_binding", "passed", f"signed by the holder key for audience {verified.key_binding.get('aud')}")
    elif policy.required:  # pragma: no cover - verify_presentation refuses this itself
        report.add("key_binding", "failed", "no key binding")
    report.claims = verified.claims
    report.disclosed_paths = [list(p) for p in verified.disclosed_paths]
    return verified


def fields_shown(claims: dict[str, Any], disclosed: list[Any]) -> int:
    """How many fields a reader sees for ``disclosed`` (RFC 9901 section 7.1 claim paths): a
    disclosed group (an object such as a medical school) is not a field itself but the fields
    it holds are, and a list is one field however many of its elements were disclosed."""
    shown: set[tuple[Any, ...]] = set()

    def leaves(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict) and node:
            for name, value in node.items():
                leaves(value, path + (name,))
        else:
            shown.add(path)

    for path in disclosed:
        cut: list[Any] = []
        node: Any = claims
        for part in path:
            if not isinstance(part, str) or not isinstance(node, dict):
                break  # an array element: the list is the field
            cut.append(part)
            node = node.get(part)
        leaves(node, tuple(cut))
    return len(shown)


def _disclosures_detail(claims: dict[str, Any], disclosed: list[Any]) -> str:
    count, fields = len(disclosed), fields_shown(claims, disclosed)
    if fields == count:
        return f"{count} disclosed field(s), each matching a signed digest"
    return (f"{fields} field(s) shown, from {count} disclosures (a group of fields, or a list, is disclosed "
            f"itself and each of its parts again), each matching a signed digest")


def presented_at(presentation: Any) -> int:
    """The ``iat`` of the presentation's KB-JWT as it reads, not verified (0 when there is
    none): for choosing evidence, never for judging it."""
    kb = presentation.rsplit("~", 1)[-1] if isinstance(presentation, str) else ""
    try:
        iat = parse_compact(kb).payload.get("iat") if kb else None
    except SDJWTError:
        return 0
    return iat if isinstance(iat, int) and not isinstance(iat, bool) else 0


def _status_logged_at(evidence: StatusEvidence, trust: LogTrust) -> int:
    """When the log signed a checkpoint that includes the status token (its anchor proof);
    raises SDJWTError when that is not proven."""
    assert evidence.token is not None
    try:
        leaf = evidence.token.encode("ascii")
    except UnicodeEncodeError:
        raise SDJWTError("the status list token is not ASCII", code="jws_malformed") from None
    verdict = verify_anchor_proof(evidence.anchor_proof, leaf, log_key=trust.log_key, policy=trust.policy)
    if not verdict.verified or verdict.anchored_at is None:
        failed = next((c for c in verdict.checks if c.status != "passed"), None)
        raise SDJWTError(f"the status list is not proven to be in the log: {failed.detail if failed else 'no time'}",
                         code="status_list_malformed")
    return verdict.anchored_at


def _status_to_check(claims: dict[str, Any], evidence: StatusEvidence | None,
                     report: Report) -> tuple[int, str, StatusEvidence] | None:
    """The credential's status list entry (index, uri) and the token read for it, or ``None``
    when the check ends before the token (reported: a malformed reference fails; no reference,
    or a list that could not be read, is unchecked)."""
    try:
        reference = status_reference(claims)
    except SDJWTError as exc:
        report.add("status", "failed", exc.detail)
        return None
    if reference is None:
        report.add("status", "unchecked", "the credential names no status list")
        return None
    if evidence is None or evidence.token is None:
        report.add("status", "unchecked", f"status could not be checked: {evidence.problem if evidence else 'none given'}")
        return None
    return reference[0], reference[1], evidence


def _status_check(claims: dict[str, Any], records: list[KeyRecord] | TrustedIssuer, evidence: StatusEvidence | None,
                  trust: LogTrust, report: Report, presented: int | None) -> None:
    """The Token Status List entry (draft-ietf-oauth-status-list §5, §8.3), failing closed:

    * the token is a leaf of the log (its anchor proof, under the trusted log and witnesses),
      and its ``kid`` was valid when the log signed that checkpoint: a key compromised since
      cannot date a list back to before the compromise. The token's ``iat`` may not be later
      than that (skew allowed), so a list cannot be dated forward either;
    * its signature, ``sub`` (= the credential's uri) and ``exp`` (against when it was read,
      or for a snapshot when the holder presented: the KB-JWT's ``iat``);
    * a snapshot (offline bundle) must be signed no earlier than the presentation, or it says
      nothing about the credential when it was shared: ``unchecked``.

    For an issuer known by X.509 roots (``records`` is its trust list entry) the token's signer
    is the key its own ``x5c`` chain certifies, to the entry's roots and for the credential's
    ``iss``, judged when the list was logged if its anchor proof is given, else when it was read.
    """
    x5c = records if isinstance(records, TrustedIssuer) else None
    found = _status_to_check(claims, evidence, report)
    if found is None:
        return
    index, uri, evidence = found
    assert evidence.token is not None  # _status_to_check gives only a read token
    if evidence.source:
        report.status_from = evidence.source
    report.status_fetched_at = evidence.fetched_at if evidence.fetched_at is not None else evidence.as_of
    if evidence.anchor_proof is None and x5c is None:
        report.add("status", "unchecked", "the status list comes without the proof that it was logged, so its "
                   "signing key cannot be judged")
        return
    try:
        logged_at = _status_logged_at(evidence, trust) if evidence.anchor_proof is not None else None
        unverified = parse_compact(evidence.token)
        iat = unverified.payload.get("iat")
        if isinstance(iat, bool) or not isinstance(iat, int):
            raise SDJWTError("the status list token has no iat", code="status_list_malformed")
        if logged_at is not None and iat > logged_at + DEFAULT_SKEW_SECONDS:
            raise SDJWTError(f"the status list is dated {_date(iat)}, after it was logged "
                             f"({_date(logged_at)})", code="status_list_malformed")
        when_read = (presented if presented is not None else iat) if evidence.snapshot else evidence.as_of
        if x5c is not None:
            keys = [certified_key(unverified.header, roots=x5c.x5c_roots, iss=claims.get("iss"),
                                  at=logged_at if logged_at is not None else when_read).key]
        else:
            assert logged_at is not None and not isinstance(records, TrustedIssuer)
            valid, why = key_valid_at(records, unverified.header.get("kid"), logged_at)
            if not valid:
                raise SDJWTError(f"judged when the list was logged ({_date(logged_at)}): {why}", code="issuer_key_unknown")
            keys = _issuer_keys(records)
        token = read_status_list(evidence.token, keys=keys, uri=uri, now=when_read)
        value = token.status_list.get(index)
    except CertificateError as exc:
        report.add("status", "failed", f"the status list's certificate does not verify: {exc.detail} [{exc.code}]")
        return
    except SDJWTError as exc:
        if exc.code == "status_list_expired" and evidence.snapshot:
            report.add("status", "unchecked", "the status list in the bundle was no longer current when the share "
                       "was made, so it says nothing about the credential then")
            return
        report.add("status", "failed", f"the status list does not verify: {exc.detail} [{exc.code}]")
        return
    if evidence.snapshot and (presented is None or token.iat < presented):
        report.add("status", "unchecked", f"the status list in the bundle was signed {_date(token.iat)}, older than the "
                   "presentation, so it says nothing about the credential when it was shared")
        return
    report.status_as_of = token.iat  # the issuer-signed time of the list, never an unsigned claim
    logged = f"logged {_date(logged_at)}" if logged_at is not None else "signed under its certificate, not logged"
    when = f"as of {_date(token.iat)}, when the issuer signed the list ({logged})"
    if evidence.snapshot:
        when += " (a snapshot: later changes cannot be seen offline)"
    elif evidence.source:
        when += f"; fetched {_date(report.status_fetched_at)} from {evidence.source}"
    if value == VALID:
        report.credential_status = "valid"
        report.add("status", "passed", f"not revoked or suspended, {when}")
    elif value in (INVALID, SUSPENDED):
        report.credential_status = "revoked" if value == INVALID else "suspended"
        report.add("status", "failed", f"the issuer has {report.credential_status} this credential, {when}")
    else:
        report.add("status", "failed", f"unknown status value {value:#x}, {when}")


def _validity_check(claims: dict[str, Any], now: int, allow_expired: bool, report: Report) -> None:
    """``nbf`` and ``exp`` (RFC 7519 §4.1.4-5) against ``now``. An expired credential never
    passes: it fails, or with ``allow_expired`` it is ``history`` (a record of the past)."""
    exp, nbf = claims.get("exp"), claims.get("nbf")
    for name, value in (("exp", exp), ("nbf", nbf)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            report.add("credential_validity", "failed", f"{name} is not a date")
            return
    if nbf is not None and now < nbf:
        report.add("credential_validity", "failed", f"not valid before {_date(nbf)}")
    elif exp is None:
        report.add("credential_validity", "passed", "does not expire")
    elif now < exp:
        report.expires_at = int(exp)
        report.add("credential_validity", "passed", f"valid until {_date(exp)}")
    else:
        report.expires_at = int(exp)
        if allow_expired:
            why = ("the owner shares it as history" if report.holder_statement.get("history") is True
                   else "shown as a record of the past")
            report.add("credential_validity", "history", f"expired on {_date(exp)}; {why}")
        else:
            report.add("credential_validity", "failed", f"expired on {_date(exp)}")


def verify_credential(
    presentation: str,
    anchor_proof: dict[str, Any] | None,
    *,
    trust: LogTrust,
    history: KeyHistoryEvidence | IssuerKeysEvidence | None,
    status: StatusEvidence | None,
    key_binding: KeyBindingPolicy,
    now: int,
    issuers: TrustList,
    allow_expired: bool = False,
    chain_check: ChainCheck | None = None,
) -> Report:
    """Every check on ``presentation`` (compact SD-JWT with its KB-JWT), in one report. An
    expired credential never passes its validity check: it is ``history`` (outcome
    ``verified_as_history`` when all else holds) with ``allow_expired`` (the holder's own view)
    or when the holder signed ``{"history": true}`` in the KB-JWT's SHARE_CLAIM, else failed.
    With ``history`` an :class:`IssuerKeysEvidence` (an issuer without a log), ``anchor_proof``
    and ``trust`` are not used: see :func:`_verify_with_published_keys`. For an issuer the trust
    list names by X.509 roots, ``history`` is not used and ``anchor_proof`` may be ``None`` (not
    logged): see :func:`_verify_certified`; for any other a missing proof fails."""
    if isinstance(history, IssuerKeysEvidence):
        return _verify_with_published_keys(presentation, history, status=status, key_binding=key_binding, now=now,
                                           issuers=issuers, allow_expired=allow_expired)
    certified_by = _certified_issuer(presentation, issuers)
    if certified_by is not None:
        return _verify_certified(presentation, certified_by, anchor_proof, trust=trust, status=status,
                                 key_binding=key_binding, now=now, issuers=issuers, allow_expired=allow_expired,
                                 chain_check=chain_check)
    report = Report(checked_at=now)
    found = _key_history(history, trust, report)
    records, history_payload = found if found else (None, {})
    report.issuer, report.issuer_name = history_payload.get("iss"), history_payload.get("name")

    jwt = presentation.split("~", 1)[0] if isinstance(presentation, str) else ""
    _anchoring(report, jwt, anchor_proof or {}, trust, chain_check)

    if records is None:
        report.add("issuer_key_valid", "unchecked", "no trusted key history")
    elif report.anchored_at is None:
        report.add("issuer_key_valid", "unchecked", "the anchoring time is not proven")
    else:
        try:
            issuer_jws = parse_compact(jwt)
        except SDJWTError as exc:
            report.add("issuer_key_valid", "failed", exc.detail)
        else:
            header, payload = issuer_jws.header, issuer_jws.payload
            if payload.get("iss") != report.issuer:
                report.add("issuer_key_valid", "failed", f"the credential's iss is not the key history's issuer {report.issuer}")
            else:
                valid, why = key_valid_at(records, header.get("kid"), report.anchored_at)
                report.add("issuer_key_valid", "passed" if valid else "failed", why)

    verified = _presentation_checks(presentation, None if records is None else _issuer_keys(records), key_binding,
                                    now, report)
    if verified is None or records is None:
        _insert_after(report, "key_history", _unverified_issuer_trust(issuers, jwt))
        report.add("status", "unchecked", "not checked: the credential did not verify")
        return report
    claims = verified.claims
    _issuer_trust(report, issuers, claims, trust.log_key.name)
    kb_iat = _presented(report, verified)
    _status_check(claims, records, status, trust, report, kb_iat)
    _validity_check(claims, now, allow_expired or report.holder_statement.get("history") is True, report)
    return report


def _presented(report: Report, verified: VerifiedSDJWT) -> int | None:
    """What the verified presentation tells the report: the credential type, and what the holder
    signed about this share in the KB-JWT (SHARE_CLAIM: only there is it trusted). Returns the
    KB-JWT's ``iat``, when the holder presented it (``None`` without one)."""
    vct = verified.claims.get("vct")
    report.vct = vct if isinstance(vct, str) else None
    statement = (verified.key_binding or {}).get(SHARE_CLAIM)
    if isinstance(statement, dict):
        report.holder_statement = statement
    kb_iat = (verified.key_binding or {}).get("iat")
    return kb_iat if isinstance(kb_iat, int) and not isinstance(kb_iat, bool) else None


def _anchoring(report: Report, jwt: str, anchor_proof: dict[str, Any], trust: LogTrust,
               chain_check: ChainCheck | None) -> int | None:
    """The credential's anchor proof checks, in the report; when the log signed it, once the
    proof verified (``None``: not proven)."""
    try:
        leaf = jwt.encode("ascii")
    except UnicodeEncodeError:
        leaf = b""
    verdict = verify_anchor_proof(anchor_proof, leaf, log_key=trust.log_key, policy=trust.policy,
                                  chain_check=chain_check or offline_chain_check)
    for check in verdict.checks:
        report.add(check.name, check.status, check.detail)
    if trust.policy is None:
        report.add("witness_quorum", "unchecked", "no trusted witness policy was given")
    report.anchored_at = verdict.anchored_at
    report.witnesses = [w.to_json() for w in verdict.witnesses]
    return verdict.anchored_at if verdict.verified else None


# -- issuers known by X.509 roots: keys from the credential's own x5c chain ------------------

def _certified_issuer(presentation: str, issuers: TrustList) -> TrustedIssuer | None:
    """The trust list entry of the credential's (unverified) ``iss`` when it names that issuer
    by X.509 roots: its keys then come from the credential's ``x5c`` only, never elsewhere."""
    try:
        iss = parse_compact(presentation.split("~", 1)[0]).payload.get("iss") if isinstance(presentation, str) else None
    except SDJWTError:
        return None
    entry = issuers.issuer(iss)
    return entry if entry is not None and entry.keys == "x5c" else None


def _certificate(report: Report, entry: TrustedIssuer, jwt: str, anchor_proof: dict[str, Any] | None, trust: LogTrust,
                 now: int, chain_check: ChainCheck | None) -> tuple[list[PublicKey] | None, str | None]:
    """The ``issuer_certificate`` check (first in the report), then the anchoring if the
    credential is logged. The chain is judged when the credential was anchored if that is
    proven, else now."""
    report.issuer = entry.id
    at = len(report.checks)
    if anchor_proof:
        anchored = _anchoring(report, jwt, anchor_proof, trust, chain_check)
    else:
        anchored = None
        report.add("inclusion", "unchecked", "the credential is not logged: it comes with no proof that it is in a "
                   "transparency log, so when it was signed is not proven; its issuer's key is vouched for by its "
                   "certificate alone")
    judged = anchored if anchored is not None else now
    when = f"when it was logged ({_date(judged)})" if anchored is not None else f"now ({_date(judged)})"
    try:
        certified = certified_key(parse_compact(jwt).header, roots=entry.x5c_roots, iss=entry.id, at=judged)
    except (CertificateError, SDJWTError) as exc:
        report.checks.insert(at, Check("issuer_certificate", "failed", f"judged {when}: {exc.detail} [{exc.code}]"))
        return None, None
    report.checks.insert(at, Check("issuer_certificate", "passed", f"{certified.describe()}; judged {when}"))
    return [certified.key], f"key of the certificate {certified.subject}"


def _verify_certified(presentation: str, entry: TrustedIssuer, anchor_proof: dict[str, Any] | None, *, trust: LogTrust,
                      status: StatusEvidence | None, key_binding: KeyBindingPolicy, now: int, issuers: TrustList,
                      allow_expired: bool, chain_check: ChainCheck | None) -> Report:
    """A credential of an issuer known by X.509 roots: ``issuer_certificate``, the anchoring
    (``unchecked`` when not logged), the presentation checks with the certified key, who
    vouches for it, its status (its token's own ``x5c``) and validity."""
    report = Report(checked_at=now)
    jwt = presentation.split("~", 1)[0] if isinstance(presentation, str) else ""
    keys, signer = _certificate(report, entry, jwt, anchor_proof, trust, now, chain_check)
    verified = _presentation_checks(presentation, keys, key_binding, now, report,
                                    no_keys="no trusted issuer keys: the certificate did not verify", signer=signer)
    if verified is None or keys is None:
        _insert_after(report, "issuer_certificate", Check("issuer_trust", "unchecked",
                                                          "not checked: the credential did not verify"))
        report.add("status", "unchecked", "not checked: the credential did not verify")
        return report
    claims = verified.claims
    _issuer_trust(report, issuers, claims, trust.log_key.name if anchor_proof else None, after="issuer_certificate",
                  keys="x5c")
    kb_iat = _presented(report, verified)
    _status_check(claims, entry, status, trust, report, kb_iat)
    _validity_check(claims, now, allow_expired or report.holder_statement.get("history") is True, report)
    return report


def _insert_after(report: Report, name: str, check: Check) -> None:
    at = next((i + 1 for i, c in enumerate(report.checks) if c.name == name), 0)
    report.checks.insert(at, check)


def _unverified_issuer_trust(issuers: TrustList, jwt: str) -> Check:
    """``issuer_trust`` of a credential that did not verify: an issuer not on a trust list is
    "not recognised" whatever else holds (a failure, so reading its unverified ``iss`` trusts
    nothing); any other is not checked."""
    try:
        iss = parse_compact(jwt).payload.get("iss")
    except SDJWTError:
        iss = None
    if isinstance(iss, str) and issuers.issuers and issuers.issuer(iss) is None:
        return issuers.check_issuer(iss, None, None)
    return Check("issuer_trust", "unchecked", "not checked: the credential did not verify")


def _issuer_trust(report: Report, issuers: TrustList, claims: dict[str, Any], log_origin: str | None,
                  after: str = "key_history", keys: KeySource | None = None) -> None:
    """Who vouches for the (verified) issuer: the ``issuer_trust`` check, listed right after the
    key history (``after``); the issuer's name is then the trust list's, never the one it gives itself."""
    check = issuers.check_issuer(claims.get("iss"), claims.get("vct"), log_origin, keys=keys)
    _insert_after(report, after, check)
    entry = issuers.issuer(claims.get("iss"))
    if entry is not None and check.status == "passed":
        report.issuer_name = entry.name
        report.issuer_trust = entry.to_json()


# -- issuers without a log: keys from their JWT VC Issuer Metadata ---------------------------

NO_LOG = "the issuer keeps no transparency log: this credential cannot be checked without the issuer's server"
# what an anchor proof would have shown (docs/anchor-proof.md), and the key's validity at anchoring
_ANCHOR_CHECKS: tuple[str, ...] = ("proof_format", "checkpoint_signature", "inclusion", "witness_quorum", "chain_anchor",
                                   "issuer_key_valid")


def _published_keys(evidence: IssuerKeysEvidence, presentation: str, report: Report) -> list[PublicKey] | None:
    """The ``issuer_keys`` check: the issuer's published keys, when they were had, are for the
    issuer the credential names, and hold at least one usable key."""
    fetched = f"from {evidence.source_url}, fetched {_date(evidence.fetched_at)}" if evidence.fetched_at else \
        f"from {evidence.source_url}"
    if evidence.jwks is None:
        if evidence.invalid:
            report.add("issuer_keys", "failed", f"the issuer's published metadata is not usable: {evidence.problem}")
        else:
            report.add("issuer_keys", "unchecked", f"could not be checked: {evidence.problem or 'no keys'} ({fetched})")
        return None
    try:
        iss = parse_compact(presentation.split("~", 1)[0]).payload.get("iss")
    except SDJWTError:
        iss = None  # the signature check says why
    if iss is not None and (not isinstance(iss, str) or not hmac.compare_digest(iss.encode(), evidence.issuer.encode())):
        report.add("issuer_keys", "failed", f"the keys are those of {evidence.issuer}, not of the credential's issuer")
        return None
    keys = []
    for jwk in evidence.jwks.get("keys") or []:
        try:
            keys.append(PublicKey.from_jwk(jwk))
        except (SDJWTError, TypeError, AttributeError):
            continue  # a key of another kind vouches for nothing
    if not keys:
        report.add("issuer_keys", "failed", f"the issuer publishes no key this verifier can use ({fetched})")
        return None
    report.add("issuer_keys", "passed", f"{len(keys)} key(s) the issuer publishes in its metadata, {fetched}; "
               "not logged, so only its current keys are known")
    return keys


def _verify_with_published_keys(presentation: str, evidence: IssuerKeysEvidence, *, status: StatusEvidence | None,
                                key_binding: KeyBindingPolicy, now: int, issuers: TrustList,
                                allow_expired: bool) -> Report:
    """A credential of an issuer without a log: its signature, disclosures and key binding with
    the keys its metadata publishes, and who vouches for it; the anchoring checks cannot be
    made (:data:`NO_LOG`), so the outcome is ``incomplete`` at best."""
    report = Report(checked_at=now)
    keys = _published_keys(evidence, presentation, report)
    for name in _ANCHOR_CHECKS:
        report.add(name, "unchecked", NO_LOG)
    verified = _presentation_checks(presentation, keys, key_binding, now, report,
                                    no_keys="no trusted issuer keys: the issuer's published keys were not had")
    if verified is None or keys is None:
        _insert_after(report, "issuer_keys", Check("issuer_trust", "unchecked", "not checked: the credential did not verify"))
        report.add("status", "unchecked", "not checked: the credential did not verify")
        return report
    claims = verified.claims
    report.issuer = claims.get("iss") if isinstance(claims.get("iss"), str) else None
    _issuer_trust(report, issuers, claims, None, after="issuer_keys", keys="metadata")
    _presented(report, verified)
    _published_status_check(claims, keys, status, report)
    _validity_check(claims, now, allow_expired or report.holder_statement.get("history") is True, report)
    return report


def _published_status_check(claims: dict[str, Any], keys: list[PublicKey], evidence: StatusEvidence | None,
                            report: Report) -> None:
    """The status of a credential of an issuer without a log (draft-ietf-oauth-status-list §8.3):
    the token read from the issuer at ``evidence.as_of``, signed with a key it publishes now,
    for the credential's ``uri``, not expired then, and not dated in the future. No log proves
    when the list was made, and the check says so; a snapshot (offline) is not enough: without
    a log its signing key cannot be judged later, so it is ``unchecked``."""
    found = _status_to_check(claims, evidence, report)
    if found is None:
        return
    index, uri, evidence = found
    assert evidence.token is not None  # _status_to_check gives only a read token
    if evidence.snapshot:
        report.add("status", "unchecked", "a saved copy of the status list of an issuer without a log cannot be "
                   "judged: its signing key is only known while the issuer publishes it")
        return
    try:
        token = read_status_list(evidence.token, keys=keys, uri=uri, now=evidence.as_of)
        if token.iat > evidence.as_of + DEFAULT_SKEW_SECONDS:
            raise SDJWTError(f"the status list is dated {_date(token.iat)}, after it was read", code="status_list_malformed")
        value = token.status_list.get(index)
    except SDJWTError as exc:
        report.add("status", "failed", f"the status list does not verify: {exc.detail} [{exc.code}]")
        return
    report.status_as_of = token.iat
    when = (f"as of {_date(token.iat)}, when the issuer signed the list (read from the issuer at "
            f"{_date(evidence.as_of)}, signed with a key it publishes; no log proves when it was made)")
    if value == VALID:
        report.credential_status = "valid"
        report.add("status", "passed", f"not revoked or suspended, {when}")
    elif value in (INVALID, SUSPENDED):
        report.credential_status = "revoked" if value == INVALID else "suspended"
        report.add("status", "failed", f"the issuer has {report.credential_status} this credential, {when}")
    else:
        report.add("status", "failed", f"unknown status value {value:#x}, {when}")


def trust_from_policy(policy_text: str | bytes, log_key: str | None = None) -> LogTrust:
    """A :class:`LogTrust` from a C2SP tlog-policy (the text ``GET /log/trust`` serves): its
    log, or the one of its logs whose vkey is ``log_key``. Raises AnchoringError
    (``witness_policy_invalid``) on a malformed policy or one that lists no such log."""
    policy = parse_policy(policy_text)
    logs = [k for k in policy.logs if log_key is None or k.encode() == log_key.strip()]
    if len(logs) != 1:
        why = "lists no log" if not policy.logs else f"does not list the log {log_key}" if log_key else \
            "lists several logs: name the one to trust"
        raise AnchoringError(f"the trust policy {why}", code="witness_policy_invalid")
    return LogTrust(logs[0], policy)


def trust_from_log_key(log_key: str) -> LogTrust:
    """A :class:`LogTrust` of a log key alone (``GET /log/key``): no witness policy, so the
    witness check cannot be made. Raises AnchoringError on a malformed key."""
    return LogTrust(NoteVerifier.decode(log_key), None)
