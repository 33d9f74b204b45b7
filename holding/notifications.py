"""What a physician is told by e-mail (issue 14): a link opened for the first time, locked by
wrong passcodes, used up, expiring within a day; an issuer revoked, suspended or reinstated
one of their credentials (seen by the status watch, holding/subscriptions.py); a credential an
issuer delivered waits in their wallet; each kind can be turned off on the account page (all on
by default).

This module owns the ``notify_prefs`` collection (one document per account: the kinds turned
off). Mails go through the outbox (holding/deliveries.py), once per event. A mail never carries
a shared field value or a secret: only what the server legitimately holds when the event
happens (the recipient label and the credential type in words during an open), when it
happened, and where to look (``/shares/<link id>``)."""

from __future__ import annotations

import time
from typing import Any, Mapping

from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.holding.accounts import OwnerDirectory
from credshare.holding.deliveries import Deliveries
from credshare.issuing.offers import WalletOffers
from credshare.issuing.types import CredentialType, type_for_vct
from credshare.storage import Store

PREFS = "notify_prefs"
KINDS: dict[str, str] = {  # kind -> what the account page calls it
    "link_opened": "A link of mine is opened for the first time",
    "link_locked": "A link of mine is locked by wrong passcodes",
    "link_used_up": "A link of mine has been opened as many times as I allowed",
    "link_expiring": "A link of mine will expire within a day",
    "credential_status": "An issuer revokes, suspends or reinstates one of my credentials",
    "delivery_waiting": "An issuer delivered a credential to my wallet that waits for me",
}
MAX_LABEL = 80  # of a recipient label quoted in a mail


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


