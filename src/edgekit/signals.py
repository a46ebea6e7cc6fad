"""SIGTERM handled like SIGINT: raised as an exception in the main thread, so every ``finally``
runs (temp files removed, runner processes stopped, device folders removed) and the CLI exits
143 with one line instead of dying mid-write with a .part file left behind."""
from __future__ import annotations

import signal
import threading


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM. A KeyboardInterrupt, so code that cleans up on Ctrl-C does here too."""


_seen = threading.Event()


def _on_sigterm(signum, frame) -> None:
    if _seen.is_set():  # a second SIGTERM while cleaning up: let the clean-up finish
        return
    _seen.set()
    raise Terminated()


def terminated() -> bool:
    """SIGTERM was received (the CLI then ends with 143 whatever the command raised)."""
    return _seen.is_set()


def quiet_exit() -> None:
    """The command is over and its output written: a signal arriving while the interpreter shuts
    down (runtimes' atexit hooks take a moment) would only turn a clean exit into a killed one."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def install() -> None:
    """From the main thread of the CLI (signal handlers can only be set there)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
