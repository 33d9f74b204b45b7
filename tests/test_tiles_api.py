"""The log served as C2SP tlog-tiles (sharing/tiles_api.py over storage.tlog.LogReader.tile_data):
every tile and entry bundle equals what anchoring.tiles computes from the same tree in memory,
the independent reference reader accepts them, entries are document digests, and what the log
does not serve is a 404."""

from __future__ import annotations

from pathlib import Path

import pytest

from credshare.anchoring import merkle
from credshare.anchoring.note import NoteVerifier, open_checkpoint
from credshare.anchoring.tiles import ENTRIES, Tile, TileReader, bundles_of, entry_bundle, tiles_of
from credshare.webapp import create_app
from tests.independent import tiles as ref_tiles

BATCHES = (3, 253, 300, 9)  # checkpoints at 3, 256, 556, 565: a full tile, partial tiles, level 1


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("tiles")
    app = create_app({"MONGODB_URI": "mongomock://localhost/tilestest", "CREDSHARE_DATA_DIR": str(tmp),
                      "CREDSHARE_LOCAL_WITNESSES": "1"})
    client = app.test_client()
    log = app.extensions["credshare"].log
    assert log.head()[0] == 0
    documents: list[bytes] = []
    for count in BATCHES:
        batch = [b"issuer-signed jwt %d" % (len(documents) + i) for i in range(count)]
        log.append(batch)
        documents += batch
    return client, documents


def _get(client, path: str) -> bytes | None:
    answer = client.get(f"/log/{path}")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200 and answer.mimetype == "application/octet-stream", (path, answer.status)
    return answer.get_data()


def test_every_tile_and_bundle_is_the_tree_computed_in_memory(served) -> None:
    client, documents = served
    entries = [merkle.entry_of(d) for d in documents]
    subtree = merkle.memory_subtree([merkle.leaf_hash(e) for e in entries])
    size = len(documents)
    assert {t.path() for t in tiles_of(size)} >= {"tile/0/000", "tile/0/002.p/53", "tile/1/000.p/2"}
    for tile in tiles_of(size):
        assert _get(client, tile.path()) == tile.hashes(subtree), tile.path()
    for bundle in bundles_of(size):
        start = bundle.index * 256
        assert _get(client, bundle.path()) == entry_bundle(entries[start:start + bundle.width]), bundle.path()


def test_entries_are_digests_and_never_the_documents(served) -> None:
    client, documents = served
    bundle = _get(client, "tile/entries/000")
    assert bundle is not None and len(bundle) == 256 * 34
    assert documents[0] not in bundle and merkle.entry_of(documents[0]) in bundle


def test_the_independent_reader_and_the_tile_reader_accept_the_served_tree(served) -> None:
    client, documents = served
    log_key = NoteVerifier.decode(client.get("/log/key").get_data(as_text=True))
    note = client.get("/log/checkpoint")
    assert note.headers["Cache-Control"] == "public, max-age=5"
    checkpoint = open_checkpoint(note.get_data(as_text=True), log_key, log_key.name)
    assert checkpoint.size == len(documents)
    reader = ref_tiles.Reader(lambda path: _get(client, path), checkpoint.size, checkpoint.root)
    assert reader.entries() == [merkle.entry_of(d) for d in documents]
    ours = TileReader(lambda path: _get(client, path), checkpoint)
    assert ours.inclusion_proof(300) == reader.inclusion_proof(300)
    assert ours.consistency_proof(256) == reader.consistency_proof(256)


def test_cache_headers_full_tiles_immutable_partial_tiles_short(served) -> None:
    client, _ = served
    assert client.get("/log/tile/0/001").headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/log/tile/entries/001").headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/log/tile/0/002.p/53").headers["Cache-Control"] == "public, max-age=5"


@pytest.mark.parametrize("path", [
    "tile/0/002",            # a full tile that is not full yet
    "tile/entries/002",
    "tile/0/003",            # past the tree
    "tile/1/000",
    "tile/2/000.p/1",        # a level the tree does not reach
    "tile/0/002.p/50",       # a partial width no checkpoint had
    "tile/entries/002.p/54",
    "tile/1/000.p/3",
    "tile/0/2",              # not canonical
    "tile/0/002.p/256",
    "tile/0/x000/002",
    "tile/entries/002.p/053",
    "tile/64/000",
])
def test_what_the_log_does_not_serve_is_404(served, path: str) -> None:
    client, _ = served
    assert client.get(f"/log/{path}").status_code == 404


def test_a_partial_tile_of_an_earlier_checkpoint_is_still_served(served) -> None:
    """tlog-tiles: a log serves the partial tiles of every size it produced a checkpoint for."""
    client, documents = served
    subtree = merkle.memory_subtree([merkle.document_leaf(d) for d in documents])
    for tile in (Tile(0, 2, 44), Tile(1, 0, 1), Tile(0, 0, 3)):
        assert _get(client, tile.path()) == tile.hashes(subtree)
    assert _get(client, Tile(ENTRIES, 2, 44).path()) is not None


def test_a_batch_appended_as_bare_hashes_has_no_entry_bundle(tmp_path: Path) -> None:
    app = create_app({"MONGODB_URI": "mongomock://localhost/bare", "CREDSHARE_DATA_DIR": str(tmp_path),
                      "CREDSHARE_LOCAL_WITNESSES": "1"})
    client = app.test_client()
    log = app.extensions["credshare"].log
    log.append([b"a", b"b"])
    log.append_hashes([merkle.leaf_hash(b"c")])
    assert client.get("/log/tile/entries/000.p/2").status_code == 200
    assert client.get("/log/tile/entries/000.p/3").status_code == 404
    assert client.get("/log/tile/0/000.p/3").status_code == 200


def test_entries_a_crashed_append_left_past_the_head_are_never_served(tmp_path: Path) -> None:
    """Entries are written past the head only and committed by the head move, like the hash
    chunks: what a crashed appender wrote there is overwritten by the next append, and an entry
    that does not hash to its committed leaf is never served."""
    app = create_app({"MONGODB_URI": "mongomock://localhost/crash", "CREDSHARE_DATA_DIR": str(tmp_path),
                      "CREDSHARE_LOCAL_WITNESSES": "1"})
    log = app.extensions["credshare"].log
    log.append([b"a", b"b"])
    log._write_entry_chunks(2, [bytes([9]) * 32] * 300)  # a crashed append: entries, no head move
    assert log.tile_data(Tile(ENTRIES, 0, 2)) == entry_bundle([merkle.entry_of(b"a"), merkle.entry_of(b"b")])
    assert log.tile_data(Tile(ENTRIES, 0, 3)) is None  # past the head
    log.append_hashes([merkle.document_leaf(b"c")])  # bare hashes: the junk entry stays, and is not served
    assert log.tile_data(Tile(ENTRIES, 0, 3)) is None
    log.append([b"d"])
    assert log.tile_data(Tile(ENTRIES, 0, 4)) is None  # the bundle has a hole at 2: never served
    fresh = create_app({"MONGODB_URI": "mongomock://localhost/crash2", "CREDSHARE_DATA_DIR": str(tmp_path / "2"),
                        "CREDSHARE_LOCAL_WITNESSES": "1"}).extensions["credshare"].log
    fresh.append([b"a"])
    fresh._write_entry_chunks(1, [bytes([9]) * 32] * 300)
    fresh.append([b"b", b"c"])
    assert fresh.tile_data(Tile(ENTRIES, 0, 3)) == entry_bundle([merkle.entry_of(d) for d in (b"a", b"b", b"c")])
