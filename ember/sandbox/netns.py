"""A listening socket inside another process's network namespace, made by the host.

The Runtime API must be a plain TCP `127.0.0.1:9001` inside an environment that has no
network. As root, a host thread joins the environment's network namespace with
setns(2), binds there and returns the socket: the host serves it with no relay.
setns affects only the calling thread, so a short-lived thread does it.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
#: Linux's IP_FREEBIND: bind even if the namespace's `lo` is not up yet (bwrap races us)
IP_FREEBIND = 15
RUNTIME_API_PORT = 9001
#: where an environment with a network of its own reaches Ember's AWS APIs (LocalStack's port, which
#: tools already know): a second listener the host serves, like the Runtime API's
AWS_API_PORT = 4566

#: ioctl on a namespace's fd: a new fd of the user namespace that owns it
NS_GET_USERNS = 0xB701

_libc = ctypes.CDLL(None, use_errno=True)


def owning_user_namespace(pid: int) -> int:
    """An fd of the user namespace that owns `pid`'s network namespace (the caller closes it).

    Not necessarily `pid`'s own: bwrap's --disable-userns runs the sandbox in a second user
    namespace nested in the one that owns its other namespaces, and only the outer one can act
    in its network."""
    namespace = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return fcntl.ioctl(namespace, NS_GET_USERNS)
    finally:
        os.close(namespace)


def _join_network_namespace(pid: int) -> None:
    """Move the calling thread (and it alone) into `pid`'s network namespace."""
    namespace = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(namespace, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns into the network namespace of {pid}: {os.strerror(error)}")
    finally:
        os.close(namespace)


async def listeners_in_namespace_of(pid: int, *ports: int) -> list[socket.socket]:
    """Listening TCP sockets on 127.0.0.1:`port` in `pid`'s network namespace, one per port (the
    Runtime API's, AWS_API_PORT for Ember's AWS APIs), made by one thread that joined it."""

    def make() -> list[socket.socket]:
        made: list[socket.socket] = []
        try:
            for port in ports:
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                made.append(listener)
                listener.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(("127.0.0.1", port))
                listener.listen(16)
                listener.setblocking(False)
        except BaseException:
            for listener in made:
                listener.close()
            raise
        return made

    return await run_in_namespace_of(pid, make)


async def run_in_namespace_of(pid: int, work: Callable[[], T]) -> T:
    """`work()`, run in a thread of its own that has joined `pid`'s network namespace (as root),
    so whatever sockets it opens (netlink included) belong to that namespace. The thread ends
    with the work: its namespace switch dies with it, and the event loop does not wait."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def deliver(outcome: T | BaseException) -> None:
        if done.cancelled():
            return
        if isinstance(outcome, BaseException):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)

    def run() -> None:
        outcome: T | BaseException
        try:
            _join_network_namespace(pid)
            outcome = work()
        except BaseException as exc:  # handed to the awaiting task
            outcome = exc
        loop.call_soon_threadsafe(deliver, outcome)

    threading.Thread(target=run, name="ember-netns").start()
    return await done
