"""Errors of the anchoring core (RFC 9162 logs, C2SP signed notes and checkpoints, witness
cosignatures, chain anchors), with stable codes, each under the stage it belongs to."""

from __future__ import annotations

from credshare.foundation.errors import CredshareError, Stage

# Every anchoring code, under the verification report's check it fails (docs/anchor-proof.md),
# or ``log`` for what the log itself refuses while appending or serving.
STAGE_OF: dict[str, Stage] = {
    "anchor_invalid": "proof_format",
    "proof_malformed": "proof_format",
    "proof_version_unsupported": "proof_format",
    "note_malformed": "checkpoint_signature",
    "note_key_invalid": "checkpoint_signature",
    "note_signature_invalid": "checkpoint_signature",
    "checkpoint_malformed": "checkpoint_signature",
    "checkpoint_origin_mismatch": "checkpoint_signature",
    "witness_malformed": "witness_quorum",
    "witness_key_invalid": "witness_quorum",
    "witness_policy_invalid": "witness_quorum",
    "witness_quorum_not_met": "witness_quorum",
    "witness_set_mismatch": "witness_quorum",
    "witness_signature_invalid": "witness_quorum",
    "witness_unknown": "witness_quorum",
    "witness_request_malformed": "log",
    "witness_log_unknown": "log",
    "witness_log_signature_invalid": "log",
    "witness_conflict": "log",
    "witness_proof_invalid": "log",
    "witness_unavailable": "log",
    "anchor_malformed": "chain_anchor",
    "anchor_endpoint_invalid": "chain_anchor",
    "anchor_key_invalid": "chain_anchor",
    "anchor_publish_failed": "chain_anchor",
    "anchor_publish_reverted": "chain_anchor",
    "anchor_publish_timeout": "chain_anchor",
    "proof_unavailable": "log",
    "checkpoint_unknown": "log",
    "batch_empty": "log",
    "leaf_hash_invalid": "log",
    "log_missing": "log",
    "log_busy": "log",
    "log_conflict": "log",
    "log_lease_expired": "log",
    "log_inconsistent": "log",
    "witness_fork_alarm": "log",  # a witness cosigned a larger tree of this origin than this log committed
    "log_fork": "log",  # a monitored log's checkpoint is not consistent with one it signed before
    "log_rollback": "log",  # a monitored log's checkpoint is smaller than one it signed before
    "tile_path_invalid": "log",
    "tile_invalid": "inclusion",
    "tile_unavailable": "inclusion",
    "tlog_proof_malformed": "proof_format",
    "mirror_untrusted": "config",  # a mirror was asked to copy a log it has no key for
    "mirror_witness_quorum": "witness_quorum",  # the log's checkpoint does not meet the mirror's policy
}


class AnchoringError(CredshareError):
    """A malformed or unverifiable checkpoint, note, cosignature or anchor proof. ``code``
    (required here; a subclass has a default of its own) names the rule and gives the default
    stage."""

    code = "anchor_invalid"
    http_status = 400

    def __init__(self, detail: str = "", *, code: str | None = None, stage: Stage | None = None) -> None:
        if code is None:
            if type(self) is AnchoringError:
                raise TypeError("an AnchoringError names its rule: code=...")
            code = type(self).code
        if code not in STAGE_OF:
            raise ValueError(f"unregistered anchoring error code {code!r}")
        super().__init__(detail or code, code=code, stage=stage or STAGE_OF[code])
