"""Processing disclosures against the issuer-signed payload (RFC 9901 §7.1, step 3).

Pure and strict: it rebuilds the processed payload and rejects, with one code per rule, every
case §7.1 lists: an object-property disclosure found through a ``...`` digest or an array one
through ``_sd`` (3.2), the claim names ``_sd`` and ``...`` (3.2.1), a name already present at
its level (3.2.1), a digest seen twice (3.4) and a disclosure referenced by no digest (3.5).
It also returns where each disclosure landed, as a claim path, for holders and verifiers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.format import ARRAY_DIGEST_KEY, SD_ALG_KEY, SD_KEY, Disclosure
from credshare.disclosure.paths import ClaimPath

MAX_DEPTH = 64


@dataclass(frozen=True)
class Processed:
    claims: dict[str, Any]
    # digest -> the claim path its disclosure revealed, in processing order
    paths: dict[str, ClaimPath]

    @property
    def disclosed_paths(self) -> list[ClaimPath]:
        return list(self.paths.values())


def process(payload: dict[str, Any], disclosures: Iterable[Disclosure]) -> Processed:
    by_digest: dict[str, Disclosure] = {}
    for disclosure in disclosures:
        if disclosure.digest in by_digest:
            raise SDJWTError(code="disclosure_duplicate")
        by_digest[disclosure.digest] = disclosure
    walker = _Walker(by_digest)
    claims = walker.object(payload, (), top=True)
    unreferenced = set(by_digest) - set(walker.paths)
    if unreferenced:
        raise SDJWTError(f"{len(unreferenced)} disclosure(s) match no digest", code="disclosure_unreferenced")
    return Processed(claims, walker.paths)


class _Walker:
    def __init__(self, by_digest: dict[str, Disclosure]) -> None:
        self.by_digest = by_digest
        self.seen: set[str] = set()
        self.paths: dict[str, ClaimPath] = {}

    def _note(self, digest: Any) -> Disclosure | None:
        if not isinstance(digest, str):
            raise SDJWTError("digests must be strings", code="sd_invalid")
        if digest in self.seen:
            raise SDJWTError(code="digest_duplicate")
        self.seen.add(digest)
        return self.by_digest.get(digest)

    def value(self, value: Any, path: ClaimPath) -> Any:
        if len(path) > MAX_DEPTH:
            raise SDJWTError(code="nesting_too_deep")
        if isinstance(value, dict):
            return self.object(value, path)
        if isinstance(value, list):
            return self.array(value, path)
        return value

    def object(self, obj: dict[str, Any], path: ClaimPath, top: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, item in obj.items():
            if name == SD_KEY or (top and name == SD_ALG_KEY):
                continue
            if name == SD_ALG_KEY:
                raise SDJWTError("_sd_alg is allowed only at the top level", code="sd_invalid")
            out[name] = self.value(item, path + (name,)) if isinstance(item, (dict, list)) else item
        digests = obj.get(SD_KEY, [])
        if not isinstance(digests, list):
            raise SDJWTError("_sd must be an array of digests", code="sd_invalid")
        for digest in digests:
            disclosure = self._note(digest)
            if disclosure is None:
                continue  # a decoy or an undisclosed claim
            if disclosure.name is None:
                raise SDJWTError("an _sd digest refers to an array-element disclosure", code="disclosure_shape")
            if disclosure.name in (SD_KEY, ARRAY_DIGEST_KEY):
                raise SDJWTError(code="disclosure_name_reserved")
            if disclosure.name in out:
                raise SDJWTError(f"claim {disclosure.name!r} already exists at its level", code="claim_name_collision")
            claim_path = path + (disclosure.name,)
            self.paths[digest] = claim_path
            out[disclosure.name] = self.value(disclosure.value, claim_path)
        return out

    def array(self, arr: list[Any], path: ClaimPath) -> list[Any]:
        out: list[Any] = []
        for element in arr:
            if isinstance(element, dict) and ARRAY_DIGEST_KEY in element:
                if len(element) != 1:
                    raise SDJWTError("an array digest object has the single member '...'", code="sd_invalid")
                disclosure = self._note(element[ARRAY_DIGEST_KEY])
                if disclosure is None:
                    continue  # undisclosed element: dropped
                if disclosure.name is not None:
                    raise SDJWTError("a '...' digest refers to an object-property disclosure", code="disclosure_shape")
                claim_path = path + (len(out),)
                self.paths[disclosure.digest] = claim_path
                out.append(self.value(disclosure.value, claim_path))
            else:
                out.append(self.value(element, path + (len(out),)))
        return out
