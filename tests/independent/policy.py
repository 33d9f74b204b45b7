"""Reference trust policies and their quorum, from c2sp.org/tlog-policy."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.independent.cosignature import verify_cosignatures
from tests.independent.note import COSIGNATURE_V1, ED25519, ReferenceError, Vkey, open_checkpoint, parse_vkey


@dataclass
class Policy:
    logs: list[Vkey] = field(default_factory=list)
    witnesses: dict[bytes, Vkey] = field(default_factory=dict)  # policy name (octets) -> vkey
    groups: dict[bytes, tuple[int, list[bytes]]] = field(default_factory=dict)  # name -> (k, members)
    quorum: bytes = b""

    def witnessed(self, name: bytes, cosigned: set[bytes]) -> bool:
        """Whether ``name`` (a witness, a group or ``none``) witnessed, given who cosigned."""
        if name == b"none":
            return True
        if name in self.witnesses:
            return name in cosigned
        k, members = self.groups[name]
        return sum(1 for m in members if self.witnessed(m, cosigned)) >= k

    def satisfied(self, cosigned: set[bytes]) -> bool:
        return self.witnessed(self.quorum, cosigned)


def parse(data: bytes) -> Policy:
    """Lines of whitespace (space, tab) separated items; '#' comments and blank lines ignored;
    names are octet strings; references only to earlier lines; exactly one quorum line."""
    if any(b < 0x20 and b not in (0x09, 0x0A) or b == 0x7F for b in data):
        raise ReferenceError("control characters other than tab and newline")
    policy = Policy()
    seen: set[bytes] = set()  # public keys, logs and witnesses alike
    quorum_lines = 0
    for line in data.split(b"\n"):
        items = line.replace(b"\t", b" ").split(b" ")
        items = [item for item in items if item]
        if not items or items[0].startswith(b"#"):
            continue
        word, args = items[0], items[1:]
        defined = set(policy.witnesses) | set(policy.groups)
        if word == b"log" and len(args) in (1, 2):
            vkey = parse_vkey(args[0].decode("utf-8"))
            if vkey.sig_type != ED25519 or vkey.public_key in seen:
                raise ReferenceError("a log key is a new Ed25519 key")
            seen.add(vkey.public_key)
            policy.logs.append(vkey)
        elif word == b"witness" and len(args) in (2, 3):
            vkey = parse_vkey(args[1].decode("utf-8"))
            if vkey.sig_type != COSIGNATURE_V1 or vkey.public_key in seen:
                raise ReferenceError("a witness key is a new cosignature/v1 key")
            if args[0] in defined or args[0] == b"none":
                raise ReferenceError("a name is defined once")
            seen.add(vkey.public_key)
            policy.witnesses[args[0]] = vkey
        elif word == b"group" and len(args) >= 3:
            name, k, members = args[0], args[1], args[2:]
            if name in defined or name == b"none":
                raise ReferenceError("a name is defined once")
            if any(m not in defined for m in members) or len(set(members)) != len(members):
                raise ReferenceError("members are earlier names, each listed once")
            if k == b"all":
                threshold = len(members)
            elif k == b"any":
                threshold = 1
            elif k.isdigit() and not k.startswith(b"0"):
                threshold = int(k)
            else:
                raise ReferenceError("a threshold is all, any or a decimal")
            if not 1 <= threshold <= len(members):
                raise ReferenceError("1 <= k <= n")
            policy.groups[name] = (threshold, list(members))
        elif word == b"quorum" and len(args) == 1:
            if args[0] != b"none" and args[0] not in defined:
                raise ReferenceError("the quorum names an earlier witness or group")
            policy.quorum = args[0]
            quorum_lines += 1
        else:
            raise ReferenceError(f"not a policy line: {line!r}")
    if quorum_lines != 1:
        raise ReferenceError("exactly one quorum line")
    return policy


def checkpoint_valid(policy: Policy, note: str) -> bool:
    """Signed by one of the policy's logs and cosigned by witnesses that satisfy the quorum."""
    try:
        open_checkpoint(note, policy.logs)
        cosigned = verify_cosignatures(note, list(policy.witnesses.values()))
    except ReferenceError:
        return False
    names = {name for name, vkey in policy.witnesses.items() if vkey in cosigned}
    return policy.satisfied(names)
