"""The trust list (``credshare-trust-list/v1``): whom a wallet host or a verifier trusts.

One TOML file (RFC-less, TOML 1.0), kept by the operator and never taken from what it judges:

* ``[[log]]``: a transparency log, as a C2SP tlog-policy (c2sp.org/tlog-policy) in ``policy``:
  the log's verifier key and URL (``log <vkey> <url>``), its witnesses and the quorum;
  optional ``mirrors``, tlog-tiles prefixes that serve its proofs when the log is gone;
* ``[[issuer]]``: an issuer, by its identifier (``id``, the ``iss`` of its credentials) with a
  display ``name``, an ``accreditation`` label ("LCME-accredited school", "state medical board"),
  the credential ``types`` (``vct`` values) it may issue, and where its keys are proven:
  ``log`` (the origin of a listed log holding its signed key history), ``metadata`` (the URL of
  its JWT VC Issuer Metadata, SD-JWT VC §5; keys not logged) or ``x5c_roots`` (PEM roots its
  ``x5c`` chains must lead to, as HAIP requires); or ``keys = "blockcerts"``: a Blockcerts issuer,
  ``id`` its issuer profile URL, optionally ``addresses``, the issuing addresses the operator pins
  (the one that anchored a record must be among them); ``types`` does not apply (Blockcerts
  records carry no ``vct``).

A bare tlog-policy file is read as a trust list of that one log and no issuers, so trust files
of earlier versions keep working for logs; the JSON trust file of older versions is refused
(``trust_file_json_unsupported``).

``check_issuer`` gives the ``issuer_trust`` check: an issuer not on the list is "not
recognised" and a type it may not issue is refused, both failed, never verified. Pure: text in,
typed values or :class:`TrustListError` out.
"""

from __future__ import annotations

import hmac
import re
import tomllib
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Literal, Mapping
from urllib.parse import urlsplit

from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import NoteVerifier
from credshare.anchoring.policy import Policy, parse_policy
from credshare.foundation.b64 import b64_decode
from credshare.foundation.checks import Check
from credshare.foundation.errors import InputError

TRUST_LIST_FORMAT = "credshare-trust-list/v1"
MAX_TRUST_LIST_BYTES = 1024 * 1024
MAX_LOGS = 64
MAX_ISSUERS = 2048
MAX_TYPES = 64
MAX_TEXT = 200  # characters of a name or an accreditation label
MAX_URL = 2048

KeySource = Literal["log", "metadata", "x5c", "blockcerts"]
_KEYS_FROM: dict[str, str] = {"log": "a logged key history", "metadata": "its published issuer metadata",
                              "x5c": "X.509 certificates", "blockcerts": "its Blockcerts issuer profile"}
MAX_ADDRESSES = 32
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----")


class TrustListError(InputError):
    """A trust list that cannot be read; nothing of it is used."""

    code = "trust_file_invalid"


@dataclass(frozen=True)
class LogTrust:
    """The log key the verifier trusts, and the C2SP tlog-policy its checkpoints' witnesses
    are judged by (which witnesses, what quorum). Without a policy (``None``) the witness
    check cannot be made."""

    log_key: NoteVerifier
    policy: Policy | None


@dataclass(frozen=True)
class TrustedLog:
    """A log the verifier trusts: a C2SP tlog-policy (its log keys, witnesses and quorum), or a
    log key alone (``policy`` ``None``: the witnesses cannot be checked). ``mirrors``: tlog-tiles
    prefixes that serve the log's tiles and checkpoint besides the log itself."""

    log_keys: tuple[str, ...]
    policy: Policy | None = None
    mirrors: tuple[str, ...] = ()

    @classmethod
    def from_key(cls, log_key: str) -> TrustedLog:
        return cls((log_key.strip(),))

    @classmethod
    def from_text(cls, text: str | bytes) -> TrustedLog:
        """A tlog-policy text (as ``GET /log/trust`` serves it). The JSON trust file of earlier
        versions (log key, BLS witness keys, integer quorum) is refused with
        ``trust_file_json_unsupported``."""
        raw = text.encode("utf-8") if isinstance(text, str) else text
        if raw.lstrip()[:1] in (b"{", b"["):
            raise TrustListError("this is a JSON trust file of an earlier version (BLS witness keys); a trust file is "
                                 "now the C2SP tlog-policy text GET /log/trust serves, or a credshare trust list: "
                                 "fetch it again", code="trust_file_json_unsupported")
        try:
            policy = parse_policy(raw)
        except AnchoringError as exc:
            raise TrustListError(f"the trust file is not a tlog-policy: {exc.detail}") from None
        if not policy.logs:
            raise TrustListError("the trust policy lists no log")
        return cls(tuple(key.encode() for key in policy.logs), policy)

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(key.split("+", 1)[0] for key in self.log_keys)

    def url(self, origin: str) -> str | None:
        """Where the log says it serves its checkpoints and proofs (the policy's ``log`` URL)."""
        return self.policy.log_urls.get(origin) if self.policy is not None else None

    def trusts(self, log_key: str) -> bool:
        return any(hmac.compare_digest(k.encode(), log_key.encode()) for k in self.log_keys)

    def trust(self, log_key: str) -> LogTrust:
        """The trust of the listed ``log_key``: its key and this policy."""
        return LogTrust(NoteVerifier.decode(log_key), self.policy)


