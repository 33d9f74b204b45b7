"""Errors of the selective-disclosure core, one stable code per rule.

Every rejection names the rule it enforces. The codes below are public (CLI output, JSON
API); the RFC 9901 section each one enforces is given beside it.
"""

from __future__ import annotations

from credshare.foundation.errors import CredshareError, Stage

# Each code under the stage it belongs to: the verification report's check that it fails (an
# error raised while verifying a presentation is given the stage it was raised in, whatever its
# code: disclosure/verification.py), or ``input`` for what is refused before anything is signed.
_RULES: dict[Stage, dict[str, str]] = {
    "issuer_signature": {
        # format (RFC 9901 §4, §5, §8; RFC 7515)
        "sdjwt_malformed": "the SD-JWT is not <JWT>~<Disclosure>~...~[<KB-JWT>] or valid JWS JSON (§4, §8)",
        "jws_malformed": "a JWS is not three base64url parts with JSON object header and payload (RFC 7515)",
        "json_duplicate_member": "a JSON object repeats a member name (RFC 7519 §4, RFC 8259 §4)",
        "json_too_deep": "a JSON text nests deeper than the parsing limit (RFC 8259 §9)",
        "key_invalid": "a JWK is unusable, or holds private material where a public key is expected",
        # issuer signature (§7.1 step 2)
        "alg_not_allowed": "the JWS algorithm is not allowed or does not fit the key (§7.1 2a)",
        "issuer_key_unknown": "no trusted issuer key matches iss and kid (§7.1 2c)",
        "signature_invalid": "the issuer signature does not verify (§7.1 2b)",
        "typ_mismatch": "the issuer JWT's typ header is not the expected one",
    },
    "disclosures": {
        "sd_alg_unsupported": "_sd_alg is unknown, truncated or not a string (§4.1.1, §7.1 2d)",
        # disclosures (§7.1 step 3)
        "disclosure_malformed": "a disclosure is not base64url JSON [salt, name, value] or [salt, value] (§4.2)",
        "disclosure_shape": "an _sd digest names an array disclosure, or a ... digest an object one (§7.1 3.2)",
        "disclosure_name_reserved": "a disclosure names the claim _sd or ... (§7.1 3.2.1)",
        "claim_name_collision": "a disclosed claim name already exists at its level (§7.1 3.2.1)",
        "digest_duplicate": "a digest appears more than once in the payload or disclosures (§7.1 3.4)",
        "disclosure_duplicate": "the same disclosure is presented twice (§7.1 3.4)",
        "disclosure_unreferenced": "a disclosure's digest is referenced nowhere (§7.1 3.5)",
        "sd_invalid": "an _sd array or ... element is malformed, or _sd_alg is not top-level (§4.2.4)",
        "nesting_too_deep": "the payload nests deeper than the processing limit",
        # SD-JWT VC profile
        "vct_missing": "an SD-JWT VC has no vct string",
        "claim_not_disclosable": "a claim that must stay visible (iss, exp, nbf, cnf, vct, status) is selectively disclosable",
    },
    "credential_validity": {
        # validity (§7.1 step 6)
        "expired": "exp is in the past",
        "not_yet_valid": "nbf is in the future",
        "iat_in_future": "iat is in the future",
        "validity_claim_invalid": "exp, nbf or iat is not a number",
    },
    "key_binding": {
        # key binding (§7.3)
        "kb_missing": "the verifier's policy requires a Key Binding JWT and there is none (§7.3 1)",
        "kb_holder_key_missing": "no cnf.jwk holder key in the SD-JWT (§7.3 3.1)",
        "kb_typ_invalid": "the KB-JWT typ header is not kb+jwt (§7.3 3.4)",
        "kb_signature_invalid": "the KB-JWT signature does not verify with the holder key (§7.3 3.3)",
        "kb_claims_missing": "the KB-JWT lacks iat, aud, nonce or sd_hash (§4.3)",
        "kb_iat_invalid": "the KB-JWT iat is outside the accepted window (§7.3 3.5)",
        "kb_aud_mismatch": "the KB-JWT aud is not this verifier (§7.3 3.6)",
        "kb_nonce_mismatch": "the KB-JWT nonce is not the expected one (§7.3 3.6)",
        "kb_sd_hash_mismatch": "the KB-JWT sd_hash does not cover this SD-JWT (§7.3 3.7)",
    },
    "input": {
        # issuance and presentation
        "claims_invalid": "the claims to issue are not a JSON object of JSON values, or use a reserved name",
        "sd_path_unknown": "a selectively disclosable path names no claim",
        "selection_unknown_path": "a claim path to disclose names no claim in the credential",
    },
    "status": {
        # Token Status List
        "status_list_malformed": "a status list or its token is malformed",
        "status_bits_invalid": "bits per status must be 1, 2, 4 or 8",
        "status_index_out_of_range": "the status index is outside the list",
        "status_value_invalid": "the status value does not fit the list's bits",
        "status_list_expired": "the status list token has expired",
        "status_list_sub_mismatch": "the status list token's sub is not the referenced uri",
    },
}
CODES: dict[str, str] = {code: text for rules in _RULES.values() for code, text in rules.items()}
STAGE_OF: dict[str, Stage] = {code: stage for stage, rules in _RULES.items() for code in rules}


class SDJWTError(CredshareError):
    """A rejected SD-JWT, disclosure, presentation or status list; ``code`` names the rule (it
    is required: every rejection names one) and gives the default stage."""

    code = "sdjwt_malformed"
    http_status = 400

    def __init__(self, detail: str = "", *, code: str, stage: Stage | None = None) -> None:
        if code not in CODES:
            raise ValueError(f"unregistered SD-JWT error code {code!r}")
        super().__init__(detail or CODES[code], code=code, stage=stage or STAGE_OF[code])
