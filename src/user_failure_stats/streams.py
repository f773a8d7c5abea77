"""The standard streams of a command: always open, and a failed write never ends the command.

A cron job may start the command with a stream closed (``2>&-``) or write its output to a
full disk. :func:`guard` opens ``/dev/null`` in place of a closed stream (so no file the
command opens later takes its number, and children inherit something harmless) and puts a
:class:`Guarded` stream in front of ``sys.stdout`` and ``sys.stderr``: a write that fails is
kept, as :attr:`Guarded.failure`, and what follows goes to ``/dev/null``. The command then
says so in one line and chooses its exit code.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator

STANDARD_FDS = (0, 1, 2)


class Guarded(io.TextIOBase):
    """A text stream that never raises on write or flush: the first failure is kept."""

    def __init__(self, stream, fd: int) -> None:
        self.stream = stream
        self.fd = fd
        self.failure: OSError | None = None

    def write(self, text: str) -> int:
        """Write ``text``; after a failure, drop it. Returns its length, as if written."""
        if self.failure is None:
            try:
                self.stream.write(text)
                if "\n" in text and self.isatty():
                    self.stream.flush()
            except OSError as exc:
                self._failed(exc)
        return len(text)

    def flush(self) -> None:
        """Flush the stream; a failure is kept, never raised."""
        if self.failure is None:
            try:
                self.stream.flush()
            except OSError as exc:
                self._failed(exc)

    def fileno(self) -> int:
        """The stream's file descriptor."""
        return self.fd

    def isatty(self) -> bool:
        """Whether the stream is a terminal."""
        try:
            return os.isatty(self.fd)
        except OSError:
            return False

    def writable(self) -> bool:
        """A standard stream is writable."""
        return True

    @property
    def encoding(self) -> str:
        """The encoding of the stream behind."""
        return getattr(self.stream, "encoding", "utf-8")

    def _failed(self, exc: OSError) -> None:
        self.failure = exc
        # What the stream still buffers is dropped into /dev/null: Python's flush at exit
        # must not fail again, and nothing later is written half.
        quiet = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(quiet, self.fd)
        finally:
            os.close(quiet)
        with contextlib.suppress(OSError):
            self.stream.flush()


def reopen_closed() -> None:
    """Open ``/dev/null`` on each of the descriptors 0, 1 and 2 that is closed."""
    for fd in STANDARD_FDS:
        try:
            os.fstat(fd)
        except OSError:
            quiet = os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one
            if quiet != fd:
                os.dup2(quiet, fd)
                os.close(quiet)


@contextlib.contextmanager
def guard() -> Iterator[tuple[Guarded, Guarded]]:
    """Guard ``sys.stdout`` and ``sys.stderr`` while the block runs; yield both guards.

    Closed descriptors are opened on ``/dev/null`` first (:func:`reopen_closed`). The
    streams are put back, flushed, when the block ends.
    """
    reopen_closed()
    saved = sys.stdout, sys.stderr
    guards = []
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        if stream is None:  # Python found the descriptor closed when it started
            stream = open(fd, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
        guards.append(Guarded(stream, fd))
    sys.stdout, sys.stderr = guards
    try:
        yield guards[0], guards[1]
    finally:
        for item in guards:
            item.flush()
        sys.stdout, sys.stderr = saved
