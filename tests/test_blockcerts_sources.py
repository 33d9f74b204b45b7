"""Gathering a Blockcerts record's evidence over real HTTP on 127.0.0.1 (federation/
blockcerts_sources.py): issuer profile, revocation list and status list snapshots from a static
site (tests/metadata_server.py in its own process group); anchoring transactions from an
Esplora-shaped site serving the recorded transaction of cert-verifier-js' mainnet fixture, from a
Bitcoin Core-shaped JSON-RPC answer, and from ganache posing as Ethereum Sepolia (chain id
11155111); the endpoint configuration (``CREDSHARE_BLOCKCERTS_ENDPOINTS``); and genuine records
issued by cert-issuer 3.13.1 on that ganache, gathered and verified end to end."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from credshare.blockcerts.evidence import Anchor, Snapshot
from credshare.federation.blockcerts_sources import MAX_SNAPSHOT_BYTES, BlockcertsSources, fetch_snapshot
from credshare.foundation.b64 import b64url_encode
from credshare.foundation.config import load_settings, parse_blockcerts_endpoints
from credshare.foundation.errors import ConfigError, CredshareError
from credshare.verifier.blockcerts import blockcerts_report
from credshare.verifier.trust_list import TrustList
from tests.conftest import ROOT, Ganache, free_port
from tests.helpers import StaticSite, blockcerts_fixtures_script, issue_on_ganache

FIXTURES = ROOT / "tests" / "fixtures" / "blockcerts"
MAINNET = json.loads((ROOT / "tests" / "fixtures" / "blockcerts-chain" / "cvjs-v2-mainnet-valid-2.0.json").read_text())
MAINNET_TXID = MAINNET["signature"]["anchors"][0]["sourceId"]
MAINNET_ROOT = MAINNET["signature"]["merkleRoot"]
# the recorded transaction's sender: a stand-in for the issuer's address (its profile is not copied)
ISSUER_ADDRESS = "1AwdUWQzJgfDDjeKtpPzMfYMHejFBrxZfo"
BLOCK_TIME = 1518049414  # 2018-02-08, about when the fixture was issued
NOW = 1796000000
LOCAL = frozenset({"127.0.0.1"})  # the test sites: allowed by name, as CREDSHARE_FETCH_ALLOW_HOSTS would


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def esplora_tx(*, root: str = MAINNET_ROOT, sender: str = ISSUER_ADDRESS, block_time: int = BLOCK_TIME,
               confirmed: bool = True, txid: str = MAINNET_TXID) -> str:
    """The transaction as Blockstream's Esplora ``GET /tx/<txid>`` shows it: a P2PKH input from
    the issuer, change back to it and the ``OP_RETURN`` of the Merkle root (last output)."""
    p2pkh = "76a914" + "11" * 20 + "88ac"
    status: dict[str, Any] = {"confirmed": False}
    if confirmed:
        status = {"confirmed": True, "block_height": 507950, "block_hash": "00" * 8 + "ab" * 24,
                  "block_time": block_time}
    return json.dumps({
        "txid": txid, "version": 1, "locktime": 0, "size": 235, "weight": 940, "fee": 10000,
        "vin": [{"txid": "cd" * 32, "vout": 1, "is_coinbase": False, "sequence": 4294967295, "scriptsig": "47",
                 "prevout": {"scriptpubkey": p2pkh, "scriptpubkey_type": "p2pkh", "scriptpubkey_address": sender,
                             "value": 200000}}],
        "vout": [{"scriptpubkey": p2pkh, "scriptpubkey_type": "p2pkh", "scriptpubkey_address": sender, "value": 190000},
                 {"scriptpubkey": "6a20" + root, "scriptpubkey_asm": f"OP_RETURN OP_PUSHBYTES_32 {root}",
                  "scriptpubkey_type": "op_return", "value": 0}],
        "status": status})


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StaticSite, StaticSite]]:
    root = tmp_path_factory.mktemp("blockcerts-sites")
    first, second = StaticSite(root / "one"), StaticSite(root / "two")
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.fixture
def site(sites: tuple[StaticSite, StaticSite]) -> StaticSite:
    for s in sites:
        s.routes.write_text("{}")
        s.requests.write_text("")
    return sites[0]


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


# -- configuration --------------------------------------------------------------------------

def test_endpoints_configuration_is_parsed_and_refused_when_wrong(tmp_path: Path) -> None:
    parsed = parse_blockcerts_endpoints(" ethereumSepolia = https://a.example/rpc, https://b.example ;"
                                        "bitcoinMainnet=https://blockstream.info/api,bitcoind+http://u:p@127.0.0.1:8332")
    assert parsed == {"ethereumSepolia": ("https://a.example/rpc", "https://b.example"),
                      "bitcoinMainnet": ("https://blockstream.info/api", "bitcoind+http://u:p@127.0.0.1:8332")}
    settings = load_settings({"CREDSHARE_DATA_DIR": str(tmp_path), "CREDSHARE_SECRET_KEY": "s" * 40,
                              "CREDSHARE_BLOCKCERTS_ENDPOINTS": "ethereumMainnet=https://rpc.example/v3/KEY"})
    assert settings.blockcerts_endpoints == {"ethereumMainnet": ("https://rpc.example/v3/KEY",)}
    assert "KEY" not in repr(settings)
    assert load_settings({"CREDSHARE_DATA_DIR": str(tmp_path), "CREDSHARE_SECRET_KEY": "s" * 40}).blockcerts_endpoints == {}
    for text, words in [("mockchain=https://x.example", "test chain"), ("bitcoinRegtest=https://x.example", "test chain"),
                        ("dogecoin=https://x.example", "unknown chain"), ("ethereumMainnet", "without '='"),
                        ("ethereumMainnet=", "1 to 8"), ("ethereumMainnet=ftp://x.example", r"http\(s\) URL"),
                        ("ethereumMainnet=bitcoind+http://127.0.0.1:8332", "Bitcoin chains only"),
                        ("ethereumMainnet=https://a.example;ethereumMainnet=https://b.example", "named twice"),
                        ("ethereumMainnet=https://a.example,https://a.example", "different URLs"),
                        ("ethereumMainnet=http://rpc.example", "plain http only to this machine"),
                        ("bitcoinMainnet=https://user:key@esplora.example/api", "only bitcoind"),
                        ("ethereumMainnet=https://a.example:99999", "http")]:
        with pytest.raises(ConfigError, match=words):
            parse_blockcerts_endpoints(text)
    with pytest.raises(ConfigError) as refused:
        parse_blockcerts_endpoints("ethereumMainnet=ftp://secret-key@x.example")
    assert "secret-key" not in str(refused.value)


# -- snapshots --------------------------------------------------------------------------------

def test_a_snapshot_is_the_json_object_fetched_and_nothing_else(site: StaticSite) -> None:
    url = site.serve("/issuer.json", json.dumps(load("issuer-profile-v2.json")), media="text/plain")
    with pytest.raises(CredshareError) as private:
        fetch_snapshot(url, NOW)  # a URL a record names, on this machine: not asked unless allowed by name
    assert private.value.code == "remote_address_refused"
    snap = fetch_snapshot(url, NOW, allowed_hosts=LOCAL)
    assert snap == Snapshot(load("issuer-profile-v2.json"), url, NOW)
    for path, body in [("/list.json", "[1, 2]"), ("/dup.json", '{"a": 1, "a": 2}'), ("/html", "<html>oops</html>"),
                       ("/deep.json", "[" * 40 + "]" * 40)]:
        with pytest.raises(CredshareError):
            fetch_snapshot(site.serve(path, body), NOW, allowed_hosts=LOCAL)
    with pytest.raises(CredshareError, match="more than 262144"):
        fetch_snapshot(site.serve("/big.json", json.dumps({"pad": "x" * MAX_SNAPSHOT_BYTES})), NOW, allowed_hosts=LOCAL)
    with pytest.raises(CredshareError, match="answered 404"):
        fetch_snapshot(site.url + "/nothing-here.json", NOW, allowed_hosts=LOCAL)
    with pytest.raises(CredshareError, match="https is required"):
        fetch_snapshot("http://issuer.example/profile.json", NOW)


def v2_record_at(site: StaticSite, *, revocation_in_record: bool = True) -> dict[str, Any]:
    """The v2 mockchain record with its issuer at the site (the hash no longer matches: gathering
    does not judge it)."""
    record = copy.deepcopy(load("v2-residency-completion.json"))
    issuer = record["badge"]["issuer"]
    issuer["id"] = site.url + "/issuer.json"
    if revocation_in_record:
        issuer["revocationList"] = site.url + "/embedded-revocations.json"
    else:
        issuer.pop("revocationList", None)
    return record


def serve_profile(site: StaticSite) -> dict[str, Any]:
    profile = load("issuer-profile-v2.json")
    profile["revocationList"] = site.url + "/revocations.json"
    site.serve("/issuer.json", json.dumps(profile))
    site.serve("/revocations.json", json.dumps(load("revocation-list-v2-revoked.json")))
    return profile


def test_gather_fetches_the_profile_and_the_revocation_list_it_names(site: StaticSite) -> None:
    profile = serve_profile(site)
    record = v2_record_at(site)
    evidence = BlockcertsSources(allowed_hosts=LOCAL).gather(record, now=NOW)
    assert evidence.document == record
    assert evidence.issuer_profile == Snapshot(profile, site.url + "/issuer.json", NOW) and not evidence.profile_problem
    assert evidence.revocation_list == Snapshot(load("revocation-list-v2-revoked.json"), site.url + "/revocations.json",
                                                NOW)
    assert not evidence.revocation_problem and evidence.status_list is None and not evidence.status_problem
    assert site.asked() == ["/issuer.json", "/revocations.json"]  # the profile's list, not the record's
    (mock,) = evidence.lookups
    assert mock.anchor.test and mock.transaction is None and not mock.refuted and "test anchor" in mock.problem


def test_gather_uses_a_given_profile_and_fetches_no_other(site: StaticSite) -> None:
    site.serve("/revocations.json", json.dumps(load("revocation-list-v2.json")))
    given = Snapshot({**load("issuer-profile-v2.json"), "revocationList": site.url + "/revocations.json"},
                     "file:issuer-profile-v2.json", NOW - 60)
    evidence = BlockcertsSources(allowed_hosts=LOCAL).gather(v2_record_at(site), now=NOW, profile=given)
    assert evidence.issuer_profile is given and evidence.revocation_list is not None
    assert site.asked() == ["/revocations.json"]


def test_a_profile_404_is_a_problem_and_the_records_own_revocation_list_is_used(site: StaticSite) -> None:
    site.serve("/embedded-revocations.json", json.dumps(load("revocation-list-v2.json")))
    evidence = BlockcertsSources(allowed_hosts=LOCAL).gather(v2_record_at(site), now=NOW)
    assert evidence.issuer_profile is None
    assert evidence.profile_problem == f"the issuer profile could not be fetched from 127.0.0.1:{site.port}: answered 404"
    assert evidence.revocation_list is not None and evidence.revocation_list.source_url.endswith("/embedded-revocations.json")
    none_named = BlockcertsSources(allowed_hosts=LOCAL).gather(v2_record_at(site, revocation_in_record=False), now=NOW)
    assert none_named.revocation_list is None and none_named.revocation_problem == ""  # names none: no problem


def test_an_oversize_revocation_list_is_a_problem_not_a_snapshot(site: StaticSite) -> None:
    serve_profile(site)
    site.serve("/revocations.json", json.dumps({"type": "RevocationList", "pad": "x" * MAX_SNAPSHOT_BYTES}))
    evidence = BlockcertsSources(allowed_hosts=LOCAL).gather(v2_record_at(site), now=NOW)
    assert evidence.issuer_profile is not None and evidence.revocation_list is None
    assert "the revocation list could not be fetched" in evidence.revocation_problem
    assert "more than 262144" in evidence.revocation_problem


def test_a_v3_status_list_is_fetched_and_a_did_issuer_is_not_resolved(site: StaticSite) -> None:
    record = load("v3-doctor-of-medicine.json")
    record["issuer"] = site.url + "/issuer.json"
    record["credentialStatus"] = {"id": site.url + "/status-list.json#23", "type": "StatusList2021Entry",
                                  "statusPurpose": "revocation", "statusListIndex": "23",
                                  "statusListCredential": site.url + "/status-list.json"}
    site.serve("/issuer.json", json.dumps(load("issuer-profile.json")))
    status_list = {"@context": ["https://www.w3.org/2018/credentials/v1"], "type": ["VerifiableCredential",
                   "StatusList2021Credential"], "credentialSubject": {"type": "StatusList2021", "encodedList": "H4sI"}}
    site.serve("/status-list.json", json.dumps(status_list))
    evidence = BlockcertsSources(allowed_hosts=LOCAL).gather(record, now=NOW, lookups=False)
    assert evidence.status_list == Snapshot(status_list, site.url + "/status-list.json", NOW)
    assert evidence.issuer_profile is not None and evidence.lookups == ()
    record["issuer"] = "did:ion:EiA_Z6LQILbB2zj_eVrqfQ2xDm4HNqeJUw5Kj2Z7bFOOeQ"
    site.requests.write_text("")
    did = BlockcertsSources(allowed_hosts=LOCAL).gather(record, now=NOW, lookups=False)
    assert did.issuer_profile is None and "is a DID" in did.profile_problem
    assert site.asked() == ["/status-list.json"]


def test_a_document_that_is_no_blockcerts_record_is_refused() -> None:
    for doc in ({"hello": "world"}, ["not", "an", "object"]):
        with pytest.raises(CredshareError):
            BlockcertsSources(allowed_hosts=LOCAL).gather(doc, now=NOW)  # type: ignore[arg-type]


# -- Bitcoin: Esplora -----------------------------------------------------------------------------

MAINNET_ANCHOR = Anchor("bitcoinMainnet", MAINNET_TXID, False)


def esplora(*sites: StaticSite) -> BlockcertsSources:
    return BlockcertsSources({"bitcoinMainnet": tuple(s.url + "/api" for s in sites)})


def test_esplora_endpoints_that_agree_give_the_transaction(sites: tuple[StaticSite, StaticSite], site: StaticSite) -> None:
    one, two = sites
    for s in sites:
        s.serve(f"/api/tx/{MAINNET_TXID}", esplora_tx())
    found = esplora(one, two).lookup(MAINNET_ANCHOR, NOW)
    assert not found.problem and not found.refuted and found.transaction is not None
    tx = found.transaction
    assert (tx.chain, tx.txid, tx.data_hex, tx.sender, tx.time) == ("bitcoinMainnet", MAINNET_TXID, MAINNET_ROOT,
                                                                     ISSUER_ADDRESS, BLOCK_TIME)
    assert tx.sources == (one.url + "/\u2026", two.url + "/\u2026")  # scheme and host: a path may hold a key
    assert one.asked() == [f"/api/tx/{MAINNET_TXID}"] == two.asked()
    # one endpoint down: the one that answers is believed, and named alone
    with_dead = BlockcertsSources({"bitcoinMainnet": (one.url + "/api", dead_url())}).lookup(MAINNET_ANCHOR, NOW)
    assert with_dead.transaction is not None and with_dead.transaction.sources == (one.url + "/\u2026",)


@pytest.mark.parametrize("change", [{"root": "00" * 32}, {"sender": "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"},
                                    {"block_time": BLOCK_TIME + 600}, {"confirmed": False}])
def test_esplora_endpoints_that_disagree_give_no_transaction(sites: tuple[StaticSite, StaticSite], site: StaticSite,
                                                             change: dict[str, Any]) -> None:
    one, two = sites
    one.serve(f"/api/tx/{MAINNET_TXID}", esplora_tx())
    two.serve(f"/api/tx/{MAINNET_TXID}", esplora_tx(**change))
    found = esplora(one, two).lookup(MAINNET_ANCHOR, NOW)
    assert found.transaction is None and not found.refuted
    assert found.problem.startswith(f"endpoints disagree on {MAINNET_TXID}: ")


def test_an_unknown_or_unconfirmed_transaction_refutes_the_anchor(sites: tuple[StaticSite, StaticSite],
                                                                  site: StaticSite) -> None:
    one, two = sites
    unknown = esplora(one, two).lookup(MAINNET_ANCHOR, NOW)  # both answer 404
    assert unknown.refuted and unknown.transaction is None
    assert unknown.problem == f"transaction {MAINNET_TXID} is not on the chain (said by {one.url}/\u2026, {two.url}/\u2026)"
    one.serve(f"/api/tx/{MAINNET_TXID}", esplora_tx(confirmed=False))
    pending = esplora(one).lookup(MAINNET_ANCHOR, NOW)
    assert pending.refuted and "unconfirmed" in pending.problem


def test_oversize_and_malformed_answers_are_not_answers(sites: tuple[StaticSite, StaticSite], site: StaticSite) -> None:
    one, two = sites
    one.serve(f"/api/tx/{MAINNET_TXID}", esplora_tx()[:-1] + ', "pad": "' + "x" * 300_000 + '"}')
    two.serve(f"/api/tx/{MAINNET_TXID}", esplora_tx(txid="ef" * 32))
    found = esplora(one, two).lookup(MAINNET_ANCHOR, NOW)
    assert found.transaction is None and not found.refuted
    assert found.problem.startswith("no endpoint for bitcoinMainnet could be asked: ")
    assert "more than 262144" in found.problem and "another transaction" in found.problem
    one.serve(f"/api/tx/{MAINNET_TXID}", esplora_tx(block_time=NOW + 86400))
    assert "in the future" in esplora(one).lookup(MAINNET_ANCHOR, NOW).problem


def test_without_endpoint_or_for_a_test_anchor_nothing_is_asked(site: StaticSite) -> None:
    sources = esplora(site)
    assert sources.lookup(Anchor("bitcoinTestnet", MAINNET_TXID, False), NOW).problem == \
        "no endpoint configured for bitcoinTestnet"
    mock = sources.lookup(Anchor("mockchain", "This has not been issued on a blockchain and is for testing only",
                                 True), NOW)
    regtest = sources.lookup(Anchor("bitcoinRegtest", MAINNET_TXID, True), NOW)
    assert mock.transaction is None is regtest.transaction and not mock.refuted and "test anchor" in regtest.problem
    bad = sources.lookup(Anchor("bitcoinMainnet", "../../admin", False), NOW)
    assert bad.refuted and "not a transaction id" in bad.problem
    assert site.asked() == []


# -- Bitcoin Core JSON-RPC ----------------------------------------------------------------------

def test_bitcoin_core_getrawtransaction_verbosity_2(site: StaticSite) -> None:
    tx = {"txid": MAINNET_TXID, "confirmations": 6, "blocktime": BLOCK_TIME, "time": BLOCK_TIME,
          "vin": [{"txid": "cd" * 32, "vout": 1, "prevout": {"value": 0.002, "scriptPubKey": {
              "hex": "76a914" + "11" * 20 + "88ac", "type": "pubkeyhash", "address": ISSUER_ADDRESS}}}],
          "vout": [{"value": 0.0019, "n": 0, "scriptPubKey": {"hex": "76a914" + "11" * 20 + "88ac",
                                                              "address": ISSUER_ADDRESS}},
                   {"value": 0, "n": 1, "scriptPubKey": {"hex": "6a20" + MAINNET_ROOT, "type": "nulldata"}}]}
    site.serve("/node/", json.dumps({"result": tx, "error": None, "id": 1}))
    url = f"bitcoind+http://rpcuser:rpc%20pass@127.0.0.1:{site.port}/node/"
    found = BlockcertsSources({"bitcoinMainnet": (url,)}).lookup(MAINNET_ANCHOR, NOW)
    assert found.transaction is not None and found.transaction.data_hex == MAINNET_ROOT
    assert found.transaction.sender == ISSUER_ADDRESS and found.transaction.time == BLOCK_TIME
    assert found.transaction.sources == (f"http://127.0.0.1:{site.port}/\u2026",)
    old_node = copy.deepcopy(tx)
    del old_node["vin"][0]["prevout"]  # verbosity 1 (Bitcoin Core before 25): an output is no sender
    site.serve("/node/", json.dumps({"result": old_node, "error": None, "id": 1}))
    refused = BlockcertsSources({"bitcoinMainnet": (url,)}).lookup(MAINNET_ANCHOR, NOW)
    assert refused.transaction is None and "Bitcoin Core 25" in refused.problem and "rpc pass" not in refused.problem
    site.serve("/node/", json.dumps({"result": None, "id": 1, "error": {
        "code": -5, "message": "No such mempool or blockchain transaction"}}))
    unknown = BlockcertsSources({"bitcoinMainnet": (url,)}).lookup(MAINNET_ANCHOR, NOW)
    assert unknown.refuted and "is not on the chain" in unknown.problem


# -- Ethereum JSON-RPC on ganache ------------------------------------------------------------------

def send_data_tx(node: Ganache, data: bytes) -> str:
    """A zero-value transaction from the node's first account to the burn address carrying
    ``data`` (what cert-issuer sends), signed here; its hash once mined."""
    from eth_account import Account
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(node.url))
    tx = {"chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(node.address, "pending"),
          "to": Web3.to_checksum_address("0xdeaddeaddeaddeaddeaddeaddeaddeaddeaddead"), "value": 0, "data": data,
          "gas": 30000, "gasPrice": w3.eth.gas_price}
    signed = Account.sign_transaction(tx, node.private_key)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    return "0x" + bytes(tx_hash).hex()


@pytest.mark.slow  # ganache
def test_ethereum_lookup_on_ganache_as_sepolia(ganache_sepolia: Ganache, site: StaticSite) -> None:
    from web3 import Web3

    root = bytes.fromhex(MAINNET_ROOT)
    txid = send_data_tx(ganache_sepolia, root)
    sources = BlockcertsSources({"ethereumSepolia": (ganache_sepolia.url, ganache_sepolia.url + "/")})
    now = int(time.time())
    found = sources.lookup(Anchor("ethereumSepolia", txid, False), now)
    assert found.transaction is not None and not found.problem, found
    block = Web3(Web3.HTTPProvider(ganache_sepolia.url)).eth.get_block("latest")
    assert found.transaction.data_hex == MAINNET_ROOT
    assert found.transaction.sender == ganache_sepolia.address.lower()
    assert found.transaction.time == block["timestamp"] and abs(found.transaction.time - now) < 120
    assert found.transaction.sources == (ganache_sepolia.url, ganache_sepolia.url)
    unknown = sources.lookup(Anchor("ethereumSepolia", "0x" + "ab" * 32, False), now)
    assert unknown.refuted and unknown.problem.startswith("transaction 0xabab")
    # an endpoint on another chain than the anchor's is not asked about it
    mainnet = BlockcertsSources({"ethereumMainnet": (ganache_sepolia.url,)}).lookup(Anchor("ethereumMainnet", txid,
                                                                                           False), now)
    assert mainnet.transaction is None and not mainnet.refuted and "chain id 11155111, not ethereumMainnet" in mainnet.problem
    # a JSON-RPC endpoint that answers something else entirely disagrees with none: it is no answer
    site.serve("/rpc", json.dumps({"jsonrpc": "2.0", "id": 1, "result": "0xaa36a7"}))
    mixed = BlockcertsSources({"ethereumSepolia": (ganache_sepolia.url, site.url + "/rpc")}).lookup(
        Anchor("ethereumSepolia", txid, False), now)
    assert mixed.transaction is not None and mixed.transaction.sources == (ganache_sepolia.url,)
    assert sources.lookup(Anchor("ethereumSepolia", txid.upper().replace("0X", "0x"), False), now).transaction == \
        found.transaction


@pytest.mark.slow  # ganache
def test_an_ethereum_transaction_not_yet_mined_refutes_the_anchor(ganache_sepolia: Ganache) -> None:
    from eth_account import Account
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(ganache_sepolia.url))
    w3.provider.make_request("miner_stop", [])  # type: ignore[arg-type]
    try:
        tx = {"chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(ganache_sepolia.address, "pending"),
              "to": ganache_sepolia.address, "value": 0, "data": b"\x01" * 32, "gas": 30000, "gasPrice": w3.eth.gas_price}
        txid = "0x" + bytes(w3.eth.send_raw_transaction(Account.sign_transaction(tx, ganache_sepolia.private_key)
                                                        .raw_transaction)).hex()
        pending = BlockcertsSources({"ethereumSepolia": (ganache_sepolia.url,)}).lookup(
            Anchor("ethereumSepolia", txid, False), int(time.time()))
        assert pending.refuted and "unconfirmed" in pending.problem
    finally:
        w3.provider.make_request("miner_start", [])  # type: ignore[arg-type]


# -- genuine records anchored on a (local) chain by cert-issuer ----------------------------------------

@pytest.mark.slow  # cert-issuer (its venv is made on first use: about a minute of pip) and ganache
def test_records_cert_issuer_anchors_on_ganache_verify_with_the_lookup(ganache_sepolia: Ganache, site: StaticSite,
                                                                         tmp_path: Path) -> None:
    from eth_account import Account

    fixtures = blockcerts_fixtures_script()
    profile_url, revocations_url = site.url + "/issuer.json", site.url + "/revocation-list.json"
    method = profile_url + "#key-1"
    public = Account.from_key(ganache_sepolia.private_key)._key_obj.public_key.to_bytes()  # x || y
    profile = fixtures.v3_profile({"address": ganache_sepolia.address, "x": b64url_encode(public[:32]),
                                   "y": b64url_encode(public[32:])}, revoked=False)
    profile.update(id=profile_url, revocationList=revocations_url, assertionMethod=[method])
    profile["verificationMethod"][0].update(id=method, controller=profile_url)
    site.serve("/issuer.json", json.dumps(profile))
    site.serve("/revocation-list.json", json.dumps(fixtures.revocation_list(revocations_url, profile_url, [])))
    unsigned = {name: {**doc, "issuer": profile_url} for name, doc in fixtures.unsigned_v3().items()
                if not name.startswith("v3-acls")}
    issued, took = issue_on_ganache(ganache_sepolia.url, ganache_sepolia.private_key, ganache_sepolia.address,
                                    unsigned, verification_method=method, workdir=tmp_path / "cert-issuer")
    print(f"cert-issuer issued {len(issued)} records on ganache in {took:.1f} s")
    assert len(issued) == 2
    trusted = TrustList.from_text(f'format = "credshare-trust-list/v1"\n[[issuer]]\nid = "{profile_url}"\n'
                                  'name = "Northfield School of Medicine"\nkeys = "blockcerts"\n')
    sources = BlockcertsSources({"ethereumSepolia": (ganache_sepolia.url,)}, allowed_hosts=LOCAL)
    now = int(time.time())
    for name, record in issued.items():
        (anchor,) = [lk.anchor for lk in sources.gather(record, now=now, lookups=True).lookups]
        assert anchor.chain == "ethereumSepolia" and not anchor.test and anchor.txid.startswith("0x"), name
        evidence = sources.gather(record, now=now)
        (lookup,) = evidence.lookups
        assert lookup.transaction is not None and lookup.transaction.sender == ganache_sepolia.address.lower()
        report = blockcerts_report(evidence, trusted, now=now)
        assert {c.name: c.status for c in report.checks if c.status != "passed"} == {}, report.to_json()["checks"]
        assert report.outcome == "verified" and report.anchored_at == lookup.transaction.time
    record = next(iter(issued.values()))
    # the same record: without an endpoint the anchor is unchecked; tampered, the hash fails
    unchecked = blockcerts_report(BlockcertsSources(allowed_hosts=LOCAL).gather(record, now=now), trusted, now=now)
    assert unchecked.outcome == "incomplete"
    assert {c.name: c.status for c in unchecked.checks if c.status != "passed"} == {
        "blockchain_anchor": "unchecked", "issuer_key_valid": "unchecked"}
    tampered = copy.deepcopy(record)
    tampered["credentialSubject"]["name"] = "Dr. Someone Else"
    failed = blockcerts_report(sources.gather(tampered, now=now), trusted, now=now)
    assert failed.outcome == "not_verified" and any(c.name == "document_hash" and c.status == "failed"
                                                    for c in failed.checks)
    # the issuer revokes the key before the anchor time: the lookup's block time makes it fail
    profile["publicKey"][0]["revoked"] = "2026-01-01T00:00:00+00:00"
    site.serve("/issuer.json", json.dumps(profile))
    revoked = blockcerts_report(sources.gather(record, now=now), trusted, now=now)
    assert revoked.outcome == "not_verified"
    assert [(c.name, c.code) for c in revoked.checks if c.status == "failed"] == [("issuer_key_valid",
                                                                                    "blockcerts_key_revoked")]


def test_the_hosts_a_record_may_name_although_local_are_the_operators_by_name(tmp_path: Path) -> None:
    base = {"CREDSHARE_DATA_DIR": str(tmp_path), "CREDSHARE_SECRET_KEY": "s" * 40}
    assert load_settings(base).fetch_allow_hosts == frozenset()
    assert load_settings({**base, "CREDSHARE_FETCH_ALLOW_HOSTS": "127.0.0.1, Issuer.Internal"}).fetch_allow_hosts == \
        frozenset({"127.0.0.1", "issuer.internal"})
    with pytest.raises(ConfigError):
        load_settings({**base, "CREDSHARE_FETCH_ALLOW_HOSTS": "http://127.0.0.1/"})


def test_what_was_fetched_or_looked_up_is_kept_for_max_age_and_a_failure_briefly() -> None:
    """A wallet page of many records, or an issuer that is down, costs one fetch per document
    and minute, not one per record and view; a kept snapshot still says when it was fetched."""
    from credshare.foundation.http_client import Answer, RemoteError

    record = json.loads((FIXTURES / "v2-residency-completion.json").read_text())
    profile_url = record["badge"]["issuer"]["id"]
    asked: list[str] = []
    down = {"now": False}

    def fetch(url: str, **_: Any) -> Answer:
        asked.append(url)
        if down["now"]:
            raise RemoteError(f"{url}: timed out")
        name = "issuer-profile-v2.json" if url == profile_url else "revocation-list-v2.json"
        return Answer(200, "application/json", (FIXTURES / name).read_bytes())

    sources = BlockcertsSources(fetch=fetch, max_age=300)
    first = sources.gather(record, now=NOW, lookups=False)
    assert len(asked) == 2 and first.issuer_profile is not None and first.issuer_profile.fetched_at == NOW
    again = sources.gather(record, now=NOW + 299, lookups=False)
    assert len(asked) == 2 and again.issuer_profile == first.issuer_profile  # kept, dated as fetched
    down["now"] = True
    later = sources.gather(record, now=NOW + 300, lookups=False)
    assert len(asked) == 4 and later.issuer_profile is None and "timed out" in later.profile_problem
    sources.gather(record, now=NOW + 359, lookups=False)
    assert len(asked) == 4  # the failure kept for a minute
    down["now"] = False
    assert sources.gather(record, now=NOW + 360, lookups=False).issuer_profile is not None and len(asked) == 6
    uncached = BlockcertsSources(fetch=fetch)  # max_age 0: every gathering fetches
    uncached.gather(record, now=NOW, lookups=False)
    uncached.gather(record, now=NOW, lookups=False)
    assert len(asked) == 10
