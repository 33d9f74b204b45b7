"""Wallet offers: the inbox of credentials a batch delivered to an owner's confirmed e-mail
address (step 4 of batch issuance, :mod:`credshare.issuing.batch`), until the owner's wallet
accepts or declines them (:mod:`credshare.holding.wallet`).

This module owns the ``wallet_deliveries`` collection; issuance and the wallet go through
:class:`WalletOffers`. An offer's ``_id`` is fixed by its batch and position, so delivering a
batch again never offers a credential twice. Each offer holds the credential sealed
(``sealed_credential``) under the server's offer key until it is accepted or declined, when the
sealed copy is dropped. States: ``offered`` -> ``accepted`` | ``declined``.
"""

from __future__ import annotations

from typing import Any

from credshare.storage import Store

DELIVERIES = "wallet_deliveries"


class WalletOffers:
    """The offers in the store. Cheap to make (no index is touched): each batch worker process
    makes its own; :meth:`create_indexes` runs once, where the batch service is set up."""

    def __init__(self, store: Store) -> None:
        self._offers = store.collection(DELIVERIES)

    def create_indexes(self) -> None:
        self._offers.create_index("email")

    def offer(self, offers: list[dict[str, Any]]) -> None:
        """Store the offers not stored yet (an offer is made once, whatever the deliveries)."""
        if not offers:
            return
        made = {d["_id"] for d in self._offers.find({"_id": {"$in": [o["_id"] for o in offers]}}, fields=["_id"])}
        if len(made) < len(offers):
            self._offers.insert_many([o for o in offers if o["_id"] not in made])

    def pending(self, email: str) -> list[dict[str, Any]]:
        """The offers to ``email`` not yet accepted or declined, newest first."""
        return self._offers.find({"email": email, "state": "offered"}, sort=[("offered_at", -1)])

    def pending_one(self, offer_id: str, email: str) -> dict[str, Any] | None:
        """One pending offer to ``email``; another address's offer reads as none."""
        return self._offers.find_one({"_id": str(offer_id), "email": email, "state": "offered"})

    def accepted(self, offer_id: str, at: int) -> None:
        """The offer's credential is in the wallet (at ``at``, Unix seconds): its sealed copy goes."""
        self._offers.update_one({"_id": str(offer_id)}, {"$set": {"state": "accepted", "accepted_at": at},
                                                         "$unset": {"sealed_credential": ""}})

    def untold(self, limit: int) -> list[dict[str, Any]]:
        """Pending offers whose owner was not told yet (holding/notifications.py), oldest first."""
        return self._offers.find({"state": "offered", "told_at": None}, sort=[("offered_at", 1)], limit=limit,
                                 fields=["_id", "email", "issuer", "type", "offered_at"])

    def told(self, offer_id: str, at: int) -> bool:
        """Mark the owner told of an offer; False when another process did first (it tells)."""
        return self._offers.find_one_and_update({"_id": str(offer_id), "told_at": None},
                                                {"$set": {"told_at": at}}) is not None

    def decline(self, offer_id: str, email: str) -> bool:
        """Decline a pending offer to ``email`` (its sealed copy goes); False when there is none."""
        moved = self._offers.update_one({"_id": str(offer_id), "email": email, "state": "offered"},
                                        {"$set": {"state": "declined"}, "$unset": {"sealed_credential": ""}})
        return bool(moved.matched)
