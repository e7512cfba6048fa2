"""structlog set-up: a human console on stderr plus JSON lines in the run folder."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

import structlog


class _JsonLinesTee:
    """A processor that appends each event as one JSON line to a file, then passes it on."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if not self._stream.closed:  # after the run ends, later events go to the console only
            self._stream.write(json.dumps(event, default=str) + "\n")
            self._stream.flush()
        return event


class _ConsoleLevel:
    """A processor that drops the events below ``level`` (a logging level number): placed after
    the JSON-lines tee, the run's file keeps every event while the console shows only these."""

    def __init__(self, level: int) -> None:
        self._level = level

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if logging.getLevelName(str(event.get("level", method)).upper()) < self._level:
            raise structlog.DropEvent
        return event


def _stderr_logger(*_: Any) -> structlog.PrintLogger:
    # Look sys.stderr up per logger, not once: whoever replaced it since (a test's capture, a
    # notebook) may have closed the stream that was current when logging was configured.
    return structlog.PrintLogger(file=sys.stderr)


def configure_logging(
    json_path: Path | None = None, *, rank: int = 0, level: str = "info", console_level: str | None = None
) -> TextIO | None:
    """Configure structlog for this process; returns the open JSON-lines file (caller closes it).

    Only rank 0 writes the file; every rank logs to its console with its rank in each line.
    ``console_level`` (e.g. "warning" for ``--quiet``) shows only events at or above it on the
    console; the file still gets every event from ``level`` up.
    """
    stream = None
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=False),
    ]
    if rank:
        processors.append(lambda _, __, event: {**event, "rank": rank})
    if json_path is not None and rank == 0:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        stream = json_path.open("a", encoding="utf-8")
        processors.append(_JsonLinesTee(stream))
    if console_level is not None:
        processors.append(_ConsoleLevel(getattr(logging, console_level.upper())))
    processors.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    return stream
