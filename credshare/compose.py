"""The composition root: :func:`build_services` is the one place where configuration, the
store, the deployment's keys, mail and every service are put together. The web application
(:func:`credshare.webapp.create_app`), the command line and the demo all start from it; no
other module constructs a service. One clock (:mod:`credshare.foundation.clock`) is handed to
every service and storage piece that reads the time: tests give a ``ManualClock`` and move it.
Expensive parts (the log with its witness keys, issuers)
are made on first use, once per process.

Witnesses: the remote ones come from the tlog-policy file ``CREDSHARE_WITNESS_POLICY``
(:attr:`AppServices.remote_policy`) and are asked by :attr:`AppServices.cosigning`; the local
development witnesses (``CREDSHARE_LOCAL_WITNESSES``) cosign in the log itself. What the log
suggests to its verifiers is :attr:`AppServices.trust_policy` (``GET /log/trust``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar, cast, overload

from credshare.anchoring.chain import ChainAnchor
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.policy import Policy, parse_policy, threshold_policy
from credshare.anchoring.proof import ChainCheck
from credshare.disclosure.jws import Signer
from credshare.federation.issuer_metadata import IssuerMetadataService
from credshare.federation.link_check import LinkChecker
from credshare.federation.remote import RemoteEvidence
from credshare.federation.trust import TrustService
from credshare.foundation.clock import Clock, SystemClock
from credshare.foundation.config import Settings, load_settings
from credshare.foundation.errors import ConfigError
from credshare.holding.accounts import AccountService, OwnerDirectory
from credshare.holding.deliveries import Deliveries
from credshare.holding.evidence import BlockcertsGathering, EvidenceService
from credshare.holding.notifications import PhysicianNotices
from credshare.holding.receipts import ReceiptService
from credshare.holding.receiving import CredentialReceiver
from credshare.holding.shares import ShareService
from credshare.holding.subscriptions import Subscriptions
from credshare.holding.vault import profile_params
from credshare.holding.wallet import WalletService
from credshare.issuing.anchor_schedule import AnchorSchedule
from credshare.issuing.batch import BatchIssuer
from credshare.issuing.cosigning import WitnessRequests
from credshare.issuing.issuers import IssuerRegistry
from credshare.issuing.status import StatusService
from credshare.issuing.types import CredentialType, load_types
from credshare.issuing.vci import CredentialOffers
from credshare.storage import Store, open_store
from credshare.storage.deployment import DeploymentRecord
from credshare.storage.mail import Mailer, make_mailer
from credshare.storage.rate_limit import RateLimiter
from credshare.storage.tlog import TransparencyLog
from credshare.verifier.trust_list import TrustedLog, TrustListError

TOKEN_FAILURES_PER_MINUTE = 10
SIGN_IN_FAILURES_PER_MINUTE = 10


def build_services(settings: Settings | None = None, clock: Clock | None = None) -> AppServices:
    """Every service of this deployment, over its store (opened here; the instance record is
    made on first start). ``settings`` default to the environment's, ``clock`` to the
    machine's."""
    settings = settings or load_settings()
    services = AppServices(settings=settings, store=open_store(settings.mongodb_uri, settings.data_dir),
                           clock=clock or SystemClock())
    services.deployment.record_instance()
    return services


T = TypeVar("T")


class component(Generic[T]):  # noqa: N801 - used as a decorator, like the cached_property it replaces
    """A service of :class:`AppServices`, built on first use and kept, under the instance's one
    lock (``_lock``, reentrant: building one service may build others). functools'
    ``cached_property`` took a lock of its own per service, so a thread building service A
    (holding A's lock, wanting the root's) and one building B (holding the root's, wanting A's)
    waited on each other for ever; one lock for all cannot be taken in two orders."""

    def __init__(self, build: Callable[[Any], T]) -> None:
        self._build = build
        self._name = build.__name__
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> component[T]: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> T: ...

    def __get__(self, obj: object | None, objtype: type | None = None) -> T | component[T]:
        if obj is None:
            return self
        kept = obj.__dict__
        if self._name in kept:  # the instance attribute shadows this (non-data) descriptor once set
            return cast(T, kept[self._name])
        with cast(AppServices, obj)._lock:
            if self._name not in kept:
                kept[self._name] = self._build(obj)
            return cast(T, kept[self._name])


