"""SIGTERM (what `timeout`, a cancelled CI job and batch schedulers send) stops a session the way Ctrl-C does,
so that what was timed is written, with the `interrupted` record, instead of lost with the process."""

from __future__ import annotations

import signal
import threading

import pytest

from diffbench.pytest_plugin import compat, scheduling


def stop_on_terminate(config: pytest.Config, session: pytest.Session | None = None) -> None:
    """SIGTERM (what `timeout`, a cancelled CI job and batch schedulers send) stops the session the way Ctrl-C
    does, so the scenarios already timed are written, with the `interrupted` record, instead of lost with the
    process (a GPU session killed at its time limit once left an empty results file). Left alone where the
    process already handles SIGTERM, or off the main thread, where Python cannot set handlers.

    The xdist controller (installed when xdist asks for the scheduler: it builds no model) runs no scenario: it
    keeps collecting instead (`_drain_workers`), so the workers' results still come back and are merged.

    Given the pytest `session`, the handler also marks it stopped (`_stop_session`)."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return
    drain = scheduling.is_controller(config) and compat.guard(
        config, "pytest-xdist", "collecting the workers' results after a SIGTERM (DSession.shouldstop)",
        "a SIGTERM stops the controller at once and the workers' results are not merged")
    signal.signal(signal.SIGTERM, _drain_workers(config) if drain else _stop_session(session))


def _interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt(_stopped_by(signum))


def _mark_stopped(session, signum: int) -> None:
    """Sets `shouldstop` (a pytest Session's or xdist's DSession's: the stop --maxfail uses), keeping an earlier
    reason."""
    session.shouldstop = session.shouldstop or _stopped_by(signum)


def _stopped_by(signum: int) -> str:
    return f"stopped by signal {signal.Signals(signum).name}"


def _stop_session(session: pytest.Session | None):
    """SIGTERM raises KeyboardInterrupt and marks the session stopped (`shouldstop`, as --maxfail does). The mark
    is what survives where the KeyboardInterrupt is lost: raised inside a finalizer (`__del__`, a weakref
    callback), which Python only reports, it would leave the session running scenarios until `timeout` kills it
    with nothing written. Under xdist the mark also makes a worker that ends with a test pending report a stop,
    not a crash (the controller's `assert not crashitem`, pytest-xdist#1239)."""

    def handler(signum: int, frame) -> None:
        if session is not None:
            _mark_stopped(session, signum)
        _interrupt(signum, frame)

    return handler


def _drain_workers(config: pytest.Config):
    """The controller's SIGTERM handler. Where the signal reached the workers too (`timeout` and Ctrl-C signal the
    process group) each stops as Ctrl-C stops it and sends back what it timed; where it reached the controller
    alone, xdist's own stop (`shouldstop`, as for --maxfail) lets each worker finish its scenario, then shuts it
    down. Either way the controller goes on receiving, then merges (exit status 2, interrupted). A second
    SIGTERM stops the controller at once."""
    signals = []

    def handler(signum: int, frame) -> None:
        signals.append(signum)
        dsession = config.pluginmanager.getplugin("dsession")
        if dsession is None or len(signals) > 1:
            _interrupt(signum, frame)
        _mark_stopped(dsession, signum)

    return handler
