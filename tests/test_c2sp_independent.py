"""Our C2SP outputs checked by an independent reference (tests/independent, written from the C2SP
texts and RFC 9162 alone), and the reverse: what the reference signs, proves and serves, our
verifiers accept, and what it corrupts, they refuse. Plus the example vectors the spec texts give
in full, and a check that the reference imports nothing of the package."""

from __future__ import annotations

import ast
import base64
import functools
import itertools
import random
import sys
from pathlib import Path

import pytest

from credshare.anchoring import merkle
from credshare.anchoring.cosignature import Cosigner, cosignatures, signed_message, with_signature_lines
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import (
    COSIGNATURE_V1_ALG,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    split_note,
    verify_note,
)
from credshare.anchoring.policy import parse_policy, threshold_policy
from credshare.anchoring.tiles import TileReader, bundles_of, entry_bundle, tiles_of
from credshare.anchoring.tlog_proof import build_tlog_proof, parse_tlog_proof
from tests.independent import (
    cosignature as ref_cosignature,
    merkle as ref_merkle,
    note as ref_note,
    policy as ref_policy,
    tiles as ref_tiles,
    tlog_proof as ref_tlog_proof,
)

INDEPENDENT = Path(__file__).resolve().parent / "independent"
ORIGIN = "log.example.org/credshare"
LOG_SEED = bytes(range(32))
WITNESS_SEEDS = {f"witness{i}.example/w": bytes([i]) * 32 for i in range(1, 6)}
NOW = 1_790_000_000


def seed_of(name: str) -> bytes:
    return WITNESS_SEEDS[name]


# -- the reference is independent ---------------------------------------------------------------

ALLOWED_TOP = {"nacl", "tests"} | set(sys.stdlib_module_names)


def foreign_imports(source: str) -> list[str]:
    """What a reference module imports beyond the standard library, PyNaCl and the reference
    itself; any mention of the package's name, and any dynamic import, counts too."""
    bad = ["the name credshare"] if "credshare" in source.lower() else []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if not node.level else []
        elif isinstance(node, ast.Name) and node.id in ("__import__", "importlib"):
            bad.append(node.id)
        for name in names:
            top = name.split(".")[0]
            if top not in ALLOWED_TOP or top in ("importlib",) or \
                    (top == "tests" and not (name == "tests.independent" or name.startswith("tests.independent."))):
                bad.append(name)
    return bad


def test_the_reference_imports_nothing_of_credshare() -> None:
    sources = sorted(INDEPENDENT.glob("*.py"))
    assert {p.name for p in sources} >= {"__init__.py", "note.py", "cosignature.py", "policy.py", "merkle.py",
                                         "tiles.py", "tlog_proof.py"}
    assert {p.name: bad for p in sources if (bad := foreign_imports(p.read_text(encoding="utf-8")))} == {}


@pytest.mark.parametrize("source", [
    "import credshare\n", "from credshare.anchoring import note\n", "from tests.helpers import FOLDERS\n",
    "from tests import conftest\n", "import importlib\nimportlib.import_module('cred' + 'share')\n",
    "m = __import__('x')\n", "from flask import Flask\n", "import pymerkle\n", "# uses CredShare's code\n",
])
def test_the_independence_check_can_fail(source: str) -> None:
    assert foreign_imports(source)


def test_the_independence_check_lets_the_standard_library_nacl_and_the_reference_be() -> None:
    assert foreign_imports("import hashlib\nimport nacl.signing\nfrom tests.independent import merkle\n"
                           "from tests.independent.note import Vkey\nfrom . import note\n") == []


# -- the spec texts' own vectors ----------------------------------------------------------------

SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = ("This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1"
             "ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")
SPEC_CHECKPOINT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_COSIGNED = (SPEC_CHECKPOINT + "\n\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
                 "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtP"
                 "HeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n")
SPEC_QUASIMODO = ("Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u00e8 subito sera.\n\n\u2014 "
                  "quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQw"
                  "aqP3ZekRwNtIc=\n")


