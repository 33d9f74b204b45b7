"""Issuer status lists (draft-ietf-oauth-status-list) kept in the store.

Each issuer has numbered lists of 2^20 two-bit entries (valid, revoked, suspended). Every
credential gets a random index that is never handed out again: a second bitmap records
which indices were ever allocated. Changes are compare-and-set on the list's ``version``,
so concurrent workers never lose one. Each change publishes a newly signed
``statuslist+jwt`` and appends its bytes to the transparency log, so the list's whole
history is provable.
"""

from __future__ import annotations

import re
import secrets
import zlib
from array import array
from typing import Any, Iterator

from credshare.disclosure.status_list import INVALID, SUSPENDED, VALID, StatusList, sign_status_list
from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.cache import BoundedCache
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import CredshareError
from credshare.issuing.cosigning import WitnessRequests
from credshare.issuing.issuers import IssuerRegistry, issuer_base
from credshare.storage import Store
from credshare.storage.tlog import TransparencyLog

LISTS = "status_lists"
LIST_SIZE = 1 << 20
BITS = 2
FILL_LIMIT = LIST_SIZE // 2  # past half full, a new list is opened so random picks stay cheap
TOKEN_TTL = 300  # seconds a verifier may cache the list (the token's ttl)
TOKEN_LIFETIME = 24 * 3600
STATUS_NAMES = {"valid": VALID, "revoked": INVALID, "suspended": SUSPENDED}
KEPT_TOKENS = 256
# what serving a token needs of its list: never the bitmaps themselves
_SERVING_FIELDS = ("uri", "number", "values_version", "token_values_version", "token_iat", "token_log_index",
                   "token_tree_size")


class StatusError(CredshareError):
    code = "status_invalid"
    http_status = 400
    stage = "input"


def _pack(data: bytes | bytearray) -> str:
    return b64_encode(zlib.compress(bytes(data), 6))


def _unpack(text: str) -> bytearray:
    return bytearray(zlib.decompress(b64_decode(text)))


def _list_uri(iss: str, issuer_id: str, number: int) -> str:
    return f"{issuer_base(iss)}/status/{issuer_id}/{number}"


