"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and C2SP checkpoints
(c2sp.org/tlog-checkpoint).

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> <base64(key ID || signature)>``. An Ed25519 key ID is the first 4 bytes of
SHA-256(key name || 0x0A || 0x01 || public key); a verifier key is written
``<name>+<hex key ID>+<base64(0x01 || public key)>``. A checkpoint's note text is the
origin line, the tree size in decimal and the standard-base64 root hash, each on its own
line, optionally followed by extension lines.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from credshare.anchoring.errors import AnchoringError
from credshare.foundation.b64 import b64_decode, b64_encode

ED25519_ALG = 0x01  # a log's checkpoint signature (c2sp.org/signed-note)
COSIGNATURE_V1_ALG = 0x04  # a witness's Ed25519 cosignature/v1 (c2sp.org/tlog-cosignature)
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_KEY_NAME = re.compile(r"^[^\s+]+$")
_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,19})$")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # signed-note: no ASCII control character but the newline
OPENED_CHECKPOINTS = 4096  # verified checkpoint notes kept, by (note, verifier key)


def key_id(name: str, public_key: bytes, alg: int = ED25519_ALG) -> bytes:
    """SHA-256(name || 0x0A || signature type || public key)[:4] (signed-note, tlog-cosignature)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()[:4]


def _b64decode(text: str, what: str) -> bytes:
    try:
        return b64_decode(text)
    except ValueError:
        raise AnchoringError(f"{what} is not canonical standard base64", code="note_malformed") from None


def check_key_name(name: str) -> str:
    """A key name as signed-note allows it: not empty, no whitespace, no ``+``."""
    if not isinstance(name, str) or not _KEY_NAME.match(name):
        raise AnchoringError("a key name has no spaces and no '+'", code="note_key_invalid")
    return name


@dataclass(frozen=True)
class NoteSigner:
    name: str
    signing_key: nacl.signing.SigningKey

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        return cls(check_key_name(name), nacl.signing.SigningKey(seed))

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, bytes(self.signing_key.verify_key))

    def sign(self, text: str) -> str:
        """The note ``text`` with this key's signature line."""
        body = check_text(text)
        signature = self.signing_key.sign(body.encode("utf-8")).signature
        tag = b64_encode(key_id(self.name, bytes(self.signing_key.verify_key)) + signature)
        return f"{body}\n{SIGNATURE_PREFIX}{self.name} {tag}\n"


@dataclass(frozen=True)
class NoteVerifier:
    """A verifier key (a *vkey*, signed-note): a name and an Ed25519 public key, for log
    signatures (type 0x01) or for a witness's cosignatures (type 0x04, tlog-cosignature)."""

    name: str
    public_key: bytes
    alg: int = ED25519_ALG

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key, self.alg)

    def encode(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{b64_encode(bytes([self.alg]) + self.public_key)}"

    @classmethod
    def decode(cls, text: str, alg: int = ED25519_ALG) -> NoteVerifier:
        """A vkey of signature type ``alg``; any other type is refused (a log key is never a
        witness key, nor the reverse)."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not _KEY_NAME.match(parts[0]) or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise AnchoringError("a verifier key is <name>+<hex key id>+<base64 key>", code="note_key_invalid")
        raw = _b64decode(parts[2], "the verifier key")
        if len(raw) != 33 or raw[0] != alg:
            kind = "a witness's Ed25519 cosignature key (type 0x04)" if alg == COSIGNATURE_V1_ALG else \
                "an Ed25519 log key (type 0x01)"
            raise AnchoringError(f"the verifier key is not {kind}", code="note_key_invalid")
        verifier = cls(parts[0], raw[1:], alg)
        if verifier.key_id.hex() != parts[1]:
            raise AnchoringError("the key id does not match the key", code="note_key_invalid")
        return verifier


def check_text(text: str) -> str:
    if not text.endswith("\n") or "\n\n" in text or not text.strip():
        raise AnchoringError("note text is non-empty lines, each ending in a newline", code="note_malformed")
    if _CONTROL.search(text):
        raise AnchoringError("a note holds no control character but the newline", code="note_malformed")
    return text


def split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """(text, [(key name, key id, signature)]) of a signed note; structure only."""
    text, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n") or _CONTROL.search(sigs):
        raise AnchoringError("a signed note is text, a blank line and signature lines", code="note_malformed")
    text = check_text(text + "\n")
    lines = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise AnchoringError("signature lines start with an em dash and a space", code="note_malformed")
        name, _, tag = line[len(SIGNATURE_PREFIX):].partition(" ")
        raw = _b64decode(tag, "a signature")
        if len(raw) < 5 or not name:
            raise AnchoringError("a signature line is '— <name> <base64>'", code="note_malformed")
        lines.append((name, raw[:4], raw[4:]))
    return text, lines


def verify_note(note: str, verifier: NoteVerifier) -> str:
    """The note's text if ``verifier`` signed it; otherwise ``note_signature_invalid``.
    Signatures by other keys are ignored, as the format intends; a line that names the key
    and its ID but does not verify makes the note malformed (signed-note), even beside a
    valid one."""
    text, signatures = split_note(note)
    mine = [signature for name, kid, signature in signatures if name == verifier.name and kid == verifier.key_id]
    for signature in mine:
        if len(signature) != 64:
            break
        try:
            nacl.signing.VerifyKey(verifier.public_key).verify(text.encode("utf-8"), signature)
        except nacl.exceptions.BadSignatureError:
            break
    else:
        if mine:
            return text
    raise AnchoringError(f"no valid signature by {verifier.name}", code="note_signature_invalid")


TIME_EXTENSION = "credshare-time"  # extension line "credshare-time <Unix seconds>": when the log signed it


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @property
    def signed_at(self) -> int | None:
        """The log's signing time from the ``credshare-time`` extension line, if present."""
        for line in self.extensions:
            name, _, value = line.partition(" ")
            if name == TIME_EXTENSION and _DECIMAL.match(value):
                return int(value)
        return None

    def text(self) -> str:
        lines = [self.origin, str(self.size), b64_encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = check_text(text)[:-1].split("\n")
        if len(lines) < 3 or not lines[0] or not _DECIMAL.match(lines[1]):
            raise AnchoringError("origin, decimal tree size and root hash lines", code="checkpoint_malformed")
        root = _b64decode(lines[2], "the root hash")
        if len(root) != 32:
            raise AnchoringError("the root hash is 32 bytes", code="checkpoint_malformed")
        return cls(lines[0], int(lines[1]), root, tuple(lines[3:]))


@functools.lru_cache(maxsize=OPENED_CHECKPOINTS)
def _opened(note: str, verifier: NoteVerifier) -> Checkpoint:
    """A note verified once per (note text, verifier key): only successes are kept (an
    exception is never cached), and a Checkpoint is immutable."""
    return Checkpoint.parse(verify_note(note, verifier))


def open_checkpoint(note: str, verifier: NoteVerifier, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint note and parse it; the origin must match when given."""
    checkpoint = _opened(note, verifier)
    if origin is not None and checkpoint.origin != origin:
        raise AnchoringError(f"checkpoint is for {checkpoint.origin!r}", code="checkpoint_origin_mismatch")
    return checkpoint
