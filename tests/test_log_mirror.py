"""credshare/log_mirror.py: a mirror copies a log's checkpoint, tiles and entry bundles as
static files, each checked against the checkpoint's root, fetches a full tile once, refuses a
log it cannot verify, a fork and a rollback (writing nothing), and writes the checkpoint last."""

from __future__ import annotations

from pathlib import Path

import pytest

from credshare.anchoring import merkle
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import NoteVerifier, open_checkpoint
from credshare.anchoring.policy import parse_policy, threshold_policy
from credshare.anchoring.tiles import bundles_of, tiles_of
from credshare.log_mirror import mirror
from credshare.webapp import create_app
from tests.independent import tiles as ref_tiles


def _app(data_dir: Path, db: str):
    return create_app({"MONGODB_URI": f"mongomock://localhost/{db}", "CREDSHARE_DATA_DIR": str(data_dir),
                       "CREDSHARE_LOCAL_WITNESSES": "2", "CREDSHARE_WITNESS_QUORUM": "2"})


class Served:
    """A log app and a fetch over its test client that counts what it is asked."""

    def __init__(self, app) -> None:
        self.app, self.client = app, app.test_client()
        self.log = app.extensions["credshare"].log
        self.asked: list[str] = []
        self.corrupt: set[str] = set()

    def fetch(self, path: str) -> bytes | None:
        self.asked.append(path)
        answer = self.client.get(f"/log/{path}")
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200
        data = answer.get_data()
        return bytes([data[0] ^ 1]) + data[1:] if path in self.corrupt else data

    @property
    def policy(self):
        return parse_policy(self.client.get("/log/trust").get_data())


def _documents(start: int, count: int, tag: str = "jwt") -> list[bytes]:
    return [f"{tag} {i}".encode() for i in range(start, start + count)]


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_a_mirror_is_the_log_as_files_and_a_second_round_fetches_only_what_is_new(tmp_path: Path) -> None:
    served = Served(_app(tmp_path / "log", "m1"))
    served.log.append(_documents(0, 600))
    out = tmp_path / "mirror"
    result = mirror(served.fetch, out, policy=served.policy)
    assert (result.old_size, result.size) == (0, 600) and "development" in result.witnessed
    files = _files(out)
    expected = {t.path() for t in tiles_of(600) + bundles_of(600)} | {"checkpoint"}
    assert set(files) == expected
    for path in expected:
        assert files[path] == served.client.get(f"/log/{path}").get_data(), path
    log_key = NoteVerifier.decode(served.client.get("/log/key").get_data(as_text=True))
    checkpoint = open_checkpoint(files["checkpoint"].decode(), log_key, log_key.name)
    reader = ref_tiles.Reader(lambda p: files.get(p), checkpoint.size, checkpoint.root)  # the files alone
    assert reader.entries() == [merkle.entry_of(d) for d in _documents(0, 600)]

    served.log.append(_documents(600, 10))
    served.asked.clear()
    result = mirror(served.fetch, out, policy=served.policy)
    assert (result.old_size, result.size) == (600, 610)
    assert "tile/0/000" not in served.asked and "tile/0/001" not in served.asked  # full tiles: fetched once
    assert "tile/0/002.p/98" in served.asked
    assert set(_files(out)) == expected | {t.path() for t in tiles_of(610) + bundles_of(610)}


def test_a_fork_and_a_rollback_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    one = Served(_app(tmp_path / "log", "fork-a"))
    other = Served(_app(tmp_path / "log", "fork-b"))  # the same keys, another history
    one.log.append(_documents(0, 20))
    other.log.append(_documents(0, 5) + _documents(5, 25, tag="other"))
    out = tmp_path / "mirror"
    mirror(one.fetch, out, log_key=one.log.signer.verifier)
    before = _files(out)
    with pytest.raises(AnchoringError) as fork:
        mirror(other.fetch, out, log_key=one.log.signer.verifier)
    assert fork.value.code == "log_fork" and _files(out) == before
    small = Served(_app(tmp_path / "log", "fork-c"))
    small.log.append(_documents(0, 10))
    with pytest.raises(AnchoringError) as rollback:
        mirror(small.fetch, out, log_key=one.log.signer.verifier)
    assert rollback.value.code == "log_rollback" and _files(out) == before


def test_a_log_without_a_trusted_key_or_short_of_its_quorum_is_refused(tmp_path: Path) -> None:
    served = Served(_app(tmp_path / "log", "untrusted"))
    served.log.append(_documents(0, 3))
    with pytest.raises(AnchoringError) as untrusted:
        mirror(served.fetch, tmp_path / "m")
    assert untrusted.value.code == "mirror_untrusted"
    stranger = Served(_app(tmp_path / "other", "stranger"))
    with pytest.raises(AnchoringError) as wrong_key:
        mirror(served.fetch, tmp_path / "m", log_key=stranger.log.signer.verifier)
    assert wrong_key.value.code in ("note_signature_invalid", "checkpoint_origin_mismatch")  # another log's key
    other_witness = stranger.log.witness_keys[0]
    strict = threshold_policy(served.log.signer.verifier, [("elsewhere", other_witness, None)], 1, None)
    with pytest.raises(AnchoringError) as quorum:
        mirror(served.fetch, tmp_path / "m", policy=strict)
    assert quorum.value.code == "mirror_witness_quorum"
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("bad", ["tile/0/000", "tile/0/001.p/44", "tile/entries/000", "tile/1/000.p/1"])
def test_a_tile_that_does_not_hash_to_the_root_is_refused_and_no_checkpoint_written(tmp_path: Path, bad: str) -> None:
    served = Served(_app(tmp_path / "log", "corrupt"))
    served.log.append(_documents(0, 300))
    served.corrupt.add(bad)
    out = tmp_path / "mirror"
    with pytest.raises(AnchoringError) as refused:
        mirror(served.fetch, out, policy=served.policy)
    assert refused.value.code == "tile_invalid"
    assert not (out / "checkpoint").exists() and not (out / bad).exists()
