"""Transparency log trust policies: the C2SP tlog-policy file format (c2sp.org/tlog-policy).

A policy lists the logs a verifier accepts (``log <vkey> [<url>]``), the witnesses it knows
(``witness <name> <vkey> [<url>]``, type 0x04 cosignature keys), groups of them with a
threshold (``group <name> all|any|<k> <member>...``) and exactly one ``quorum <name>`` line
(``none`` for no witnesses). A checkpoint is valid under the policy when one listed log signed
it and the witnesses whose cosignatures verify satisfy the quorum. Names are opaque octet
strings; blank lines and ``#`` comments are ignored; a group or the quorum may refer only to
names defined on lines before it, and each name may be a member of a group at most once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import COSIGNATURE_V1_ALG, ED25519_ALG, NoteVerifier

MAX_POLICY_BYTES = 64 * 1024
MAX_ENTRIES = 64  # logs, witnesses and groups, each (the spec recommends supporting 32)
_ALLOWED = re.compile(rb"^[\t\n\x20-\x7e\x80-\xff]*$")
_DECIMAL = re.compile(r"^[1-9][0-9]{0,2}$")


@dataclass(frozen=True)
class Group:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    """A parsed policy. ``witness_urls`` and ``log_urls`` are optional per key."""

    logs: tuple[NoteVerifier, ...]
    witnesses: dict[str, NoteVerifier] = field(hash=False)
    groups: dict[str, Group] = field(hash=False)
    quorum: str
    log_urls: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    witness_urls: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def log_key(self, origin: str) -> NoteVerifier | None:
        """The listed log key named ``origin`` (a log's key name is its origin)."""
        return next((key for key in self.logs if key.name == origin), None)

    def satisfied(self, cosigned: set[str]) -> bool:
        """Whether witnesses named ``cosigned`` (policy names) satisfy the quorum."""
        return self._witnessed(self.quorum, cosigned)

    def _witnessed(self, name: str, cosigned: set[str]) -> bool:
        if name == "none":
            return True
        if name in self.witnesses:
            return name in cosigned
        group = self.groups[name]
        return sum(self._witnessed(member, cosigned) for member in group.members) >= group.threshold

    def names_of(self, keys: Sequence[NoteVerifier]) -> set[str]:
        """The policy names of ``keys`` (cosigners whose signatures verified)."""
        wanted = set(keys)
        return {name for name, key in self.witnesses.items() if key in wanted}

    def describe_quorum(self) -> str:
        """The quorum in words, for a report: ``2 of w1, w2, w3``, ``none``..."""
        return self._describe(self.quorum)

    def _describe(self, name: str) -> str:
        if name == "none" or name in self.witnesses:
            return name
        group = self.groups[name]
        inner = ", ".join(self._describe(m) for m in group.members)
        return f"{group.threshold} of ({inner})" if len(group.members) > 1 else inner

    def to_text(self) -> str:
        """The policy in tlog-policy form: logs, witnesses, groups, then the quorum."""
        lines = [f"log {key.encode()}" + (f" {self.log_urls[key.name]}" if key.name in self.log_urls else "")
                 for key in self.logs]
        lines += [f"witness {name} {key.encode()}" + (f" {self.witness_urls[name]}" if name in self.witness_urls else "")
                  for name, key in self.witnesses.items()]
        for group in self.groups.values():
            k = "all" if group.threshold == len(group.members) and len(group.members) > 1 else str(group.threshold)
            lines.append(f"group {group.name} {k} {' '.join(group.members)}")
        lines.append(f"quorum {self.quorum}")
        return "".join(line + "\n" for line in lines)


def _fail(line_no: int, why: str) -> AnchoringError:
    return AnchoringError(f"policy line {line_no}: {why}", code="witness_policy_invalid")


def parse_policy(raw: bytes | str) -> Policy:
    """Parse a tlog-policy file; ``witness_policy_invalid`` (naming the line) for anything the
    format does not allow: unknown keywords, keys of the wrong type, duplicate keys or names,
    forward references, thresholds outside 1..n, a missing or second quorum line."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(data) > MAX_POLICY_BYTES:
        raise AnchoringError(f"a policy file is at most {MAX_POLICY_BYTES} bytes", code="witness_policy_invalid")
    if not _ALLOWED.match(data):
        raise AnchoringError("a policy file has no control characters but tab and newline", code="witness_policy_invalid")
    text = data.decode("utf-8", "surrogateescape")  # octets with the high bit set stay opaque
    logs: list[NoteVerifier] = []
    log_urls: dict[str, str] = {}
    witnesses: dict[str, NoteVerifier] = {}
    witness_urls: dict[str, str] = {}
    groups: dict[str, Group] = {}
    quorum: str | None = None
    seen_keys: set[bytes] = set()
    for line_no, line in enumerate(text.split("\n"), start=1):
        words = line.replace("\t", " ").split()
        if not words or words[0].startswith("#"):
            continue
        keyword, args = words[0], words[1:]
        if keyword == "log":
            if len(args) not in (1, 2):
                raise _fail(line_no, "log <vkey> [<url>]")
            key = _key(args[0], ED25519_ALG, line_no)
            if key.public_key in seen_keys:
                raise _fail(line_no, "this key is listed twice")
            seen_keys.add(key.public_key)
            logs.append(key)
            if len(args) == 2:
                log_urls[key.name] = args[1]
        elif keyword == "witness":
            if len(args) not in (2, 3):
                raise _fail(line_no, "witness <name> <vkey> [<url>]")
            name, key = args[0], _key(args[1], COSIGNATURE_V1_ALG, line_no)
            if name == "none" or name in witnesses or name in groups:
                raise _fail(line_no, f"the name {name!r} is taken")
            if key.public_key in seen_keys:
                raise _fail(line_no, "this key is listed twice")
            seen_keys.add(key.public_key)
            witnesses[name] = key
            if len(args) == 3:
                witness_urls[name] = args[2]
        elif keyword == "group":
            if len(args) < 3:
                raise _fail(line_no, "group <name> all|any|<k> <member>...")
            name, k, members = args[0], args[1], tuple(args[2:])
            if name == "none" or name in witnesses or name in groups:
                raise _fail(line_no, f"the name {name!r} is taken")
            for member in members:
                if member not in witnesses and member not in groups:
                    raise _fail(line_no, f"{member!r} is not defined on a line before this one")
            if len(set(members)) != len(members):
                raise _fail(line_no, "a group lists each member once")
            threshold = len(members) if k == "all" else 1 if k == "any" else int(k) if _DECIMAL.match(k) else 0
            if not 1 <= threshold <= len(members):
                raise _fail(line_no, f"the threshold must be all, any or 1..{len(members)}")
            groups[name] = Group(name, threshold, members)
        elif keyword == "quorum":
            if len(args) != 1:
                raise _fail(line_no, "quorum <name>")
            if quorum is not None:
                raise _fail(line_no, "a policy has exactly one quorum line")
            if args[0] != "none" and args[0] not in witnesses and args[0] not in groups:
                raise _fail(line_no, f"{args[0]!r} is not defined on a line before this one")
            quorum = args[0]
        else:
            raise _fail(line_no, f"unknown keyword {keyword!r}")
        if max(len(logs), len(witnesses), len(groups)) > MAX_ENTRIES:
            raise _fail(line_no, f"at most {MAX_ENTRIES} logs, witnesses and groups each")
    if quorum is None:
        raise AnchoringError("a policy has exactly one quorum line", code="witness_policy_invalid")
    return Policy(tuple(logs), witnesses, groups, quorum, log_urls, witness_urls)


def _key(text: str, alg: int, line_no: int) -> NoteVerifier:
    try:
        return NoteVerifier.decode(text, alg)
    except AnchoringError as exc:
        raise _fail(line_no, exc.detail) from None


def threshold_policy(log: NoteVerifier, witnesses: Sequence[tuple[str, NoteVerifier, str | None]], k: int,
                     log_url: str | None = None) -> Policy:
    """A one-log policy whose quorum is ``k`` of ``witnesses`` ((name, key, url)), ``none`` when
    ``k`` is 0: the shape a log suggests to its verifiers at ``GET /log/trust``."""
    named = {name: key for name, key, _ in witnesses}
    urls = {name: url for name, _, url in witnesses if url}
    if k == 0:
        policy = Policy((log,), named, {}, "none", {log.name: log_url} if log_url else {}, urls)
    elif len(witnesses) == 1 and k == 1:
        policy = Policy((log,), named, {}, witnesses[0][0], {log.name: log_url} if log_url else {}, urls)
    else:
        group = Group("witnesses", k, tuple(named))
        policy = Policy((log,), named, {"witnesses": group}, "witnesses", {log.name: log_url} if log_url else {}, urls)
    return parse_policy(policy.to_text())  # one path for every policy: what it serves, it also accepts
