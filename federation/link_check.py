"""Checking a share link made on another server, as a verifier-only server does: the
credentialing specialist pastes the link (and its passcode), this server fetches the link's
offline bundle (docs/bundle.md) from the wallet server that made it, and verifies it by its own
trust list (verifier/trust_list.py), never by what the wallet server says of it.

The bundle is fetched from ``GET <wallet>/api/v1/shares/<token>/bundle`` (the passcode in
``X-Share-Passcode``), through :func:`credshare.foundation.http_client.request`: https outside
loopback, bounded in time and size, redirects never followed, strict JSON bounded in depth; the
link was pasted by a visitor, so it is asked only at a public address unless the operator
allows its host by name (``CREDSHARE_FETCH_ALLOW_HOSTS``).
Fetching it counts as one view of the link, as opening it would. The status list is read again
from the issuer when a ``fresh_status`` source is given (a verifier that can reach the issuer);
otherwise, or when the issuer cannot be reached, the report says the status is the bundle's
snapshot, as of when the issuer signed it.

A Blockcerts bundle's issuer documents (profile, revocation list) are unsigned, and the wallet
server fetched them: with ``blockcerts`` sources, this server fetches them again itself from the
issuer the record names (if its trust list recognises that issuer) and looks the anchor up on
its own endpoints; what it cannot fetch stays the wallet server's copy, and the report says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable
from urllib.parse import urlsplit

from credshare.blockcerts.errors import BlockcertsError
from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import parse_compact
from credshare.federation.trust import TrustService
from credshare.foundation import http_client, strict_json
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import CredshareError, InputError
from credshare.verifier.blockcerts import blockcerts_report, recognised_issuer
from credshare.verifier.bundle import BLOCKCERTS_FORMAT, SHARER, blockcerts_evidence, verify_bundle
from credshare.verifier.credential import ChainCheck, StatusEvidence
from credshare.verifier.report import Report

MAX_BUNDLE_BYTES = 2 * 1024 * 1024
MAX_PASSCODE_CHARS = 200
_LINK = re.compile(r"^(?P<prefix>(?:/[^/?#]+)*?)/s/(?P<token>[A-Za-z0-9_-]{16,128})/?$")
# what the wallet server's refusals mean to the person checking the link
_REMOTE_CODES = {"passcode_required", "passcode_wrong", "share_locked", "share_revoked", "share_expired",
                 "share_used_up", "share_unknown", "share_busy", "rate_limited"}

FreshStatus = Callable[[dict[str, Any], int], "StatusEvidence | None"]


class LinkCheckError(InputError):
    """The link could not be checked; ``code`` says why (the wallet server's own code when it refused)."""

    code = "link_check_failed"
    http_status = 422


@dataclass(frozen=True)
class CheckedLink:
    link: str
    wallet: str  # the wallet server's base URL, where the bundle came from
    bundle: dict[str, Any]
    report: Report


def bundle_url(link: str) -> tuple[str, str]:
    """The wallet server's base URL and the bundle API URL of the share link ``link``."""
    link = (link or "").strip()
    try:
        http_client.check_remote_url(link)
    except http_client.RemoteError as exc:
        raise LinkCheckError(exc.detail, code="link_invalid") from None
    parts = urlsplit(link)
    found = _LINK.match(parts.path)
    if found is None or parts.query or parts.fragment:
        raise LinkCheckError("this is not a share link (…/s/<code>)", code="link_invalid")
    base = f"{parts.scheme}://{parts.netloc}{found.group('prefix')}"
    return base, f"{base}/api/v1/shares/{found.group('token')}/bundle"


class LinkChecker:
    def __init__(self, trusting: TrustService, *, chain_check: ChainCheck | None = None,
                 fresh_status: FreshStatus | None = None, clock: Clock = SYSTEM_CLOCK,
                 request: Callable[..., http_client.Answer] = http_client.request,
                 allowed_hosts: frozenset[str] = frozenset(), blockcerts: Any = None) -> None:
        """``fresh_status(claims, now)``: the issuer's current status list for a credential with
        those (unverified) claims, as evidence to check, or ``None`` when none can be had;
        ``allowed_hosts``: local or private hosts a pasted link may name all the same;
        ``blockcerts``: the Blockcerts sources (federation/blockcerts_sources.py) a Blockcerts
        record's issuer documents are fetched again with (``None``: the bundle's copies only)."""
        self._blockcerts = blockcerts
        self._trusting, self._chain_check, self._fresh_status = trusting, chain_check, fresh_status
        self._clock, self._request, self._allowed_hosts = clock, request, allowed_hosts

    def fetch_bundle(self, link: str, passcode: str | None) -> tuple[str, dict[str, Any]]:
        base, url = bundle_url(link)
        headers = {"Accept": "application/json"}
        if passcode:
            if len(passcode) > MAX_PASSCODE_CHARS or not passcode.isprintable():
                raise LinkCheckError("that is not a passcode", code="passcode_wrong")
            headers["X-Share-Passcode"] = passcode
        try:
            answer = self._request("GET", url, max_bytes=MAX_BUNDLE_BYTES, headers=headers, public_only=True,
                                   allowed_hosts=self._allowed_hosts)
        except http_client.RemoteError as exc:
            raise LinkCheckError(f"the server that made the link could not be asked: {exc.detail}",
                                 code="wallet_unreachable") from None
        try:
            body = strict_json.loads(answer.body)
        except CredshareError:
            body = None
        if answer.status != 200:
            code = body.get("error") if isinstance(body, dict) else None
            detail = body.get("detail") if isinstance(body, dict) else None
            if code in _REMOTE_CODES and isinstance(detail, str):
                raise LinkCheckError(detail[:300], code=str(code))
            raise LinkCheckError(f"the server that made the link answered {answer.status}", code="wallet_refused")
        if not isinstance(body, dict) or answer.content_type != "application/json":
            raise LinkCheckError("the server that made the link did not answer with a bundle", code="bundle_malformed")
        return base, body

    def check(self, link: str, passcode: str | None = None) -> CheckedLink:
        """Fetch the link's bundle and verify it now by this server's trust list."""
        base, bundle = self.fetch_bundle(link, passcode)
        now = self._clock.seconds()
        if isinstance(bundle, dict) and bundle.get("format") == BLOCKCERTS_FORMAT and self._blockcerts is not None:
            return CheckedLink(link.strip(), base, bundle, self._blockcerts_report(bundle, now))
        fresh = None
        if self._fresh_status is not None:
            claims = _unverified_claims(bundle)
            fresh = self._fresh_status(claims, now) if claims is not None else None
        report = verify_bundle(bundle, trusted=self._trusting.trust_list(), now=now, chain_check=self._chain_check,
                               fresh_status=fresh)
        return CheckedLink(link.strip(), base, bundle, report)


    def _blockcerts_report(self, bundle: dict[str, Any], now: int) -> Report:
        """A Blockcerts bundle, judged with the issuer's documents fetched again here."""
        kept = blockcerts_evidence(bundle.get("blockcerts"), kept_by=SHARER)
        trusted = self._trusting.trust_list()
        if not recognised_issuer(kept.document, trusted):
            return blockcerts_report(kept, trusted, now=now)
        try:
            fresh = self._blockcerts.gather(kept.document, now=now)
        except BlockcertsError:
            return blockcerts_report(kept, trusted, now=now)
        return blockcerts_report(replace(
            fresh, issuer_profile=fresh.issuer_profile or kept.issuer_profile,
            revocation_list=fresh.revocation_list or kept.revocation_list,
            status_list=fresh.status_list or kept.status_list), trusted, now=now)


def _unverified_claims(bundle: dict[str, Any]) -> dict[str, Any] | None:
    """The credential's own claims as they read, to locate its status list: never trusted."""
    presentation = bundle.get("presentation")
    if not isinstance(presentation, str):
        return None
    try:
        return parse_compact(presentation.split("~", 1)[0]).payload
    except SDJWTError:
        return None