@dataclass(frozen=True)
class TrustedIssuer:
    """An issuer on the list, as the operator describes it (never as the issuer describes itself)."""

    id: str
    name: str
    accreditation: str
    types: tuple[str, ...]
    log: str | None = None  # origin of the log holding its key history (keys proven by that log)
    metadata: str | None = None  # its JWT VC Issuer Metadata URL (keys: metadata, not logged)
    x5c_roots: tuple[bytes, ...] = field(default=(), repr=False)  # DER roots its x5c chains lead to
    vouched_by: str = "your trust list"
    blockcerts: bool = False  # a Blockcerts issuer: ``id`` is its issuer profile URL
    addresses: tuple[str, ...] = ()  # Blockcerts issuing addresses the operator pins (none: the profile's)

    @property
    def keys(self) -> KeySource:
        """Where its keys are proven: a logged key history, X.509 roots, its metadata, or its
        Blockcerts issuer profile."""
        if self.blockcerts:
            return "blockcerts"
        if self.log is not None:
            return "log"
        return "x5c" if self.x5c_roots else "metadata"

    @property
    def metadata_url(self) -> str:
        """SD-JWT VC §5: ``/.well-known/jwt-vc-issuer`` inserted between the identifier's host and path."""
        if self.metadata:
            return self.metadata
        parts = urlsplit(self.id)
        return f"{parts.scheme}://{parts.netloc}/.well-known/jwt-vc-issuer{parts.path.rstrip('/')}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "accreditation": self.accreditation, "types": list(self.types),
                "keys": self.keys, "log": self.log, "vouched_by": self.vouched_by}