class PhysicianNotices:
    def __init__(self, store: Store, deliveries: Deliveries, types: Mapping[str, CredentialType], *,
                 public_url: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self._prefs = store.collection(PREFS)
        self._owners = OwnerDirectory(store)
        self._deliveries = deliveries
        self._types = types
        self._base = public_url.rstrip("/")
        self._clock = clock

    # -- preferences ----------------------------------------------------------------------

    def preferences(self, account_id: str) -> dict[str, bool]:
        """Each kind and whether it is on."""
        off = set((self._prefs.find_one({"_id": str(account_id)}) or {}).get("off") or [])
        return {kind: kind not in off for kind in KINDS}

    def set_preferences(self, account_id: str, on: Any) -> dict[str, bool]:
        """Turn on the kinds in ``on`` and off every other one (unknown names are ignored)."""
        wanted = {str(k) for k in on} if isinstance(on, (list, tuple, set)) else set()
        off = sorted(kind for kind in KINDS if kind not in wanted)
        self._prefs.update_one({"_id": str(account_id)}, {"$set": {"off": off}}, upsert=True)
        return self.preferences(account_id)

    # -- events ---------------------------------------------------------------------------

    def _addressee(self, account_id: str, switch: str) -> str | None:
        """The owner's confirmed address, when the owner has one and keeps ``switch`` on."""
        return self._owners.confirmed_email(account_id) if self.preferences(account_id)[switch] else None

    def link_event(self, kind: str, account_id: str, link_id: str, facts: Mapping[str, Any]) -> bool:
        """Queue the mail for ``kind`` about link ``link_id`` of ``account_id`` (once per link and
        kind); False when it is off, already told, or the owner has no confirmed address."""
        to = self._addressee(account_id, kind) if kind in KINDS else None
        if to is None:
            return False
        at = _when(self._clock.now())
        name = _type_name(self._types, facts)
        what = f"your {name} link" if name else "a link to one of your credentials"
        label = str(facts.get("recipient") or "").strip()[:MAX_LABEL]
        for_whom = f' (made for "{label}")' if label else ""
        page = f"{self._base}/shares/{link_id}"
        if kind == "link_opened":
            subject = "Your credential link was opened"
            said = (f"Someone opened {what}{for_whom} for the first time, at {at}.\n\n"
                    "If you expected this, there is nothing to do. If you did not, revoke the link now:")
        elif kind == "link_expiring":
            subject = "Your credential link expires soon"
            made = f", made {_when(float(facts['created_at']))}," if facts.get("created_at") else ""
            said = (f"One of your links{made} expires at {_when(float(facts.get('expires_at') or 0))}. After that "
                    "nobody can open it.\n\nIf your recipient still needs it, make a new link before then:")
        elif kind == "link_locked":
            subject = "Your credential link is locked"
            said = (f"{what[0].upper()}{what[1:]}{for_whom} was locked at {at}: too many wrong passcodes "
                    "were tried.\n\nNobody can open it any more. If your recipient still needs it, make a new "
                    "link and give them the passcode again. See who tried:")
        else:
            subject = "Your credential link is used up"
            said = (f"{what[0].upper()}{what[1:]}{for_whom} was opened for the last time you allowed, at {at}.\n\n"
                    "It can no longer be opened. If your recipient needs it again, make a new link:")
        body = f"{said}\n{page}\n\nYou can turn these e-mails off on your account page: {self._base}/account\n"
        return self._deliveries.mail(f"{kind}:{link_id}", to, subject, body)

    def credential_event(self, event: str, account_id: str, entry_id: str, facts: Mapping[str, Any]) -> bool:
        """Queue the mail telling that the issuer revoked, suspended or reinstated one of the
        physician's credentials (``event``), once per change (``facts["event_id"]``); False when
        it is off or the owner has no confirmed address. The type in words, never a field value."""
        to = self._addressee(account_id, "credential_status") if event in ("revoked", "suspended", "reinstated") else None
        if to is None:
            return False
        at = _when(self._clock.now())
        name = _type_name(self._types, facts)
        what = f"your {name} credential" if name else "one of your credentials"
        page = f"{self._base}/wallet/{entry_id}"
        if event == "reinstated":
            subject = "Your credential is valid again"
            said = (f"The issuer of {what} has lifted its {facts.get('previous') or 'revocation or suspension'}: "
                    f"it is valid again (seen at {at}).\n\nLinks to it show it valid again. See it:")
        else:
            subject = f"Your credential was {event} by its issuer"
            said = (f"The issuer has {event} {what} (seen at {at}).\n\nAnyone who opens a link to it is told so. "
                    "If you think this is a mistake, contact the issuer. See it and its links:")
        body = f"{said}\n{page}\n\nYou can turn these e-mails off on your account page: {self._base}/account\n"
        return self._deliveries.mail(f"credential_{event}:{facts.get('event_id')}", to, subject, body)

    def tell_deliveries(self, offers: WalletOffers, issuer_names: Mapping[str, str], limit: int = 200) -> int:
        """Tell each owner of a credential an issuer delivered to their wallet and that waits to be
        accepted (once per delivery); returns how many mails were queued."""
        queued = 0
        for doc in offers.untold(limit):
            if not offers.told(doc["_id"], int(self._clock.now())):
                continue  # another process tells it
            account = self._owners.confirmed_account(str(doc.get("email") or ""))
            if account is None or not self.preferences(account)["delivery_waiting"]:
                continue
            to = self._owners.confirmed_email(account)
            if to is None:
                continue
            kind_of = self._types.get(str(doc.get("type")))
            what = f"a {kind_of.name} credential" if kind_of is not None else "a credential"
            issuer = issuer_names.get(str(doc.get("issuer"))) or "An issuer"
            body = (f"{issuer} delivered {what} to your wallet at {_when(float(doc.get('offered_at') or 0))}. "
                    f"It waits for you to accept or decline it.\n\nSign in and see it on your wallet page:\n"
                    f"{self._base}/wallet\n\nYou can turn these e-mails off on your account page: {self._base}/account\n")
            if self._deliveries.mail(f"delivery_waiting:{doc['_id']}", to, "A credential is waiting in your wallet", body):
                queued += 1
        return queued


def _type_name(types: Mapping[str, CredentialType], facts: Mapping[str, Any]) -> str | None:
    """The credential type in words: the type this server describes (``vct``), or the one a
    Blockcerts record names itself (``type_name``, plain text of at most 100 characters)."""
    kind_of = type_for_vct(types, facts.get("vct"))
    if kind_of is not None:
        return kind_of.name
    named = facts.get("type_name")
    return " ".join(named.split())[:100] or None if isinstance(named, str) else None
