"""How a failed ``reidkit`` command ends: one line on stderr, ``reidkit: <message>``, printed once
per process and before anything can cut the process short, and an exit code that says what kind of
failure it was.

| code | what ended the command |
|---|---|
| 0 | nothing: it succeeded |
| 1 | a collective failed because a peer rank died or hung (torchrun) |
| 2 | bad input: a profile, data, checkpoint or argument error (``ReidkitError``) |
| 3 | training diverged: a non-finite loss (``DivergenceError``) |
| 4 | the file system refused: a full disk, a read-only or vanished folder (``OSError``) |
| 130 | interrupted (Ctrl-C) |
| 143 | stopped by SIGTERM (under torchrun: another rank failed first) |

Anything else is a bug and keeps its traceback.

Under torchrun every rank reports its own failure, except bad input, which is the same on every
rank: rank 0 alone prints it (the others exit with the same code, silently). A failure inside a run
is reported when it leaves the App, before the App's teardown (destroying the process group,
joining loader workers), during which torchrun may already be stopping this rank; SIGTERM itself is
answered by a watcher thread that prints the line and exits at once, even while the main thread is
blocked in a collective.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from reidkit.domain.errors import ReidkitError

RANK_FAILED = 1
FILE_SYSTEM = 4
INTERRUPTED = 130
TERMINATED = 128 + signal.SIGTERM

RESUMABLE = ("train", "adapt", "demo")
_RESUME = "rerun the same command to resume from the latest checkpoint"


def _launch_number(environ: Mapping[str, str], name: str, default: int) -> int:
    # Lenient: a malformed value is reported by the process group's own check, with its message.
    try:
        return int(environ.get(name, "").strip() or default)
    except ValueError:
        return default


class Failures:
    """The failure reporting of one command in one process (``main`` makes one per call)."""

    def __init__(self, command: str, *, rank: int = 0, world_size: int = 1) -> None:
        self.command = command
        self.rank, self.world_size = rank, world_size
        self.code: int | None = None  # set once this process's failure is reported
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._watching = False

    @classmethod
    def of(cls, command: str, environ: Mapping[str, str] = os.environ) -> Failures:
        """Rank and world size as torchrun's variables say (one process without them)."""
        return cls(command, rank=_launch_number(environ, "RANK", 0), world_size=_launch_number(environ, "WORLD_SIZE", 1))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def resumable(self) -> bool:
        return self.command in RESUMABLE

    # -- reporting --------------------------------------------------------------------------------

    def report(self, err: BaseException) -> int | None:
        """Prints ``err``'s line (unless this process already reported a failure: the first one is
        the cause) and returns the exit code; None for an error that is a bug."""
        with self._lock:
            if self.code is not None:
                return self.code
            described = self.describe(err)
            if described is None:
                return None
            line, code = described
            if line is not None:
                _finish_progress_bars()
                print(f"reidkit: {line}", file=sys.stderr, flush=True)
            self.code = code
            return code

    def describe(self, err: BaseException) -> tuple[str | None, int] | None:
        """(line or None for silence, exit code) for a failure; None for a bug."""
        silent_rank = self.distributed and self.rank != 0
        if isinstance(err, ReidkitError):
            silent = silent_rank and not err.rank_specific
            return (None if silent else str(err)), err.exit_code
        if isinstance(err, KeyboardInterrupt):
            return (None if silent_rank else "interrupted; the latest checkpoint is kept, run the same command to resume"), INTERRUPTED
        message = collective_failure(err, rank=self.rank, world_size=self.world_size)
        if message is not None:
            return message + (f"; {_RESUME}" if self.resumable else ""), RANK_FAILED
        if isinstance(err, OSError) and err.errno is not None:
            return self._ranked(file_system_message(err, resumable=self.resumable)), FILE_SYSTEM
        return None

    def _ranked(self, line: str) -> str:
        return f"rank {self.rank} of {self.world_size}: {line}" if self.distributed else line

    def terminated_message(self) -> str:
        if self.distributed:
            return self._ranked(
                "stopped by SIGTERM (torchrun stops every rank once one fails: the first failing rank's "
                f"line or torchrun's summary names the cause){'; ' + _RESUME if self.resumable else ''}"
            )
        return "stopped by SIGTERM" + ("; the latest checkpoint is kept, run the same command to resume" if self.resumable else "")

    def exit_now(self, code: int) -> None:
        """Ends the process with ``code`` at once (streams flushed, no interpreter teardown). A
        failed rank does so: torchrun stops the other ranks as soon as one exits, and a teardown
        that its SIGTERM cut short would turn the exit code into -15."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)

    # -- the App hook -----------------------------------------------------------------------------

    def hooked(self, hook: Callable[[Any], None]) -> Callable[[Any], None]:
        """``hook``, after telling each App to report a failure here before its teardown."""

        def attach(app: Any) -> None:
            app.on_failure = self.report
            hook(app)

        return attach

    # -- SIGTERM ----------------------------------------------------------------------------------

    @contextmanager
    def last_words(self) -> Iterator[None]:
        """While the command runs, SIGTERM prints this process's line (if none was printed) and
        exits at once with 143 (or the code already reported). The signal's C handler writes to a
        wakeup pipe that a watcher thread reads, so the line comes even while the main thread is
        blocked in C (a collective waiting for a hung peer); Python's own handler, which would wait
        for the main thread, does the same if it runs first. Only the main thread can install it;
        elsewhere the command runs without."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        previous_handler = signal.signal(signal.SIGTERM, self._on_signal)
        previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        self._watching = True
        # A forked child (a DataLoader worker) inherits the handler and the pipe: it must die of
        # SIGTERM quietly, as it always did, and never wake its parent's watcher.
        os.register_at_fork(after_in_child=self._forget_in_child)
        watcher = threading.Thread(target=self._watch, args=(read_fd,), name="reidkit-last-words", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            self._watching = False
            signal.set_wakeup_fd(previous_fd)
            signal.signal(signal.SIGTERM, previous_handler)
            os.write(write_fd, b"\0")  # no signal is numbered 0: tells the watcher to stop
            watcher.join(timeout=5)
            os.close(read_fd)
            os.close(write_fd)

    def _forget_in_child(self) -> None:
        if self._watching:
            self._watching = False
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def _watch(self, read_fd: int) -> None:
        while True:
            try:
                data = os.read(read_fd, 64)
            except OSError:
                return
            if not data or 0 in data:
                return
            if signal.SIGTERM in data:
                self._terminate()

    def _on_signal(self, signum: int, frame: object) -> None:
        if os.getpid() != self._pid:  # a forked child that kept the handler: die as by default
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        self._terminate()

    def _terminate(self) -> None:
        locked = self._lock.acquire(timeout=5)  # a report being printed finishes first
        try:
            if self.code is None:
                self.code = TERMINATED
                # os.write, not print: no Python-level lock that the main thread might hold.
                lead = "\n" if _progress_bars_open() else ""
                os.write(2, f"{lead}reidkit: {self.terminated_message()}\n".encode(errors="backslashreplace"))
        finally:
            if locked:
                self._lock.release()
        os._exit(self.code)


def collective_failure(err: BaseException, *, rank: int, world_size: int) -> str | None:
    """One line for a collective that failed because a peer rank died or hung, else None (and the
    traceback stays, since anything else is a bug worth its full report)."""
    if "torch.distributed" not in sys.modules:  # no process group can have failed
        return None
    from reidkit.adapters.runtime.process_group import collective_failure_message

    return collective_failure_message(err, rank=rank, world_size=world_size)


_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def file_system_message(err: OSError, *, resumable: bool) -> str:
    """``<reason>: <file>``, and for a training command what is kept and how to go on."""
    reason = err.strerror or errno.errorcode.get(err.errno or 0, str(err))
    where = f": {err.filename}" if err.filename is not None else ""
    if err.filename2 is not None:
        where += f" -> {err.filename2}"
    line = f"{reason}{where}"
    if resumable:
        fix = "make room" if err.errno in _FULL else "fix the folder"
        line += f"; the checkpoints written before it are kept: {fix}, then {_RESUME}"
    return line


def _progress_bars() -> list[Any]:
    tqdm = sys.modules.get("tqdm")
    if tqdm is None:
        return []
    try:
        return list(tqdm.tqdm._instances)
    except Exception:  # noqa: BLE001 - a best effort at tidying the console, never a failure
        return []


def _progress_bars_open() -> bool:
    return bool(_progress_bars())


def _finish_progress_bars() -> None:
    """Leaves every open progress bar as it stands and ends its line, so that the ``reidkit:``
    line starts on a line of its own (a bar is drawn without a newline)."""
    for bar in _progress_bars():
        try:
            bar.leave = True
            bar.close()
        except Exception:  # noqa: BLE001 - as above
            pass
