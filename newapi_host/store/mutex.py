"""A lock for the processes that map one file, taken without a system call when it is free.

The shared counter table (:mod:`newapi_host.store.mmap`) is locked twice per relayed request (the
hold and the settlement). An ``flock`` costs two system calls per lock; measured in a worker, the
four of them took 15-20 µs of every request, more than the rest of the hold and settlement
together. A POSIX mutex placed in the mapped file itself is taken with one atomic instruction
when nobody else holds it, and only sleeps in the kernel when another worker does.

The mutex is *robust*: a worker killed while holding it does not leave the others waiting
forever; the next one to lock it is told the owner died, takes it over and goes on (the counters
it protects are at worst off by the one operation the dead worker had under way, as they would
be with ``flock``). It is also *error-checking*, so a second lock by the same thread raises
instead of hanging.

It is reached through ``ctypes`` (libc's ``pthread_mutex_*``), so it exists only where libc has
robust process-shared mutexes (Linux with glibc or musl). :func:`available` says whether it does
here; elsewhere the table falls back to ``flock``.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import sys

log = logging.getLogger(__name__)

SIZE = 64  # room for a pthread_mutex_t (40 bytes on x86-64, 48 on arm64)
_PTHREAD_PROCESS_SHARED = 1
_PTHREAD_MUTEX_ERRORCHECK = 2
_PTHREAD_MUTEX_ROBUST = 1


def _load() -> tuple[ctypes.CDLL, ctypes.PyDLL] | None:
    if not sys.platform.startswith("linux") or os.environ.get("NEWAPI_SHARED_LOCK") == "flock":
        return None
    try:
        releasing = ctypes.CDLL(None, use_errno=True)  # calls that may wait let other threads run
        holding = ctypes.PyDLL(None)  # calls that never wait skip releasing the GIL
        for name in ("pthread_mutexattr_setrobust", "pthread_mutex_consistent", "pthread_mutex_trylock"):
            getattr(releasing, name)
    except (OSError, AttributeError):
        return None
    return releasing, holding


_LIBC = _load()


def available() -> bool:
    return _LIBC is not None


def initialize(address: int) -> None:
    """Make a fresh unlocked mutex at ``address`` (inside a shared mapping of the file)."""
    assert _LIBC is not None
    libc = _LIBC[0]
    attributes = ctypes.create_string_buffer(64)  # pthread_mutexattr_t is 4 or 8 bytes
    for call, *args in (
        (libc.pthread_mutexattr_init,),
        (libc.pthread_mutexattr_setpshared, _PTHREAD_PROCESS_SHARED),
        (libc.pthread_mutexattr_settype, _PTHREAD_MUTEX_ERRORCHECK),
        (libc.pthread_mutexattr_setrobust, _PTHREAD_MUTEX_ROBUST),
    ):
        if code := call(attributes, *args):
            raise OSError(code, f"{call.__name__}: {os.strerror(code)}")
    try:
        if code := libc.pthread_mutex_init(ctypes.c_void_p(address), attributes):
            raise OSError(code, f"pthread_mutex_init: {os.strerror(code)}")
    finally:
        libc.pthread_mutexattr_destroy(attributes)


class SharedMutex:
    """The mutex at ``address``; the mapping holding it must outlive this object's use."""

    __slots__ = ("_address", "_trylock", "_lock", "_unlock", "_consistent")

    def __init__(self, address: int) -> None:
        assert _LIBC is not None
        releasing, holding = _LIBC
        self._address = ctypes.c_void_p(address)
        self._trylock = holding.pthread_mutex_trylock
        self._lock = releasing.pthread_mutex_lock
        self._unlock = holding.pthread_mutex_unlock
        self._consistent = holding.pthread_mutex_consistent

    def acquire(self) -> None:
        code = self._trylock(self._address)
        if code == errno.EBUSY:  # another worker has it: wait without holding up this process's threads
            code = self._lock(self._address)
        if code:
            self._taken_over(code)

    def _taken_over(self, code: int) -> None:
        if code != errno.EOWNERDEAD:
            raise OSError(code, f"locking the shared counters failed: {os.strerror(code)}")
        # We hold it now; the worker that died holding it may have left one operation half done.
        self._consistent(self._address)
        log.warning("a worker died holding the shared counters' lock; taken over")

    def release(self) -> None:
        if code := self._unlock(self._address):
            raise OSError(code, f"unlocking the shared counters failed: {os.strerror(code)}")