class Allocation:
    """Reserved status-list slots, compactly (4 bytes an index, not a tuple each): runs of
    indices per list uri, iterated as ``(uri, index)`` in allocation order."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, array[int]]] = []

    def __len__(self) -> int:
        return sum(len(indices) for _, indices in self.runs)

    def __iter__(self) -> Iterator[tuple[str, int]]:
        for uri, indices in self.runs:
            for index in indices:
                yield uri, index


class StatusService:
    def __init__(self, store: Store, issuers: IssuerRegistry, log: TransparencyLog, *,
                 cosigning: WitnessRequests | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._cosigning = cosigning  # asks the remote witnesses to cosign each token's checkpoint
        self._lists = store.collection(LISTS)
        self._issuers = issuers
        self._log = log
        self._tokens: BoundedCache[str] = BoundedCache(KEPT_TOKENS)  # by (list id, the token's leaf index)
        self._adopt_older_lists()

    def _adopt_older_lists(self) -> None:
        """Lists made before each list kept its own uri and issuer: they were made under the
        issuer's first identifier."""
        for doc in self._lists.find({"uri": {"$exists": False}}, fields=["issuer", "number"]):
            iss = self._issuers.get(doc["issuer"])["identifiers"][0]
            self._lists.update_one({"_id": doc["_id"]},
                                   {"$set": {"iss": iss, "uri": _list_uri(iss, doc["issuer"], doc["number"])}})

    @staticmethod
    def _list_id(issuer_id: str, uri: str) -> str | None:
        """The stored id of the issuer's list that ``uri`` names by its number, if it can be one."""
        number = uri.rsplit("/", 1)[-1]
        return f"{issuer_id}|{number}" if re.fullmatch(r"[1-9][0-9]{0,8}", number) else None

    def number_for(self, issuer_id: str, uri: str) -> int | None:
        """The number of the issuer's status list published at ``uri``, if it is one."""
        list_id = self._list_id(issuer_id, uri)
        doc = self._lists.find_one({"_id": list_id}, fields=["uri"]) if list_id else None
        return int(uri.rsplit("/", 1)[-1]) if doc is not None and doc["uri"] == uri else None

    def _open_list(self, issuer_id: str) -> dict[str, Any]:
        """The list new credentials get slots in: not full, and made under the issuer's
        current identifier (after a move, new credentials point at the new URL)."""
        iss = self._issuers.issuer_url(issuer_id)
        doc = self._lists.find_one({"issuer": issuer_id, "full": False, "iss": iss}, sort=[("number", -1)])
        if doc is not None:
            return doc
        last = self._lists.find_one({"issuer": issuer_id}, sort=[("number", -1)])
        number = (last or {}).get("number", 0) + 1
        empty = bytes(LIST_SIZE * BITS // 8)
        self._lists.update_one(
            {"_id": f"{issuer_id}|{number}"},
            {"$setOnInsert": {"issuer": issuer_id, "number": number, "iss": iss,
                              "uri": _list_uri(iss, issuer_id, number), "values": _pack(empty),
                              "allocated": _pack(bytes(LIST_SIZE // 8)), "count": 0, "version": 0,
                              "values_version": 0, "full": False}},
            upsert=True,
        )
        return self._lists.find_one({"_id": f"{issuer_id}|{number}"})  # type: ignore[return-value]

    def allocate(self, issuer_id: str, count: int) -> Allocation:
        """``count`` fresh random indices, reserved now; iterate for ``(status list uri, index)``."""
        out = Allocation()
        while len(out) < count:
            doc = self._open_list(issuer_id)
            allocated = _unpack(doc["allocated"])
            room = FILL_LIMIT - doc["count"]
            want = min(count - len(out), max(room, 0))
            picked: list[int] = []
            while len(picked) < want:
                index = secrets.randbelow(LIST_SIZE)
                byte, bit = divmod(index, 8)
                if not allocated[byte] >> bit & 1:
                    allocated[byte] |= 1 << bit
                    picked.append(index)
            changes: dict[str, Any] = {"allocated": _pack(allocated), "count": doc["count"] + want}
            if doc["count"] + want >= FILL_LIMIT:
                changes["full"] = True
            moved = self._lists.update_one({"_id": doc["_id"], "version": doc["version"]},
                                           {"$set": changes, "$inc": {"version": 1}})
            if moved.matched:
                out.runs.append((doc["uri"], array("L", picked)))
        return out

    def set_status(self, issuer_id: str, number: int, index: int, status: str) -> str:
        """Set one entry and publish the list; returns the new signed token."""
        return self.set_statuses(issuer_id, [(number, index, status)])[number]

    def set_statuses(self, issuer_id: str, changes: list[tuple[int, int, str]]) -> dict[int, str]:
        """Apply ``(list number, index, status)`` changes, each list in one compare-and-set,
        and publish each changed list once; returns the new token per list."""
        by_list: dict[int, list[tuple[int, int]]] = {}
        for number, index, status in changes:
            if status not in STATUS_NAMES:
                raise StatusError(f"status is one of {', '.join(STATUS_NAMES)}", code="status_name_invalid")
            by_list.setdefault(number, []).append((index, STATUS_NAMES[status]))
        return {number: self._apply(issuer_id, number, entries) for number, entries in by_list.items()}

    def _apply(self, issuer_id: str, number: int, entries: list[tuple[int, int]]) -> str:
        for _ in range(50):
            doc = self._get(issuer_id, number)
            allocated = _unpack(doc["allocated"])
            status_list = StatusList(BITS, _unpack(doc["values"]))
            for index, value in entries:
                if not 0 <= index < LIST_SIZE or not allocated[index // 8] >> (index % 8) & 1:
                    raise StatusError(f"index {index} was never allocated in list {number}", code="status_index_unknown")
                status_list.set(index, value)
            moved = self._lists.update_one({"_id": doc["_id"], "version": doc["version"]},
                                           {"$set": {"values": _pack(status_list.data)},
                                            "$inc": {"version": 1, "values_version": 1}})
            if moved.matched:
                return self.publish(issuer_id, number)
        raise StatusError("the status list is too busy; try again", code="status_list_busy")

    def _get(self, issuer_id: str, number: int) -> dict[str, Any]:
        doc = self._lists.find_one({"_id": f"{issuer_id}|{number}"})
        if doc is None:
            raise StatusError(f"issuer {issuer_id!r} has no status list {number}", code="status_list_unknown")
        return doc

    def status_of(self, issuer_id: str, number: int, index: int) -> int:
        return StatusList(BITS, _unpack(self._get(issuer_id, number)["values"])).get(index)

    def publish(self, issuer_id: str, number: int) -> str:
        """Sign the list as it is now, keep the token, and append it to the log."""
        doc = self._get(issuer_id, number)
        now = self._clock.seconds()
        token = sign_status_list(  # sub and iss as the credentials pointing here carry them (draft §5.1)
            StatusList(BITS, _unpack(doc["values"])), uri=doc["uri"],
            signer=self._issuers.active_signer(issuer_id), iat=now, exp=now + TOKEN_LIFETIME, ttl=TOKEN_TTL,
            iss=doc["iss"],
        )
        appended = self._log.append([token.encode("ascii")])
        if self._cosigning is not None:
            self._cosigning.ask(appended.size)
        self._lists.update_one({"_id": doc["_id"]}, {"$set": {
            "token": token, "token_iat": now, "token_values_version": doc["values_version"],
            "token_log_index": appended.first_index, "token_tree_size": appended.size}})
        return token

    def token(self, issuer_id: str, number: int) -> str:
        """The served token: re-signed when the list changed or the token is half-way to expiry."""
        return self.logged_token(issuer_id, number)[0]

    def serves_again(self, token_iat: int, signed_since: int = 0) -> bool:
        """Whether a token signed at ``token_iat`` of a list that has not changed since is still
        the one served: not half-way to expiry, and signed no earlier than ``signed_since``."""
        return self._clock.now() - token_iat < TOKEN_LIFETIME / 2 and token_iat >= signed_since

    def logged_token(self, issuer_id: str, number: int, *, signed_since: int = 0) -> tuple[str, int, int]:
        """The served token, its leaf index in the log and the size of the checkpoint its
        append made (the earliest that includes it: a verifier judges the signing key at that
        checkpoint's time). Re-signed as :meth:`token` says, and also when it was signed
        before ``signed_since`` (a bundle's snapshot must be at least as new as the
        presentation it vouches for)."""
        token, index, size, _ = self._served(self._get(issuer_id, number), signed_since)
        return token, index, size

    def served_token(self, issuer_id: str, uri: str, *, signed_since: int = 0) -> tuple[str, int, int, int] | None:
        """:meth:`logged_token` of the issuer's list published at ``uri`` (``None`` when it is
        not one), with the token's ``iat``. The list's versions are read every time (a change
        shows on the very next read); the token's text, which its leaf index in the log names
        for good, is kept (bounded) and read only when it is new here."""
        list_id = self._list_id(issuer_id, uri)
        doc = self._lists.find_one({"_id": list_id}, fields=list(_SERVING_FIELDS)) if list_id else None
        if doc is None or doc.get("uri") != uri:
            return None
        index = doc.get("token_log_index")
        kept = self._tokens.get((list_id, index)) if isinstance(index, int) else None
        if kept is not None and self._fresh(doc, signed_since) and isinstance(doc.get("token_tree_size"), int):
            return kept, index, doc["token_tree_size"], doc["token_iat"]  # type: ignore[return-value]
        token, index, size, iat = self._served(self._get(issuer_id, doc["number"]), signed_since)
        self._tokens.put((list_id, index), token)
        return token, index, size, iat

    def _fresh(self, doc: dict[str, Any], signed_since: int) -> bool:
        return (doc.get("token_values_version") == doc["values_version"]
                and self.serves_again(doc.get("token_iat", 0), signed_since))

    def _served(self, doc: dict[str, Any], signed_since: int) -> tuple[str, int, int, int]:
        if not (self._fresh(doc, signed_since) and doc.get("token") and isinstance(doc.get("token_tree_size"), int)):
            self.publish(doc["issuer"], doc["number"])
            doc = self._get(doc["issuer"], doc["number"])  # token, index and size are set together, in one update
        return doc["token"], doc["token_log_index"], doc["token_tree_size"], doc["token_iat"]
