"""Signal handling: the handlers take no lock (a second SIGTERM arriving while the first one's
handler held the stop event's lock hung `rae run` for good), and the main thread's wait acts on
what they recorded."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from rae.engine import Engine, RunArgs
from rae.signals import SignalInbox

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)


@pytest.fixture
def engine() -> Iterator[Engine]:
    saved = {s: signal.getsignal(s) for s in SIGNALS}
    eng = Engine(RunArgs(), registry=CollectorRegistry())
    try:
        eng.install_signals()
        yield eng
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def test_handlers_complete_while_the_engine_locks_are_held(engine: Engine) -> None:
    # what the main thread may hold when a signal interrupts it: the stop event's lock (inside
    # Event.wait or Event.set, or inside another handler) and the reload event's
    for sig in SIGNALS:
        handler = signal.getsignal(sig)
        assert callable(handler)
        with engine._stop._cond, engine._reload_wanted._cond:
            t = threading.Thread(target=handler, args=(sig, None), daemon=True)
            t.start()
            t.join(2)
            assert not t.is_alive(), f"the {signal.Signals(sig).name} handler waits for a lock"
    assert engine._signals.take() == list(SIGNALS)
    assert not engine._stop.is_set()  # nothing acted yet: that is wait's work


def test_wait_acts_on_the_signals(engine: Engine) -> None:
    os.kill(os.getpid(), signal.SIGHUP)
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGTERM)  # a second one, as `timeout` sends to its child's group
    engine.wait()  # returns: the stop was requested
    assert engine._stop.is_set() and engine._reload_wanted.is_set()


def test_inbox_returns_signals_once_in_order() -> None:
    saved = signal.getsignal(signal.SIGUSR2)
    inbox = SignalInbox()
    try:
        inbox.install((signal.SIGUSR2,))
        os.kill(os.getpid(), signal.SIGUSR2)
        assert inbox.take() == [signal.SIGUSR2]
        assert inbox.take() == []
    finally:
        signal.signal(signal.SIGUSR2, saved)
