"""Work done in a child process that is killed at a deadline.

A thread cannot be stopped, and a network library's own timeouts restart with every byte: a
service answering one byte a second keeps a call alive for as long as it likes. Work that
talks to such a service (publishing, notifications) runs in a forked child instead, which
sends its results back through a pipe and is killed when the deadline passes. The child
bounds its own memory (an endless answer is a MemoryError, not the machine's memory) and
ends itself when its parent is gone or the deadline has passed (a parent killed with
SIGKILL cannot kill it).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable

from user_failure_stats.errors import ConfigError

# Open files a run needs: the kernel's sockets, the database's, publishing's and notifying's
# children (a run took about 100).
OPEN_FILES_NEEDED = 256
# How long to wait for a killed child to be gone (one stuck in the kernel is left behind).
REAP_SECONDS = 5.0
# How often the child looks whether its parent is still there.
WATCH_SECONDS = 0.5


def gather(
    work: Callable[..., None], args: tuple, *, expected: int, timeout: float
) -> tuple[list, bool]:
    """Run ``work(send, *args)`` in a forked child; return what it sent, and whether in time.

    The child calls ``send(item)`` for each result (items are pickled). Items are collected
    until ``expected`` have come, the child has ended, or ``timeout`` seconds have passed;
    then the child is killed. Returns ``(items, timed_out)``: ``timed_out`` is True only when
    the deadline passed with fewer than ``expected`` items and the child still at work.
    """
    context = multiprocessing.get_context("fork")  # the child has the libraries loaded
    reader, writer = context.Pipe(duplex=False)
    deadline = time.monotonic() + timeout
    child = context.Process(target=_child, args=(work, writer.send, args, deadline), daemon=True)
    items: list = []
    timed_out = False
    child.start()
    writer.close()
    try:
        while len(items) < expected:
            left = deadline - time.monotonic()
            if left <= 0 or not reader.poll(left):
                timed_out = True
                break
            items.append(reader.recv())
    except EOFError:  # the child ended without sending the rest (at the deadline: its own)
        timed_out = time.monotonic() >= deadline
    finally:
        child.kill()
        child.join(REAP_SECONDS)
        reader.close()
    return items, timed_out


def _child(
    work: Callable[..., None], send: Callable[[object], None], args: tuple, deadline: float
) -> None:
    """The child's start: signals left to the parent, memory bounded, a watch, then work."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler, inherited
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    bound_memory()
    parent = os.getppid()

    def watch() -> None:  # the monotonic clock is the machine's: the parent's deadline holds
        while os.getppid() == parent and time.monotonic() < deadline + 2 * WATCH_SECONDS:
            time.sleep(WATCH_SECONDS)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()
    work(send, *args)


CHILD_MEMORY = 1024 * 1024 * 1024  # what a child may take beyond what it starts with


def bound_memory() -> None:
    """Bound this process's memory to what it has plus :data:`CHILD_MEMORY`.

    A service's endless answer then ends in MemoryError (a failed service), never in
    gigabytes taken from the machine (Linux; elsewhere, unbounded).
    """
    import resource

    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + CHILD_MEMORY, size + CHILD_MEMORY))
    except (OSError, ValueError):
        pass


def ensure_open_files(needed: int = OPEN_FILES_NEEDED) -> None:
    """Raise this process's open-file limit (``ulimit -n``) to ``needed`` if it is lower.

    Without enough, the kernel's messaging library aborts the run (SIGABRT) mid-way.

    Raises:
        ConfigError: The hard limit, which only an administrator may raise, is lower.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ConfigError(
            f"the open-file limit (ulimit -n) is {hard}: the report's kernel, its "
            f"connections and children need {needed}; raise it"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
