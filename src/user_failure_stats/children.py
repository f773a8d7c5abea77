"""Work done in a child process that is killed at a deadline.

A thread cannot be stopped, and a network library's own timeouts restart with every byte: a
service answering one byte a second keeps a call alive for as long as it likes. Work that
talks to such a service (publishing, notifications) runs in a forked child instead, which
sends its results back through a pipe and is killed when the deadline passes.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Callable

# How long to wait for a killed child to be gone (one stuck in the kernel is left behind).
REAP_SECONDS = 5.0


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
    child = context.Process(target=_child, args=(work, writer.send, args), daemon=True)
    deadline = time.monotonic() + timeout
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
    except EOFError:  # the child ended without sending the rest
        pass
    finally:
        child.kill()
        child.join(REAP_SECONDS)
        reader.close()
    return items, timed_out


def _child(work: Callable[..., None], send: Callable[[object], None], args: tuple) -> None:
    """The child's start: signals are the parent's to handle (it kills the child), then work."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler, inherited
    work(send, *args)
