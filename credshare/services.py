"""The application's services, built once per process by ``app.py`` and shared by the web
layer and the command line. Expensive parts (the log with its witness keys, issuers) are
made on first use."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

from credshare.config import Settings
from issuing.batch import BatchIssuer
from issuing.issuers import IssuerRegistry
from issuing.status import StatusService
from issuing.types import CredentialType, load_types
from storage import Store
from storage.rate_limit import RateLimiter
from storage.tlog import TransparencyLog

TOKEN_FAILURES_PER_MINUTE = 10


@dataclass
class AppServices:
    settings: Settings
    store: Store
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @cached_property
    def log(self) -> TransparencyLog:
        from credshare.keys import load_local_witnesses, load_log_signer

        with self._lock:
            data_dir = self.settings.data_dir
            return TransparencyLog(
                self.store,
                load_log_signer(data_dir, self.settings.log_origin),
                load_local_witnesses(data_dir, self.settings.local_witnesses),
            )

    @cached_property
    def types(self) -> dict[str, CredentialType]:
        return load_types()

    @cached_property
    def issuers(self) -> IssuerRegistry:
        with self._lock:
            return IssuerRegistry(self.store, self.settings.secret_key, self.log, self.settings.public_url)

    @cached_property
    def status(self) -> StatusService:
        with self._lock:
            return StatusService(self.store, self.issuers, self.log)

    @cached_property
    def token_failures(self) -> RateLimiter:
        """Failed issuer API-token attempts per issuer and client address."""
        return RateLimiter(self.store, "issuer-token-failures", TOKEN_FAILURES_PER_MINUTE, 60)

    @cached_property
    def batches(self) -> BatchIssuer:
        with self._lock:
            return BatchIssuer(self.store, self.issuers, self.status, self.log,
                               store_uri=self.settings.mongodb_uri, data_dir=self.settings.data_dir,
                               secret_key=self.settings.secret_key)