def test_the_signed_note_example_vkey_and_note_in_both() -> None:
    ref_key = ref_note.parse_vkey(SPEC_VKEY)
    assert ref_key.key_id == 0x530D903A and ref_key.sig_type == 0x01
    assert ref_note.verify_note(SPEC_NOTE, [ref_key]) == [ref_key]
    ours = NoteVerifier.decode(SPEC_VKEY)
    assert ours.key_id.hex() == "530d903a" and ours.encode() == SPEC_VKEY == ref_key.text()
    assert verify_note(SPEC_NOTE, ours) == "This is an example message.\n"
    tampered = SPEC_NOTE.replace("example message", "example massage")
    with pytest.raises(ref_note.ReferenceError):
        ref_note.verify_note(tampered, [ref_key])
    with pytest.raises(AnchoringError):
        verify_note(tampered, ours)


def test_the_signed_note_example_with_an_empty_line_in_its_text() -> None:
    # signed-note: "the text is separated from the signatures by the last empty line". Our notes
    # are checkpoints, whose lines are never empty: the package refuses such a text on purpose.
    text, lines = ref_note.parse_note(SPEC_QUASIMODO)
    assert text.endswith("\ned \u00e8 subito sera.\n") and [line.name for line in lines] == ["quasimodo.example/salvatore"]
    with pytest.raises(AnchoringError):
        split_note(SPEC_QUASIMODO)


