"""A guard that turns any network use by the calling thread into an error.

Adapters build requests and classify errors without I/O: the host owns the network. The suite
calls them inside :func:`no_network`, which makes name lookups and connections *from this
thread only* raise :class:`NetworkUsed`; the gateway and the mock upstream, serving from their
own threads, carry on.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.RLock()


class NetworkUsed(RuntimeError):
    """Raised when guarded code resolves a name or opens a connection."""


def _guarded(what: str, original: Any, thread: int) -> Any:
    def guard(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == thread:
            shown = next((repr(a) for a in args if not isinstance(a, socket.socket)), "")
            raise NetworkUsed(f"{what}({shown})")
        return original(*args, **kwargs)

    return guard


@contextmanager
def no_network() -> Iterator[None]:
    thread = threading.get_ident()
    targets = [
        (socket, "getaddrinfo"),
        (socket, "create_connection"),
        (socket.socket, "connect"),
        (socket.socket, "connect_ex"),
    ]
    with _lock:
        saved = [(owner, name, getattr(owner, name)) for owner, name in targets]
        for owner, name, original in saved:
            setattr(owner, name, _guarded(name, original, thread))
        try:
            yield
        finally:
            for owner, name, original in saved:
                setattr(owner, name, original)
