"""holding/deliveries.py: the notification outbox. E-mails land in ``<data dir>/outbox`` once
per event; a webhook is POSTed as application/jose to a server on 127.0.0.1; one answering 500
is retried with growing delays (the clock is moved) and ends failed, with its last error."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import pytest

from credshare.foundation.clock import ManualClock
from credshare.foundation.http_client import RemoteError
from credshare.foundation.sealing import Sealer
from credshare.holding.deliveries import Deliveries, DeliveryThread
from credshare.storage import open_store
from credshare.storage.mail import Outbox
from tests.helpers import WebhookReceiver

SEALER = Sealer.for_purpose("test-secret", "notify-deliveries")


@pytest.fixture
def outbox(tmp_path: Path, clock: ManualClock) -> Iterator[tuple[Deliveries, Path]]:
    store = open_store(None, tmp_path / "data")
    directory = tmp_path / "data" / "outbox"
    yield Deliveries(store, Outbox(directory, "credshare@example.org"), SEALER, clock=clock,
                     allowed_hosts=frozenset({"127.0.0.1"})), directory  # the test webhooks: on this machine
    store.close()


@pytest.fixture
def hook_500() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(500, "/hook?secret=s3cr3t")
    yield hook
    hook.close()


@pytest.fixture
def hook_ok() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(204, "/hook?secret=s3cr3t")
    yield hook
    hook.close()


def test_an_email_is_sent_once_per_event(outbox: tuple[Deliveries, Path]) -> None:
    deliveries, directory = outbox
    assert deliveries.mail("link-opened:abc", "dr@example.org", "Your link was opened", "It was opened.")
    assert not deliveries.mail("link-opened:abc", "dr@example.org", "Your link was opened", "It was opened.")
    assert not directory.exists()  # queued, not sent yet
    tried = deliveries.run_once()
    assert [(t.delivery_id, t.result) for t in tried] == [("link-opened:abc", "delivered")]
    mails = list(directory.glob("*.eml"))
    assert len(mails) == 1 and b"Subject: Your link was opened" in mails[0].read_bytes()
    assert deliveries.run_once() == [] and len(list(directory.glob("*.eml"))) == 1
    assert deliveries.get("link-opened:abc")["state"] == "delivered"
    assert "dr@example.org" not in str(deliveries._deliveries.find())  # sealed while queued, dropped once sent


def test_a_webhook_is_posted_as_jose(outbox: tuple[Deliveries, Path], hook_ok: WebhookReceiver) -> None:
    deliveries, _ = outbox
    assert deliveries.webhook("status:1", hook_ok.url, "aaa.bbb.ccc")
    assert [t.result for t in deliveries.run_once()] == ["delivered"]
    assert hook_ok.received == [("application/jose", b"aaa.bbb.ccc")]


def test_a_webhook_to_this_machine_is_never_posted_unless_the_operator_allows_it(
        tmp_path: Path, clock: ManualClock, hook_ok: WebhookReceiver) -> None:
    store = open_store(None, tmp_path / "strict")
    try:
        strict = Deliveries(store, Outbox(tmp_path / "out", "x@example.org"), SEALER, clock=clock)
        assert strict.webhook("status:local", hook_ok.url, "aaa.bbb.ccc")
        (tried,) = strict.run_once()
        assert tried.error == "remote_address_refused" and hook_ok.received == []
        assert "private or local address" in strict.get("status:local")["last_error"]["detail"]
    finally:
        store.close()


def test_a_failing_webhook_backs_off_and_ends_failed(outbox: tuple[Deliveries, Path], hook_500: WebhookReceiver,
                                                     clock: ManualClock) -> None:
    deliveries, _ = outbox
    deliveries.webhook("status:2", hook_500.url, "aaa.bbb.ccc")
    waits = []
    for _ in range(6):
        tried = deliveries.run_once()
        assert len(tried) == 1 and tried[0].error == "webhook_refused"
        if tried[0].result == "failed":
            break
        assert tried[0].next_try is not None
        waits.append(tried[0].next_try - clock.now())
        clock.advance(waits[-1] - 1)
        assert deliveries.run_once() == []  # not due yet
        clock.advance(1)
    assert waits == [30.0, 60.0, 120.0, 240.0, 480.0]
    assert len(hook_500.received) == 6
    state = deliveries.get("status:2")
    assert state["state"] == "failed" and state["attempts"] == 6
    assert state["last_error"]["code"] == "webhook_refused" and "500" in state["last_error"]["detail"]
    assert "s3cr3t" not in str(state)
    stored = deliveries._deliveries.find_one({"_id": "status:2"})
    assert "sealed" not in stored and "s3cr3t" not in str(stored)  # final: what was to be sent is gone
    clock.advance(3600)
    assert deliveries.run_once() == []  # failed for good


def test_plain_http_only_to_this_machine(outbox: tuple[Deliveries, Path]) -> None:
    deliveries, _ = outbox
    with pytest.raises(RemoteError):
        deliveries.webhook("status:3", "http://example.org/hook", "a.b.c")


def test_one_process_takes_a_delivery(tmp_path: Path, clock: ManualClock, hook_ok: WebhookReceiver) -> None:
    stores = [open_store(None, tmp_path / "data") for _ in range(2)]
    try:
        a, b = (Deliveries(s, Outbox(tmp_path / "out", "x@example.org"), SEALER, clock=clock,
                           allowed_hosts=frozenset({"127.0.0.1"})) for s in stores)
        a.webhook("status:4", hook_ok.url, "a.b.c")
        assert b._take("status:4", clock.now()) is not None
        assert a.run_once() == []  # leased by the other
        clock.advance(121)
        assert [t.result for t in a.run_once()] == ["delivered"]
    finally:
        for s in stores:
            s.close()


def test_the_thread_runs_and_stops() -> None:
    ran = threading.Event()
    thread = DeliveryThread(ran.set, interval=0.01).start()
    assert ran.wait(5)
    thread.stop()
    assert not thread.alive