@dataclass(frozen=True)
class TrustList:
    """Logs and issuers the operator trusts. ``issuers`` by identifier."""

    logs: tuple[TrustedLog, ...] = ()
    issuers: Mapping[str, TrustedIssuer] = field(default_factory=dict)

    @classmethod
    def of(cls, logs: Iterable[TrustedLog] = (), issuers: Iterable[TrustedIssuer] = ()) -> TrustList:
        return cls(tuple(logs), {i.id: i for i in issuers})

    def with_issuers(self, issuers: Iterable[TrustedIssuer]) -> TrustList:
        """This list with ``issuers`` added where it names none under their identifier: what the
        operator wrote always wins."""
        added = {i.id: i for i in issuers if i.id not in self.issuers}
        return replace(self, issuers={**added, **self.issuers}) if added else self

    def with_logs(self, logs: Iterable[TrustedLog]) -> TrustList:
        return replace(self, logs=self.logs + tuple(logs))

    def origins(self) -> tuple[str, ...]:
        return tuple(origin for log in self.logs for origin in log.origins)

    def issuer(self, iss: Any) -> TrustedIssuer | None:
        return self.issuers.get(iss) if isinstance(iss, str) else None

    def log_for_key(self, log_key: str) -> TrustedLog | None:
        return next((t for t in self.logs if t.trusts(log_key)), None)

    def log_for_origin(self, origin: str) -> tuple[TrustedLog, str] | None:
        """The listed log whose key is named ``origin``, with that key."""
        for log in self.logs:
            for key in log.log_keys:
                if key.split("+", 1)[0] == origin:
                    return log, key
        return None

    def _listed(self, iss: Any) -> TrustedIssuer | Check:
        """The entry naming ``iss``, or the ``issuer_trust`` check when there is none: unchecked
        without a list of issuers, failed ("issuer not recognised") when the list does not name it."""
        if not self.issuers:
            return Check("issuer_trust", "unchecked", "no trust list of issuers was given, so who vouches for "
                                                      f"{iss} is not known")
        entry = self.issuer(iss)
        if entry is None:
            return Check("issuer_trust", "failed", f"issuer not recognised: {iss} is not on your trust list")
        return entry

    def check_issuer(self, iss: Any, vct: Any, log_origin: str | None, *, keys: KeySource | None = None) -> Check:
        """The ``issuer_trust`` check of a verified credential from ``iss`` of type ``vct``,
        anchored in the log named ``log_origin`` (``None``: not logged). ``keys``: where its
        issuer keys were taken from, when not from a logged key history: the entry must say
        the same (an issuer listed with a log is never judged by its metadata, nor the reverse)."""
        entry = self._listed(iss)
        if isinstance(entry, Check):
            return entry
        if vct not in entry.types:
            return Check("issuer_trust", "failed", f"{entry.name} is on your trust list, but not for credentials "
                                                   f"of type {vct}")
        if keys is not None and entry.keys != keys:
            return Check("issuer_trust", "failed", f"{entry.name} is on your trust list with its keys from "
                                                   f"{_KEYS_FROM[entry.keys]}, but this credential's keys come from "
                                                   f"{_KEYS_FROM[keys]}")
        if entry.keys == "log" and log_origin != entry.log:
            where = f"the log {log_origin}" if log_origin else "no log"
            return Check("issuer_trust", "failed", f"{entry.name} is on your trust list with its credentials in the "
                                                   f"log {entry.log}, but this one is anchored in {where}")
        label = f" ({entry.accreditation})" if entry.accreditation else ""
        return Check("issuer_trust", "passed", f"{entry.name}{label}, on {entry.vouched_by}")

    def check_blockcerts_issuer(self, profile_url: str, anchored_by: str | None) -> Check:
        """The ``issuer_trust`` check of a Blockcerts record whose issuer profile is
        ``profile_url``, anchored by the address ``anchored_by`` (``None``: no confirmed transaction)."""
        entry = self._listed(profile_url)
        if isinstance(entry, Check):
            return entry
        if entry.keys != "blockcerts":
            return Check("issuer_trust", "failed", f"{entry.name} is on your trust list with its keys from "
                                                   f"{_KEYS_FROM[entry.keys]}, not for Blockcerts records")
        label = f" ({entry.accreditation})" if entry.accreditation else ""
        if entry.addresses and anchored_by is not None and not any(
                hmac.compare_digest(a.lower().encode(), anchored_by.lower().encode()) for a in entry.addresses):
            return Check("issuer_trust", "failed", f"{entry.name} is on your trust list, but the record was anchored by "
                                                   f"{anchored_by[:100]}, not one of the addresses it pins",
                         "blockcerts_address_not_pinned")
        return Check("issuer_trust", "passed", f"{entry.name}{label}, on {entry.vouched_by}")

    # -- the file ----------------------------------------------------------------------

    @classmethod
    def from_text(cls, text: str | bytes) -> TrustList:
        """A trust list file, or a bare tlog-policy (one log, no issuers)."""
        raw = text.encode("utf-8") if isinstance(text, str) else text
        if len(raw) > MAX_TRUST_LIST_BYTES:
            raise TrustListError(f"a trust list is at most {MAX_TRUST_LIST_BYTES} bytes")
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise TrustListError("a trust list is UTF-8 text") from None
        try:
            doc = tomllib.loads(decoded)
        except tomllib.TOMLDecodeError as exc:
            toml_problem = str(exc)
        else:
            return cls.from_document(doc)
        try:  # a tlog-policy is not TOML (and a JSON trust file of old is refused there, with its code)
            return cls.of([TrustedLog.from_text(raw)])
        except TrustListError as exc:
            if exc.code != TrustListError.code:
                raise
            raise TrustListError(f"the trust file is neither a trust list ({toml_problem}) nor a tlog-policy "
                                 f"({exc.detail})") from None

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> TrustList:
        if doc.get("format") != TRUST_LIST_FORMAT:
            raise TrustListError(f'a trust list begins with format = "{TRUST_LIST_FORMAT}"')
        unknown = set(doc) - {"format", "log", "issuer"}
        if unknown:
            raise TrustListError(f"unknown trust list entries: {', '.join(sorted(unknown))}")
        logs = [_log(i, item) for i, item in enumerate(_tables(doc, "log", MAX_LOGS), start=1)]
        issuers = [_issuer(i, item) for i, item in enumerate(_tables(doc, "issuer", MAX_ISSUERS), start=1)]
        ids = [i.id for i in issuers]
        if len(set(ids)) != len(ids):
            raise TrustListError("an issuer is listed twice: " + next(i for i in ids if ids.count(i) > 1))
        origins = list(cls.of(logs).origins())
        if len(set(origins)) != len(origins):
            raise TrustListError("two logs have the same origin: " + next(o for o in origins if origins.count(o) > 1))
        return cls.of(logs, issuers)

    def unlisted_logs(self) -> list[str]:
        """Warnings: issuers whose log this list does not name. Allowed (a server trusts its own
        log without listing it), but such an issuer is recognised only under a log trusted elsewhere."""
        origins = set(self.origins())
        return [f"issuer {i.id} names the log {i.log}, which this list does not name"
                for i in self.issuers.values() if i.log is not None and i.log not in origins]


