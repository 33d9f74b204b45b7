"""Reference signed notes and vkeys, from c2sp.org/signed-note and c2sp.org/tlog-checkpoint."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

EM_DASH = "\u2014"
ED25519 = 0x01
COSIGNATURE_V1 = 0x04


class ReferenceError(Exception):
    """The reference refuses what it was given."""


def b64decode(text: str) -> bytes:
    """Standard base64 (RFC 4648 §4), padded; only the canonical spelling of each value."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ReferenceError(f"not base64: {text!r}") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ReferenceError(f"not canonical base64: {text!r}")
    return raw


def b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def key_id(name: str, sig_type: int, public_key: bytes) -> int:
    """key ID = SHA-256(key name || 0x0A || signature type || public key)[:4], as a uint32."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\x0a" + bytes([sig_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode spaces, no plus."""
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


@dataclass(frozen=True)
class Vkey:
    name: str
    key_id: int
    sig_type: int
    public_key: bytes

    def text(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{b64encode(bytes([self.sig_type]) + self.public_key)}"


def make_vkey(name: str, sig_type: int, public_key: bytes) -> Vkey:
    return Vkey(name, key_id(name, sig_type, public_key), sig_type, public_key)


def parse_vkey(text: str) -> Vkey:
    """<key name>+hex(32-bit key ID)+base64(signature type || public key). For the two Ed25519
    types the key is 32 bytes and the key ID must be the one the spec computes."""
    parts = text.split("+", 2)  # the name and the hex ID hold no '+'; base64 may
    if len(parts) != 3:
        raise ReferenceError("a vkey has three parts separated by '+'")
    name, hex_id, blob = parts
    if not valid_key_name(name):
        raise ReferenceError("bad key name")
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise ReferenceError("the key ID is 8 lowercase hex digits")
    raw = b64decode(blob)
    if not raw:
        raise ReferenceError("no signature type")
    vkey = Vkey(name, int(hex_id, 16), raw[0], raw[1:])
    if vkey.sig_type in (ED25519, COSIGNATURE_V1):
        if len(vkey.public_key) != 32:
            raise ReferenceError("an Ed25519 public key is 32 bytes")
        if vkey.key_id != key_id(name, vkey.sig_type, vkey.public_key):
            raise ReferenceError("the key ID is not the one of this name and key")
    return vkey


def check_note_chars(note: str) -> None:
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise ReferenceError("a control character other than newline")


@dataclass(frozen=True)
class SignatureLine:
    name: str
    key_id: int
    signature: bytes  # after the key ID


def parse_note(note: str | bytes) -> tuple[str, list[SignatureLine]]:
    """(text, signature lines): the text is separated from the signatures by the last empty line;
    the text includes its final newline."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise ReferenceError("not UTF-8") from None
    check_note_chars(note)
    if not note.endswith("\n"):
        raise ReferenceError("a note ends in a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise ReferenceError("no blank line before the signatures")
    text, block = note[:cut + 1], note[cut + 2:]
    if not block:
        raise ReferenceError("a signed note has at least one signature")
    lines = []
    for line in block[:-1].split("\n"):
        if not line.startswith(EM_DASH + " "):
            raise ReferenceError("a signature line starts with an em dash and a space")
        rest = line[2:]
        name, space, blob = rest.partition(" ")
        if not space or not valid_key_name(name):
            raise ReferenceError("a signature line is '— <name> <base64>'")
        raw = b64decode(blob)
        if len(raw) < 4:
            raise ReferenceError("a signature holds a 4-byte key ID")
        lines.append(SignatureLine(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return text, lines


def sign_note(text: str, name: str, seed: bytes) -> str:
    """``text`` (ending in a newline) signed by the Ed25519 key of ``seed`` under ``name``."""
    key = nacl.signing.SigningKey(seed)
    kid = key_id(name, ED25519, bytes(key.verify_key))
    signature = key.sign(text.encode("utf-8")).signature
    return f"{text}\n{EM_DASH} {name} {b64encode(kid.to_bytes(4, 'big') + signature)}\n"


def ed25519_vkey(name: str, seed: bytes, sig_type: int = ED25519) -> Vkey:
    return make_vkey(name, sig_type, bytes(nacl.signing.SigningKey(seed).verify_key))


def verify_note(note: str | bytes, known: list[Vkey]) -> list[Vkey]:
    """The known Ed25519 (type 0x01) keys whose signatures verify. Unknown keys (name or ID
    differing) are ignored; a failing signature by a known key rejects the note; no verified
    signature rejects it too."""
    text, lines = parse_note(note)
    verified = []
    for line in lines:
        for vkey in known:
            if vkey.sig_type != ED25519 or (vkey.name, vkey.key_id) != (line.name, line.key_id):
                continue
            try:
                nacl.signing.VerifyKey(vkey.public_key).verify(text.encode("utf-8"), line.signature)
            except (nacl.exceptions.BadSignatureError, ValueError):
                raise ReferenceError(f"the signature by {vkey.name} does not verify") from None
            verified.append(vkey)
    if not verified:
        raise ReferenceError("no signature by a known key")
    return verified


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...]


def parse_checkpoint_text(text: str) -> Checkpoint:
    """At least three non-empty lines: origin, decimal size without leading zeroes, base64 root
    hash; then optional non-empty extension lines."""
    if not text.endswith("\n"):
        raise ReferenceError("the note text ends in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise ReferenceError("a checkpoint is at least three non-empty lines")
    origin, size, root = lines[:3]
    if not size.isascii() or not size.isdigit() or (size != "0" and size.startswith("0")):
        raise ReferenceError("the tree size is a decimal without leading zeroes")
    raw = b64decode(root)
    if len(raw) != 32:
        raise ReferenceError("the root is a SHA-256 hash")
    return Checkpoint(origin, int(size), raw, tuple(lines[3:]))


def open_checkpoint(note: str, log_keys: list[Vkey]) -> Checkpoint:
    """A checkpoint signed by one of ``log_keys`` whose name is its origin line."""
    text, _ = parse_note(note)
    checkpoint = parse_checkpoint_text(text)
    verify_note(note, [k for k in log_keys if k.name == checkpoint.origin])
    return checkpoint
