"""Base64 (RFC 4648), the one place credshare encodes and decodes it.

* base64url without padding (RFC 4648 §5, as JWS and SD-JWT require: RFC 7515 §2, RFC 9901 §4);
* standard base64 with padding (RFC 4648 §4), as C2SP signed notes and checkpoints use it, and
  for binary values kept as text in the store, in sealed values and in key files.

Decoding is strict and canonical in both alphabets: every byte string has exactly one accepted
spelling. Refused: characters outside the alphabet (including whitespace, newlines and the other
alphabet's ``+/`` or ``-_``), padding in base64url, missing, excess or misplaced padding in
standard base64, a final group of one character, and non-zero unused bits in the last character
(RFC 4648 §3.5: ``Bx==`` is not another way to write ``Bw==``). A refusal is a :class:`ValueError`;
the caller names the rule with its own error code.
"""

from __future__ import annotations

import binascii

_STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_STANDARD_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# For a final group of 2 or 3 data characters, the bits of the last character that carry no data.
_UNUSED_BITS_MASK = {2: 0x0F, 3: 0x03}


def _check_final_group(text: str, data_chars: int, alphabet: str) -> None:
    """``data_chars`` (0, 2 or 3) is how many data characters the final group holds."""
    if data_chars == 1:
        raise ValueError("a final group of one character")
    if data_chars and alphabet.index(text[-1]) & _UNUSED_BITS_MASK[data_chars]:  # ValueError off the alphabet
        raise ValueError("non-zero unused bits in the last character")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5)."""
    return binascii.b2a_base64(data, newline=False).translate(_STANDARD_TO_URLSAFE, b"=").decode("ascii")


def b64url_decode(text: object) -> bytes:
    """Decode canonical unpadded base64url; :class:`ValueError` on anything else."""
    if not isinstance(text, str):
        raise ValueError("base64url text expected")
    if "+" in text or "/" in text or "=" in text:
        raise ValueError("not unpadded base64url")
    try:
        tail = len(text) % 4
        _check_final_group(text, tail, _URLSAFE)
        raw = text.encode("ascii")
        if tail:
            raw += b"==" if tail == 2 else b"="
        # strict mode refuses every character outside the (translated) alphabet
        return binascii.a2b_base64(raw.translate(_URLSAFE_TO_STANDARD), strict_mode=True)
    except (binascii.Error, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise ValueError("not canonical unpadded base64url") from exc


def b64_encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4)."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def b64_decode(text: object) -> bytes:
    """Decode canonical, padded standard base64; :class:`ValueError` on anything else."""
    if not isinstance(text, str):
        raise ValueError("base64 text expected")
    try:
        if len(text) % 4:
            raise ValueError("not padded standard base64")
        padding = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
        if padding:
            _check_final_group(text[:-padding], 4 - padding, _STANDARD)
        # strict mode refuses characters off the alphabet and padding anywhere but the end
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not canonical padded standard base64") from exc