def _tables(doc: Mapping[str, Any], name: str, limit: int) -> list[Mapping[str, Any]]:
    items = doc.get(name, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TrustListError(f"{name} entries are tables: [[{name}]]")
    if len(items) > limit:
        raise TrustListError(f"a trust list names at most {limit} of [[{name}]]")
    return items


def _text(item: Mapping[str, Any], key: str, where: str, *, required: bool = True, limit: int = MAX_TEXT) -> str | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit or any(ord(c) < 0x20 for c in value):
        raise TrustListError(f"{where}: {key} is a line of text of at most {limit} characters")
    return value.strip()


def _url(item: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = _text(item, key, where, required=required, limit=MAX_URL)
    if value is not None and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname):
        raise TrustListError(f"{where}: {key} is an http(s) URL")
    return value


def _log(number: int, item: Mapping[str, Any]) -> TrustedLog:
    where = f"log {number}"
    unknown = set(item) - {"policy", "mirrors"}
    if unknown:
        raise TrustListError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    policy_text = item.get("policy")
    if not isinstance(policy_text, str):
        raise TrustListError(f"{where}: policy is the log's tlog-policy text")
    try:
        log = TrustedLog.from_text(policy_text)
    except TrustListError as exc:
        raise TrustListError(f"{where}: {exc.detail}", code=exc.code) from None
    mirrors = item.get("mirrors", [])
    if not isinstance(mirrors, list) or len(mirrors) > 8:
        raise TrustListError(f"{where}: mirrors is a list of at most 8 URLs")
    return replace(log, mirrors=tuple(str(_url({"m": m}, "m", f"{where} mirror", required=True)) for m in mirrors))


def _issuer(number: int, item: Mapping[str, Any]) -> TrustedIssuer:
    where = f"issuer {number}"
    unknown = set(item) - {"id", "name", "accreditation", "types", "log", "metadata", "x5c_roots", "keys", "addresses"}
    if unknown:
        raise TrustListError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    issuer_id = str(_text(item, "id", where, limit=MAX_URL))
    if "keys" in item or "addresses" in item:
        return _blockcerts_issuer(where, issuer_id, item)
    types = item.get("types")
    if not isinstance(types, list) or not types or len(types) > MAX_TYPES \
            or not all(isinstance(t, str) and t.strip() and len(t) <= MAX_URL for t in types):
        raise TrustListError(f"{where} ({issuer_id}): types lists the credential types (vct) it may issue")
    roots = item.get("x5c_roots", [])
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots) or len(roots) > 8:
        raise TrustListError(f"{where} ({issuer_id}): x5c_roots is a list of at most 8 PEM certificates")
    return TrustedIssuer(
        id=issuer_id, name=str(_text(item, "name", where)), accreditation=_text(item, "accreditation", where,
                                                                                required=False) or "",
        types=tuple(t.strip() for t in types), log=_text(item, "log", where, required=False, limit=MAX_URL),
        metadata=_url(item, "metadata", where), x5c_roots=tuple(_pem_der(r, f"{where} ({issuer_id})") for r in roots))


def _blockcerts_issuer(where: str, issuer_id: str, item: Mapping[str, Any]) -> TrustedIssuer:
    if item.get("keys") != "blockcerts":
        raise TrustListError(f'{where} ({issuer_id}): keys is "blockcerts" (a Blockcerts issuer) or absent')
    extra = set(item) & {"types", "log", "metadata", "x5c_roots"}
    if extra:
        raise TrustListError(f"{where} ({issuer_id}): a Blockcerts issuer has no {', '.join(sorted(extra))}")
    _url(item, "id", where, required=True)
    addresses = item.get("addresses", [])
    if not isinstance(addresses, list) or len(addresses) > MAX_ADDRESSES or not all(
            isinstance(a, str) and a.strip() and len(a) <= 100 and a.strip().isalnum() for a in addresses):
        raise TrustListError(f"{where} ({issuer_id}): addresses is a list of at most {MAX_ADDRESSES} issuing addresses")
    return TrustedIssuer(id=issuer_id, name=str(_text(item, "name", where)),
                         accreditation=_text(item, "accreditation", where, required=False) or "", types=(),
                         blockcerts=True, addresses=tuple(a.strip() for a in addresses))


def _pem_der(text: str, where: str) -> bytes:
    found = _PEM.fullmatch(text.strip())
    if found is None:
        raise TrustListError(f"{where}: an x5c root is one PEM certificate (-----BEGIN CERTIFICATE-----...)")
    try:
        return b64_decode("".join(found.group(1).split()))
    except ValueError:
        raise TrustListError(f"{where}: an x5c root's PEM is not base64") from None