@dataclass
class AppServices:
    settings: Settings
    store: Store
    clock: Clock = field(default_factory=SystemClock)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @component
    def deployment(self) -> DeploymentRecord:
        return DeploymentRecord(self.store, clock=self.clock)

    @component
    def log(self) -> TransparencyLog:
        from credshare.storage.keys import load_local_witnesses, load_log_signer

        with self._lock:
            data_dir = self.settings.data_dir
            signer = load_log_signer(data_dir, self.settings.log_origin)
            remote = self.remote_policy
            return TransparencyLog(
                self.store,
                signer,
                load_local_witnesses(data_dir, self.settings.local_witnesses, signer.name),
                remote_witnesses=list(remote.witnesses.values()) if remote else [],
                clock=self.clock,
            )

    @component
    def remote_policy(self) -> Policy | None:
        """The remote witnesses to ask (``CREDSHARE_WITNESS_POLICY``), each with its submission URL."""
        path = self.settings.witness_policy
        if path is None:
            return None
        try:
            policy = parse_policy(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read CREDSHARE_WITNESS_POLICY {path}: {exc.strerror}") from exc
        except AnchoringError as exc:
            raise ConfigError(f"CREDSHARE_WITNESS_POLICY {path}: {exc.detail}") from exc
        unreachable = [name for name in policy.witnesses if name not in policy.witness_urls]
        if unreachable:
            raise ConfigError(f"CREDSHARE_WITNESS_POLICY {path}: no submission URL for {', '.join(unreachable)}")
        return policy

    @component
    def trust_policy(self) -> Policy:
        """The log's own suggestion of what to trust (tlog-policy, ``GET /log/trust``): its key,
        and the remote witnesses with their quorum; without a witness policy, the local
        development witnesses and ``CREDSHARE_WITNESS_QUORUM`` of them (labelled as such
        wherever shown: they are the log's own keys)."""
        log = self.log
        log_url = self.settings.public_url
        remote = self.remote_policy
        if remote is None:
            dev = [(w.name, w.key, None) for w in log.witness_signers]
            return threshold_policy(log.signer.verifier, dev, self.settings.witness_quorum if dev else 0, log_url)
        if remote.logs and log.signer.verifier not in remote.logs:
            raise ConfigError("CREDSHARE_WITNESS_POLICY lists a log key that is not this log's")
        own = Policy((log.signer.verifier,), remote.witnesses, remote.groups, remote.quorum,
                     {log.origin: log_url}, remote.witness_urls)
        return parse_policy(own.to_text())

    @component
    def cosigning(self) -> WitnessRequests:
        """Asks the remote witnesses to cosign each new checkpoint (nobody, without a policy)."""
        with self._lock:
            return WitnessRequests(self.store, self.log, self.remote_policy, clock=self.clock)

    @component
    def anchor_schedule(self) -> AnchorSchedule | None:
        """Chain anchors on a schedule (``CREDSHARE_ANCHOR_EVERY_CHECKPOINTS``/``_MINUTES``),
        published through ``CREDSHARE_ANCHOR_RPC`` from the account of ``CREDSHARE_ANCHOR_KEY_FILE``;
        ``None`` when off. web3 is imported, and the key read, on the first attempt."""
        settings = self.settings
        if not settings.anchor_schedule_on or settings.anchor_rpc is None or settings.anchor_key_file is None:
            return None
        rpc, key_file = settings.anchor_rpc, settings.anchor_key_file
        made: list[Any] = []

        def publish(origin: str, size: int, root: bytes) -> ChainAnchor:
            if not made:
                from credshare.anchoring.ethereum import EthereumAnchorer

                try:
                    key = key_file.read_text(encoding="ascii").strip()
                except (OSError, UnicodeDecodeError) as exc:
                    raise ConfigError(f"cannot read CREDSHARE_ANCHOR_KEY_FILE {key_file}") from exc
                made.append(EthereumAnchorer(rpc, key))
            anchored: ChainAnchor = made[0].publish(origin, size, root)
            return anchored

        with self._lock:
            return AnchorSchedule(self.store, self.log, publish, every_checkpoints=settings.anchor_every_checkpoints,
                                  every_minutes=settings.anchor_every_minutes, clock=self.clock)

    @component
    def types(self) -> dict[str, CredentialType]:
        return load_types()

    @component
    def issuers(self) -> IssuerRegistry:
        with self._lock:
            return IssuerRegistry(self.store, self.settings.secret_key, self.log, self.settings.public_url,
                                  cosigning=self.cosigning, clock=self.clock)

    @component
    def status(self) -> StatusService:
        with self._lock:
            return StatusService(self.store, self.issuers, self.log, cosigning=self.cosigning, clock=self.clock)

    @component
    def token_failures(self) -> RateLimiter:
        """Failed issuer API-token attempts per issuer and client address."""
        return RateLimiter(self.store, "issuer-token-failures", TOKEN_FAILURES_PER_MINUTE, 60, clock=self.clock)

    @component
    def batches(self) -> BatchIssuer:
        with self._lock:
            return BatchIssuer(self.store, self.issuers, self.status, self.log, owners=OwnerDirectory,
                               store_uri=self.settings.mongodb_uri, data_dir=self.settings.data_dir,
                               secret_key=self.settings.secret_key, cosigning=self.cosigning, clock=self.clock)

    @component
    def vci(self) -> CredentialOffers:
        """OpenID4VCI offers of the issuers hosted here (issuing/vci.py)."""
        with self._lock:
            return CredentialOffers(self.store, self.issuers, self.batches, self.types,
                                    secret_key=self.settings.secret_key, clock=self.clock)

    @component
    def vci_failures(self) -> RateLimiter:
        """Failed pre-authorized codes, PINs and access tokens per issuer and client address."""
        return RateLimiter(self.store, "vci-failures", TOKEN_FAILURES_PER_MINUTE, 60, clock=self.clock)

    @component
    def vci_nonces(self) -> RateLimiter:
        """OpenID4VCI nonces handed out per client address (120 a minute)."""
        return RateLimiter(self.store, "vci-nonces", 120, 60, clock=self.clock)

    @component
    def receiver(self) -> CredentialReceiver:
        """Receiving credentials by OpenID4VCI offers into the wallets here, from trusted issuers
        (the trust list, and the issuers hosted on this server)."""

        def trust_for(iss: str) -> Any:
            hosted = self.issuers.hosted(iss)
            return self.trusting.for_issuer(iss, hosted[1] if hosted else None)

        with self._lock:
            return CredentialReceiver(self.wallet, self.accounts, trust_for, clock=self.clock)

    @component
    def evidence(self) -> EvidenceService:
        """Verification evidence from this server's log, issuers and status lists."""
        with self._lock:
            return EvidenceService(self.issuers, self.status, self.log, policy=self.trust_policy,
                                   trusting=self.trusting, chain_check=self.chain_check, remote=self.remote_evidence,
                                   clock=self.clock, published=self.issuer_metadata, blockcerts=self.blockcerts_sources)

    @component
    def blockcerts_sources(self) -> BlockcertsGathering:
        """Where Blockcerts records' evidence is gathered: issuer profiles, revocation and
        status lists over bounded HTTP, anchoring transactions on the endpoints of
        ``CREDSHARE_BLOCKCERTS_ENDPOINTS`` (federation/blockcerts_sources.py)."""
        from credshare.federation.blockcerts_sources import BlockcertsSources

        return BlockcertsSources(self.settings.blockcerts_endpoints, allowed_hosts=self.settings.fetch_allow_hosts,
                                 max_age=self.settings.remote_status_max_age)

    @component
    def issuer_metadata(self) -> IssuerMetadataService:
        """Keys (JWT VC Issuer Metadata) and status lists of trusted issuers that keep no log."""
        with self._lock:
            return IssuerMetadataService(self.store, clock=self.clock)

    @component
    def chain_check(self) -> ChainCheck | None:
        """Looks chain anchors up on ``CREDSHARE_ETH_RPC`` (none: anchors are listed, not checked)."""
        if not self.settings.eth_rpc_urls:
            return None
        from credshare.anchoring.ethereum import chain_checker

        return chain_checker(self.settings.eth_rpc_urls)

    @component
    def link_checker(self) -> LinkChecker:
        """Share links made on other servers, checked by this server's trust list."""
        return LinkChecker(self.trusting, chain_check=self.chain_check, fresh_status=self.evidence.current_status,
                           clock=self.clock, allowed_hosts=self.settings.fetch_allow_hosts,
                           blockcerts=self.blockcerts_sources)

    @component
    def remote_evidence(self) -> RemoteEvidence:
        """Key histories and status lists of trusted issuers hosted on other servers, fetched
        over HTTP and cached (``CREDSHARE_REMOTE_STATUS_MAX_AGE``, ``_HISTORY_MAX_AGE``)."""
        return RemoteEvidence(self.store, status_max_age=self.settings.remote_status_max_age,
                              history_max_age=self.settings.remote_history_max_age, clock=self.clock)

    @component
    def trusting(self) -> TrustService:
        """Whom this server recognises: ``CREDSHARE_TRUST_LIST``, its own log and its own issuers."""
        path = self.settings.trust_list
        own = TrustedLog((self.log.signer.verifier.encode(),), self.trust_policy)
        with self._lock:
            try:
                return TrustService(path, own, [t.vct for t in self.types.values()])
            except OSError as exc:
                raise ConfigError(f"cannot read CREDSHARE_TRUST_LIST {path}: {exc.strerror}") from exc
            except TrustListError as exc:
                raise ConfigError(f"CREDSHARE_TRUST_LIST {path}: {exc.detail}") from exc

    @component
    def sign_in_failures(self) -> RateLimiter:
        """Failed owner sign-ins (and wrong current passwords) per e-mail and client address."""
        return RateLimiter(self.store, "sign-in-failures", SIGN_IN_FAILURES_PER_MINUTE, 60, clock=self.clock)

    @component
    def accounts(self) -> AccountService:
        with self._lock:
            return AccountService(self.store, profile=self.settings.argon2_profile,
                                  secret_key=self.settings.secret_key, limiter=self.sign_in_failures,
                                  clock=self.clock)

    @component
    def wallet(self) -> WalletService:
        from credshare.foundation.sealing import Sealer
        from credshare.issuing.batch import OFFER_PURPOSE

        with self._lock:
            return WalletService(self.store, self.evidence, self.types,
                                 Sealer.for_purpose(self.settings.secret_key, OFFER_PURPOSE), self.accounts,
                                 clock=self.clock, listener=self._wallet_event)

    def _wallet_event(self, event: str, account_id: str, entry_id: str, facts: dict[str, Any]) -> None:
        """A credential added to a wallet is watched for its owner; a deleted one no longer."""
        if event == "added":
            self.subscriptions.watch_credential(account_id, entry_id, facts["sd_jwt"], facts["anchor_proof"],
                                                facts["report"], blockcerts=facts.get("evidence"))
        elif event == "deleted":
            self.subscriptions.unwatch_credential(entry_id)

    @component
    def shares(self) -> ShareService:
        with self._lock:
            return ShareService(self.store, self.evidence, self.wallet, secret_key=self.settings.secret_key,
                                kdf=profile_params(self.settings.argon2_profile), clock=self.clock,
                                listener=self._link_event)

    def _link_event(self, kind: str, account_id: str, link_id: str, facts: dict[str, Any]) -> None:
        self.physician_notices.link_event(kind, account_id, link_id, facts)

    @component
    def deliveries(self) -> Deliveries:
        """The outbox of notification e-mails and webhooks (holding/deliveries.py)."""
        with self._lock:
            from credshare.foundation.sealing import Sealer

            return Deliveries(self.store, self.mailer, Sealer.for_purpose(self.settings.secret_key, "notify-deliveries"),
                              clock=self.clock, allowed_hosts=self.settings.fetch_allow_hosts)

    @component
    def physician_notices(self) -> PhysicianNotices:
        """The e-mails a physician is sent about their links (holding/notifications.py)."""
        with self._lock:
            return PhysicianNotices(self.store, self.deliveries, self.types, public_url=self.settings.public_url,
                                    clock=self.clock)

    @component
    def subscriptions(self) -> Subscriptions:
        """CVO status subscriptions and the status watch (holding/subscriptions.py)."""
        with self._lock:
            from credshare.foundation.sealing import Sealer

            return Subscriptions(self.store, self.evidence, self.deliveries,
                                 Sealer.for_purpose(self.settings.secret_key, "status-subscriptions"), self.types,
                                 link_state=self.shares.link_state, signer=lambda: self.receipt_signer,
                                 public_url=self.settings.public_url,
                                 check_seconds=self.settings.status_watch_seconds,
                                 owner_listener=self.physician_notices.credential_event, clock=self.clock)

    def notifications_run(self) -> None:
        """One round of the notification thread: the status watch queues what changed, links
        about to expire and credentials waiting in a wallet are told, then what is due is
        delivered."""
        from credshare.issuing.offers import WalletOffers

        self.subscriptions.run_once()
        self.shares.tell_expiring(self.clock.seconds())
        names = {str(d["_id"]): str(d.get("name") or d["_id"]) for d in self.issuers.all()}
        self.physician_notices.tell_deliveries(WalletOffers(self.store), names)
        self.deliveries.run_once()

    @component
    def receipts(self) -> ReceiptService:
        """What a verifier takes away from an opened link: the JSON view, the bundle, the receipt."""
        with self._lock:
            return ReceiptService(self.evidence, self.types, verifier=self.settings.public_url,
                                  signer=lambda: self.receipt_signer, store=self.store, clock=self.clock)

    @component
    def receipt_signer(self) -> Signer:
        from credshare.storage.keys import load_receipt_signer

        with self._lock:
            return load_receipt_signer(self.settings.data_dir)

    @component
    def mailer(self) -> Mailer:
        return make_mailer(self.settings.smtp_url, self.settings.mail_from, self.settings.data_dir)

    @component
    def confirmation_mails(self) -> RateLimiter:
        """E-mail confirmation links sent per account (5 an hour)."""
        return RateLimiter(self.store, "confirmation-mails", 5, 3600, clock=self.clock)

    @component
    def registrations(self) -> RateLimiter:
        """Account registrations per client address (20 an hour)."""
        return RateLimiter(self.store, "registrations", 20, 3600, clock=self.clock)
