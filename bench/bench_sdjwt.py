"""SD-JWT benchmark: credshare's disclosure core against the reference implementation (PyPI
sd-jwt), measured in the same run on the same machine, same keys (ES256) and same claims.

    .venv/bin/python bench/bench_sdjwt.py [--check]

Prints per-operation times and ours/reference ratios. Targets (issue 3): verify with KB
<= 0.5x the reference, verify without KB <= 0.6x. ``--check`` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jwcrypto.jwk import JWK  # noqa: E402
from sd_jwt.common import SDObj  # noqa: E402
from sd_jwt.holder import SDJWTHolder  # noqa: E402
from sd_jwt.issuer import SDJWTIssuer  # noqa: E402
from sd_jwt.verifier import SDJWTVerifier  # noqa: E402

from credshare.disclosure.issuance import issue  # noqa: E402
from credshare.disclosure.jws import PublicKey, Signer  # noqa: E402
from credshare.disclosure.presentation import KeyBindingRequest, present  # noqa: E402
from credshare.disclosure.verification import KeyBindingPolicy, jwks_resolver, verify_presentation  # noqa: E402

AUD, NONCE = "https://cvo.example", "bench-nonce"
FIELDS = [f"field_{i:02d}" for i in range(20)]
DISCLOSED = FIELDS[:5]


def _calls_in(fn: Callable[[], object], seconds: float) -> int:
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n


def _round_us(fn: Callable[[], object], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e6


def compare_us(ours: Callable[[], object], ref: Callable[[], object], rounds: int = 15,
               round_s: float = 0.1) -> tuple[float, float]:
    """Median per-call time of each, measured in alternating rounds so that machine noise hits
    both sides alike."""
    n_ours, n_ref = max(1, _calls_in(ours, round_s)), max(1, _calls_in(ref, round_s))
    ours_s, ref_s = [], []
    for _ in range(rounds):
        ours_s.append(_round_us(ours, n_ours))
        ref_s.append(_round_us(ref, n_ref))
    return statistics.median(ours_s), statistics.median(ref_s)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    issuer, holder = Signer.generate("ES256", kid="bench-issuer"), Signer.generate("ES256", kid="bench-holder")
    issuer_jwk, holder_jwk = JWK(**issuer.private_jwk), JWK(**holder.private_jwk)
    now = int(time.time())
    base = {"iss": "https://issuer.example", "vct": "urn:bench", "iat": now - 10}
    values = {name: f"value of {name}" for name in FIELDS}

    # ours
    ours_issued = issue({**base, **values}, signer=issuer, disclosable=[(n,) for n in FIELDS],
                        holder_jwk=holder.public_jwk, sd_array_size=20).serialize()
    ours_kb = present(ours_issued, [(n,) for n in DISCLOSED], KeyBindingRequest(holder, AUD, NONCE, now))
    ours_plain = present(ours_issued, [(n,) for n in DISCLOSED])
    trust = jwks_resolver([PublicKey.from_jwk(issuer.public_jwk)])
    kb_policy = KeyBindingPolicy(True, AUD, NONCE)

    # reference
    ref_claims = {**base, **{SDObj(n): v for n, v in values.items()}}
    ref_issued = SDJWTIssuer(ref_claims, issuer_jwk, holder_jwk).sd_jwt_issuance
    ref_holder = SDJWTHolder(ref_issued)
    ref_holder.create_presentation({n: True for n in DISCLOSED}, NONCE, AUD, holder_jwk)
    ref_kb = ref_holder.sd_jwt_presentation
    ref_holder = SDJWTHolder(ref_issued)
    ref_holder.create_presentation({n: True for n in DISCLOSED})
    ref_plain = ref_holder.sd_jwt_presentation
    issuer_public = JWK(**issuer.public_jwk)

    def ref_verify(presentation: str, kb: bool) -> dict:
        verifier = SDJWTVerifier(presentation, lambda iss, header: issuer_public,
                                 expected_aud=AUD if kb else None, expected_nonce=NONCE if kb else None)
        return verifier.get_verified_payload()

    assert len(verify_presentation(ours_kb, issuer_keys=trust, now=now, key_binding=kb_policy).disclosed_paths) == 5
    assert all(n in ref_verify(ref_kb, True) for n in DISCLOSED)

    rows = [
        ("verify 5-of-20 with KB",
         *compare_us(lambda: verify_presentation(ours_kb, issuer_keys=trust, now=now, key_binding=kb_policy),
                     lambda: ref_verify(ref_kb, True)), 0.5),
        ("verify 5-of-20 without KB",
         *compare_us(lambda: verify_presentation(ours_plain, issuer_keys=trust, now=now),
                     lambda: ref_verify(ref_plain, False)), 0.6),
        ("issue 20 disclosable claims",
         *compare_us(lambda: issue({**base, **values}, signer=issuer, disclosable=[(n,) for n in FIELDS],
                                   holder_jwk=holder.public_jwk, sd_array_size=20),
                     lambda: SDJWTIssuer(ref_claims, issuer_jwk, holder_jwk)), None),
    ]
    missed = False
    print(f"{'operation':32} {'credshare':>12} {'reference':>12} {'ratio':>7}  target")
    for name, ours, ref, target in rows:
        ratio = ours / ref
        verdict = "" if target is None else (f"<= {target}  " + ("ok" if ratio <= target else "MISSED"))
        missed |= target is not None and ratio > target
        print(f"{name:32} {ours:9.1f} us {ref:9.1f} us {ratio:7.2f}  {verdict}")
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