def test_the_cosignature_example_in_both() -> None:
    # the example's witness line carries timestamp 1679315147, the one of the spec's signed message
    text, lines = ref_note.parse_note(SPEC_COSIGNED)
    assert text == SPEC_CHECKPOINT
    timestamp, signature = ref_cosignature.split_timestamped(lines[1].signature)
    assert timestamp == 1679315147 and len(signature) == 64 and lines[1].key_id == 0x8D66CF3F
    spec_message = ("cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
                    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n").encode()
    assert signed_message(SPEC_CHECKPOINT, 1679315147) == spec_message == ref_cosignature.message(text, timestamp)
    ours_text, ours_lines = split_note(SPEC_COSIGNED)
    assert ours_text == text and [(n, int.from_bytes(k, "big")) for n, k, _ in ours_lines] == \
        [(line.name, line.key_id) for line in lines]
    checkpoint = Checkpoint.parse(ours_text)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert ref_note.parse_checkpoint_text(text).root == checkpoint.root


def test_the_tlog_tiles_path_example() -> None:
    assert ref_tiles.index_element(1234067) == "x001/x234/067"
    assert ref_tiles.tile_path(0, 1234067) == "tile/0/x001/x234/067"


# -- signed notes and vkeys ---------------------------------------------------------------------

def our_checkpoint_note(size: int = 12, root: bytes = b"\x07" * 32) -> tuple[str, str]:
    text = Checkpoint(ORIGIN, size, root, ("credshare-time 1790000000",)).text()
    return text, NoteSigner.from_seed(ORIGIN, LOG_SEED).sign(text)


def test_our_notes_and_vkeys_verify_with_the_reference() -> None:
    text, note = our_checkpoint_note()
    vkey = ref_note.parse_vkey(NoteSigner.from_seed(ORIGIN, LOG_SEED).verifier.encode())
    assert vkey == ref_note.ed25519_vkey(ORIGIN, LOG_SEED)
    assert ref_note.verify_note(note, [vkey]) == [vkey]
    checkpoint = ref_note.open_checkpoint(note, [vkey])
    assert (checkpoint.origin, checkpoint.size, checkpoint.extensions) == (ORIGIN, 12, ("credshare-time 1790000000",))
    other = ref_note.ed25519_vkey(ORIGIN, bytes(32))
    with pytest.raises(ref_note.ReferenceError):
        ref_note.verify_note(note, [other])  # same name, another key: ignored, so nothing verified


def test_the_reference_notes_and_vkeys_verify_with_ours() -> None:
    text = Checkpoint(ORIGIN, 5, b"\x01" * 32).text()
    note = ref_note.sign_note(text, ORIGIN, LOG_SEED)
    ours = NoteVerifier.decode(ref_note.ed25519_vkey(ORIGIN, LOG_SEED).text())
    assert open_checkpoint(note, ours, ORIGIN) == Checkpoint(ORIGIN, 5, b"\x01" * 32)
    # a note with another key's signature first still verifies (unknown keys are ignored)
    assert verify_note(with_signature_lines(ref_note.sign_note(text, "other.example/k", bytes(32)),
                                            [note.split("\n\n")[1]]), ours) == text
    body, sig = note.split("\n\n")
    raw = bytearray(base64.b64decode(sig.split(" ")[2]))
    for position in (5, len(raw) - 1):  # a bit of the signature
        bad = bytearray(raw)
        bad[position] ^= 1
        with pytest.raises(AnchoringError):
            verify_note(f"{body}\n\n\u2014 {ORIGIN} {base64.b64encode(bytes(bad)).decode()}\n", ours)
    with pytest.raises(AnchoringError):
        verify_note(note.replace("\n5\n", "\n6\n"), ours)
    for vkey in (ref_note.ed25519_vkey(ORIGIN, LOG_SEED, ref_note.COSIGNATURE_V1).text(),  # the wrong type
                 ref_note.Vkey(ORIGIN, 0x12345678, 0x01, ours.public_key).text()):  # the wrong key id
        with pytest.raises(AnchoringError):
            NoteVerifier.decode(vkey)


# -- cosignatures -------------------------------------------------------------------------------

def test_our_cosignatures_verify_with_the_reference() -> None:
    text, note = our_checkpoint_note()
    cosigners = [Cosigner.from_seed(name, seed) for name, seed in WITNESS_SEEDS.items()]
    cosigned = with_signature_lines(note, [c.cosign(text, NOW + i) for i, c in enumerate(cosigners[:3])])
    keys = [ref_note.parse_vkey(c.key.encode()) for c in cosigners]
    assert [k.sig_type for k in keys] == [ref_note.COSIGNATURE_V1] * 5
    assert keys == [ref_note.ed25519_vkey(name, seed, ref_note.COSIGNATURE_V1) for name, seed in WITNESS_SEEDS.items()]
    assert ref_cosignature.verify_cosignatures(cosigned, keys) == {keys[i]: NOW + i for i in range(3)}
    log = ref_note.ed25519_vkey(ORIGIN, LOG_SEED)
    assert ref_note.verify_note(cosigned, [log, *keys]) == [log]  # the cosignatures are not Ed25519 note signatures


def test_the_reference_cosignatures_verify_with_ours() -> None:
    text = Checkpoint(ORIGIN, 9, b"\x02" * 32).text()
    note = ref_note.sign_note(text, ORIGIN, LOG_SEED)
    lines = [ref_cosignature.cosign(text, name, seed, NOW) for name, seed in WITNESS_SEEDS.items()]
    cosigned = note + "".join(lines[:4])
    ours = [NoteVerifier.decode(ref_note.ed25519_vkey(name, seed, ref_note.COSIGNATURE_V1).text(), COSIGNATURE_V1_ALG)
            for name, seed in WITNESS_SEEDS.items()]
    assert [(c.witness, c.timestamp) for c in cosignatures(cosigned, ours)] == [(k, NOW) for k in ours[:4]]
    # a line by a known key that does not verify is refused; one by an unknown key is ignored
    name, blob = lines[0][2:-1].split(" ")
    raw = bytearray(base64.b64decode(blob))
    for position in (4, 11, 12, len(raw) - 1):  # the timestamp, the signature
        bad = bytearray(raw)
        bad[position] ^= 1
        with pytest.raises(AnchoringError) as exc:
            cosignatures(note + f"\u2014 {name} {base64.b64encode(bytes(bad)).decode()}\n", ours)
        assert exc.value.code == "witness_signature_invalid"
    stranger = ref_cosignature.cosign(text, "stranger.example/w", bytes([9]) * 32, NOW)
    assert cosignatures(note + stranger, ours) == []
    with pytest.raises(AnchoringError):  # a cosignature over another checkpoint
        cosignatures(note + ref_cosignature.cosign(Checkpoint(ORIGIN, 10, b"\x02" * 32).text(), name,
                                                   seed_of(name), NOW), ours)


# -- policies -----------------------------------------------------------------------------------

def vkeys() -> tuple[str, dict[str, str]]:
    log = ref_note.ed25519_vkey(ORIGIN, LOG_SEED).text()
    return log, {name: ref_note.ed25519_vkey(name, seed, ref_note.COSIGNATURE_V1).text()
                 for name, seed in WITNESS_SEEDS.items()}


def spec_example_policy() -> str:
    """The tlog-policy example (two levels of groups), with keys of our own for its elided ones."""
    keys = [ref_note.ed25519_vkey(f"w{i}.example", bytes([40 + i]) * 32, ref_note.COSIGNATURE_V1).text()
            for i in range(6)]
    return (f"log {vkeys()[0]}\n\nwitness X1 {keys[0]}\nwitness X2 {keys[1]}\nwitness X3 {keys[2]}\n"
            "group X-witnesses 2 X1 X2 X3\n\n"
            f"witness Y1 {keys[3]}\nwitness Y2 {keys[4]}\nwitness Y3 {keys[5]}\ngroup Y-witnesses any Y1 Y2 Y3\n\n"
            "group X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n")


def same_quorum(text: str) -> None:
    ours = parse_policy(text)
    ref = ref_policy.parse(text.encode())
    names = list(ours.witnesses)
    assert [n.encode() for n in names] == list(ref.witnesses)
    for r in range(len(names) + 1):
        for subset in itertools.combinations(names, r):
            assert ours.satisfied(set(subset)) == ref.satisfied({n.encode() for n in subset}), subset


def test_the_spec_example_policy_in_both() -> None:
    text = spec_example_policy()
    same_quorum(text)
    ours = parse_policy(text)
    assert ours.satisfied({"X1", "X3", "Y2"}) and not ours.satisfied({"X1", "Y1", "Y2", "Y3"})
    same_quorum(ours.to_text())
    assert ref_policy.parse(ours.to_text().encode()).groups == ref_policy.parse(text.encode()).groups


@pytest.mark.parametrize("k", [0, 1, 2, 3, 5])
def test_our_policies_read_the_same_in_the_reference(k: int) -> None:
    log, witnesses = vkeys()
    chosen = list(witnesses.items())[: max(k, 1) if k else 3]
    policy = threshold_policy(NoteVerifier.decode(log), [(name.split(".")[0], NoteVerifier.decode(key, COSIGNATURE_V1_ALG),
                                                          f"https://{name}/") for name, key in chosen], k,
                              "https://log.example.org/")
    same_quorum(policy.to_text())
    ref = ref_policy.parse(policy.to_text().encode())
    assert [v.text() for v in ref.logs] == [log]


def test_the_reference_judges_a_checkpoint_we_cosigned_under_our_policy() -> None:
    log, witnesses = vkeys()
    names = list(witnesses)
    policy = threshold_policy(NoteVerifier.decode(log), [(n, NoteVerifier.decode(witnesses[n], COSIGNATURE_V1_ALG), None)
                                                         for n in names], 3)
    ref = ref_policy.parse(policy.to_text().encode())
    text, note = our_checkpoint_note()
    for count in range(6):
        lines = [Cosigner.from_seed(n, seed_of(n)).cosign(text, NOW) for n in names[:count]]
        cosigned = with_signature_lines(note, lines) if lines else note
        found = policy.names_of([c.witness for c in cosignatures(cosigned, list(policy.witnesses.values()))])
        assert ref_policy.checkpoint_valid(ref, cosigned) == policy.satisfied(found) == (count >= 3)
    unsigned_by_log = Checkpoint(ORIGIN, 12, b"\x07" * 32, ("credshare-time 1790000000",)).text()
    forged = NoteSigner.from_seed(ORIGIN, bytes(32)).sign(unsigned_by_log)
    assert not ref_policy.checkpoint_valid(ref, with_signature_lines(
        forged, [Cosigner.from_seed(n, seed_of(n)).cosign(text, NOW) for n in names]))


VALID_POLICIES = [
    "quorum none\n", "# a comment\n  \t\nquorum none\n", "witness a {w0}\nquorum a\n",
    "witness a {w0}\nwitness b {w1}\ngroup g any a b\nquorum g\n", "log {log} https://log.example/\n\twitness  a {w0} \nquorum a",
]
INVALID_POLICIES = [
    "witness a {w0}\twitness b {w1}\nquorum a\n",  # tabs separate items: 'witness a <key> witness ...' is too long
    "witness a {w0}\nquorum b\n", "witness a {w0}\nwitness a {w1}\nquorum a\n", "witness a {w0}\nwitness b {w0}\nquorum a\n",
    "witness a {w0}\ngroup g 2 a\nquorum g\n", "witness a {w0}\ngroup g 0 a\nquorum g\n",
    "witness a {w0}\ngroup g 01 a\nquorum g\n",
    "witness a {w0}\ngroup g any a a\nquorum g\n", "group g any a\nwitness a {w0}\nquorum g\n", "quorum none\nquorum none\n",
    "witness a {w0}\n", "log {w0}\nquorum none\n", "witness a {log}\nquorum a\n", "quorum none\r\n", "quorum none\x0b\n",
    "witness none {w0}\nquorum none\n", "frobnicate\nquorum none\n",
]


@pytest.mark.parametrize(("text", "valid"), [(t, True) for t in VALID_POLICIES] + [(t, False) for t in INVALID_POLICIES])
def test_both_parsers_agree_on_what_a_policy_is(text: str, valid: bool) -> None:
    log, witnesses = vkeys()
    keys = list(witnesses.values())
    text = text.format(log=log, w0=keys[0], w1=keys[1])
    try:
        ref_policy.parse(text.encode())
        ref_ok = True
    except ref_note.ReferenceError:
        ref_ok = False
    try:
        parse_policy(text)
        ours_ok = True
    except AnchoringError:
        ours_ok = False
    assert ours_ok == ref_ok == valid
    if ours_ok:
        same_quorum(text)


# -- RFC 9162 proofs ----------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def leaves(n: int) -> list[bytes]:
    return [ref_merkle.leaf(f"leaf {i}".encode()) for i in range(n)]


SIZES = list(range(1, 40)) + [63, 64, 65, 255, 256, 257, 511, 1000]


@pytest.mark.parametrize("n", SIZES)
def test_our_merkle_proofs_verify_with_the_reference(n: int) -> None:
    hashes = leaves(n)
    subtree = merkle.memory_subtree(hashes)
    root = merkle.root_of(hashes)
    assert root == ref_merkle.mth(hashes)
    for m in sorted({0, 1, n // 3, n // 2, n - 1} if n > 40 else range(n)):
        proof = merkle.inclusion_proof(m, n, subtree)
        assert ref_merkle.verify_inclusion(hashes[m], m, n, proof, root)
        assert not ref_merkle.verify_inclusion(hashes[m], m, n, proof, b"\x00" * 32)
    for m in sorted({0, 1, n // 3, n // 2, n - 1, n} if n > 40 else range(n + 1)):
        proof = merkle.consistency_proof(m, n, subtree)
        assert ref_merkle.verify_consistency(m, n, ref_merkle.mth(hashes[:m]), root, proof)
        if proof:
            assert not ref_merkle.verify_consistency(m, n, ref_merkle.mth(hashes[:m]), root, proof[:-1])


@pytest.mark.parametrize("n", SIZES)
def test_the_reference_merkle_proofs_verify_with_ours(n: int) -> None:
    hashes = leaves(n)
    root = ref_merkle.mth(hashes)
    rng = random.Random(n)
    for m in sorted({0, n - 1, rng.randrange(n)} if n > 40 else range(n)):
        proof = ref_merkle.path(m, hashes)
        assert merkle.verify_inclusion(hashes[m], m, n, proof, root)
        for i in range(len(proof)):
            bad = list(proof)
            bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
            assert not merkle.verify_inclusion(hashes[m], m, n, bad, root)
        assert not merkle.verify_inclusion(hashes[m], m, n, [*proof, root], root)
        if m + 1 < n:
            assert not merkle.verify_inclusion(hashes[m], m + 1, n, proof, root)
    for m in sorted({1, n - 1, rng.randrange(1, n + 1)} if n > 40 else range(1, n + 1)):
        proof = ref_merkle.proof(m, hashes)
        old = ref_merkle.mth(hashes[:m])
        assert merkle.verify_consistency(m, n, old, root, proof)
        for i in range(len(proof)):
            bad = list(proof)
            bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
            assert not merkle.verify_consistency(m, n, old, root, bad)
        if proof:
            assert not merkle.verify_consistency(m, n, old, root, proof[1:])


def test_the_two_verifiers_agree_on_random_proofs() -> None:
    rng = random.Random(9162)
    for _ in range(300):
        n = rng.randrange(1, 300)
        m = rng.randrange(n)
        hashes = leaves(n)
        proof = ref_merkle.path(m, hashes)
        if rng.random() < 0.5 and proof:
            proof[rng.randrange(len(proof))] = hashes[rng.randrange(n)]
        root = ref_merkle.mth(hashes)
        assert merkle.verify_inclusion(hashes[m], m, n, proof, root) == ref_merkle.verify_inclusion(hashes[m], m, n, proof, root)
        old = rng.randrange(1, n + 1)
        cproof = ref_merkle.proof(old, hashes)
        if rng.random() < 0.5 and cproof:
            cproof[rng.randrange(len(cproof))] = hashes[rng.randrange(n)]
        args = (old, n, ref_merkle.mth(hashes[:old]), root, cproof)
        assert merkle.verify_consistency(*args) == ref_merkle.verify_consistency(*args)


# -- tiles --------------------------------------------------------------------------------------

def entries(n: int) -> list[bytes]:
    return [f"entry {i}".encode() * (1 + i % 4) for i in range(n)]


def our_tiles(n: int) -> dict[str, bytes]:
    data = entries(n)
    hashes = [merkle.leaf_hash(e) for e in data]
    subtree = functools.lru_cache(maxsize=None)(merkle.memory_subtree(hashes))
    served = {tile.path(): tile.hashes(subtree) for tile in tiles_of(n)}
    return served | {b.path(): entry_bundle(data[b.index * 256:b.index * 256 + b.width]) for b in bundles_of(n)}


@pytest.mark.parametrize("n", [1, 255, 256, 257, 1000, 65536, 70_000])
def test_our_tiles_are_the_reference_tiles_and_the_reference_reads_them(n: int) -> None:
    ours = our_tiles(n)
    assert ours == ref_tiles.build(entries(n))
    root = merkle.root_of([merkle.leaf_hash(e) for e in entries(n)])
    reader = ref_tiles.Reader(ours.get, n, root)
    assert reader.entries() == entries(n)
    our_reader = TileReader(ours.get, Checkpoint(ORIGIN, n, root))
    for m in {0, n // 2, n - 1}:
        assert our_reader.inclusion_proof(m) == reader.inclusion_proof(m)
        assert our_reader.consistency_proof(m) == reader.consistency_proof(m)


def test_our_reader_reads_reference_tiles_and_refuses_what_the_reference_corrupts() -> None:
    n = 3000
    served = ref_tiles.build(entries(n))
    root = ref_merkle.mth([ref_merkle.leaf(e) for e in entries(n)])
    reader = TileReader(served.get, Checkpoint(ORIGIN, n, root))
    ref_reader = ref_tiles.Reader(served.get, n, root)
    for m in (0, 1, 255, 256, 1500, 2047, 2048, 2999):
        assert reader.inclusion_proof(m) == ref_reader.inclusion_proof(m)
        assert reader.consistency_proof(m + 1) == ref_reader.consistency_proof(m + 1)
    assert reader.entries(0, n) == entries(n)
    for path in served:
        bad = dict(served)
        bad[path] = bad[path][:-1] + bytes([bad[path][-1] ^ 1])
        fresh = TileReader(bad.get, Checkpoint(ORIGIN, n, root))
        with pytest.raises(AnchoringError) as exc:
            fresh.entries(0, n)  # reads every tile of this tree
        assert exc.value.code == "tile_invalid", path


# -- tlog-proof ---------------------------------------------------------------------------------

def test_our_tlog_proof_verifies_with_the_reference_and_the_reverse() -> None:
    log, witnesses = vkeys()
    names = list(witnesses)
    policy = threshold_policy(NoteVerifier.decode(log), [(n, NoteVerifier.decode(witnesses[n], COSIGNATURE_V1_ALG), None)
                                                         for n in names], 2)
    ref = ref_policy.parse(policy.to_text().encode())
    n, m = 1000, 437
    hashes = leaves(n)
    text = Checkpoint(ORIGIN, n, ref_merkle.mth(hashes)).text()
    note = with_signature_lines(NoteSigner.from_seed(ORIGIN, LOG_SEED).sign(text),
                                [Cosigner.from_seed(w, seed_of(w)).cosign(text, NOW) for w in names[:2]])
    ours = build_tlog_proof(index=m, proof=merkle.inclusion_proof(m, n, merkle.memory_subtree(hashes)), note=note,
                            extra=b"opaque")
    assert ref_tlog_proof.verify(ours, hashes[m], ref)
    assert not ref_tlog_proof.verify(ours, hashes[m + 1], ref)
    assert ref_tlog_proof.parse(ours).extra == b"opaque"
    one_witness = with_signature_lines(NoteSigner.from_seed(ORIGIN, LOG_SEED).sign(text),
                                       [Cosigner.from_seed(names[0], seed_of(names[0])).cosign(text, NOW)])
    short = build_tlog_proof(index=m, proof=ref_merkle.path(m, hashes), note=one_witness)
    assert not ref_tlog_proof.verify(short, hashes[m], ref)
    # the reverse: a proof the reference writes, from a note it signed and cosigned
    ref_note_text = ref_note.sign_note(text, ORIGIN, LOG_SEED) + "".join(
        ref_cosignature.cosign(text, w, seed_of(w), NOW) for w in names[1:4])
    theirs = ref_tlog_proof.write(m, ref_merkle.path(m, hashes), ref_note_text)
    proof = parse_tlog_proof(theirs)
    checkpoint = open_checkpoint(proof.note, policy.log_key(ORIGIN) or NoteVerifier.decode(log), ORIGIN)
    found = policy.names_of([c.witness for c in cosignatures(proof.note, list(policy.witnesses.values()))])
    assert policy.satisfied(found) and proof.includes(hashes[m], checkpoint) and proof.to_text() == theirs
    assert not proof.includes(hashes[m - 1], checkpoint)
    with pytest.raises(AnchoringError):
        parse_tlog_proof(ref_tlog_proof.write(m, ref_merkle.path(m, hashes)[:-1], ref_note_text))


@pytest.mark.parametrize("where", ["text", "extension", "signature"])
def test_a_note_with_a_control_character_is_refused_by_both(where: str) -> None:
    # signed-note: "Signed notes MUST be valid UTF-8 and MUST NOT contain any ASCII control
    # characters (those below U+0020) other than newline."
    signer = NoteSigner.from_seed(ORIGIN, LOG_SEED)
    good = Checkpoint(ORIGIN, 5, b"\x01" * 32, ("credshare-time 1790000000",)).text()
    if where == "signature":
        text, note = good, ref_note.sign_note(good, ORIGIN, LOG_SEED).replace(f"\u2014 {ORIGIN} ", f"\u2014 {ORIGIN}\t ")
    else:
        text = good.replace("credshare-time", "credshare\x01time") if where == "extension" else good.replace("\n5\n", "\n5\x0b\n")
        note = ref_note.sign_note(text, ORIGIN, LOG_SEED)
    with pytest.raises(ref_note.ReferenceError):
        ref_note.parse_note(note)
    with pytest.raises(AnchoringError) as exc:
        verify_note(note, signer.verifier)
    assert exc.value.code == "note_malformed"
    if where != "signature":
        with pytest.raises(AnchoringError):
            signer.sign(text)
        with pytest.raises(AnchoringError):
            Cosigner.from_seed("w.example/w", bytes(32)).cosign(text, NOW)
