"""TorchCheckpointer: atomic, checksummed checkpoints that resume a run exactly.

Layout of the checkpoint folder::

    epoch_0007.pt          torch.save of {"format", "progress", "components", "is_best"}
    epoch_0007.pt.sha256   "<hex digest>  epoch_0007.pt" (``sha256sum -c`` format), written first
    best.pt(.sha256)       the checkpoint with the best score so far (a hard link when possible)
    latest                 the name of the newest checkpoint, for people and scripts

Every file is written to a temporary file in the same folder, fsynced and renamed over its
target, so a crash leaves either the old file or the new one, never half of one. A checkpoint's
checksum is in place before its data is renamed in, so a process killed at any moment leaves no
``.pt`` file that fails its checksum, only temporary files and perhaps a checksum without data,
which the next restore or save removes; ``best.pt`` is removed before it is replaced, and the
restore after an interrupted save publishes it (and ``latest``) again
(``benchmarks/kill_resume.py`` SIGKILLs whole runs to check this). A checkpoint without its
checksum, or whose bytes do not match it (damage from outside), is skipped in favour of the
previous one.

Everything is read with ``weights_only=True``: a file that needs full unpickling (which can run
arbitrary code) is refused, so components must save tensors and plain Python containers only;
numpy values are converted to tensors and Python scalars on the way in.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import re
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from reidkit.domain.errors import CheckpointError
from reidkit.domain.ports import Stateful
from reidkit.domain.types import RetrievalMetrics, TrainingProgress

log = logging.getLogger(__name__)

FORMAT = "reidkit-checkpoint-1"
_EPOCH_FILE = re.compile(r"epoch_(\d+)\.pt")
_TEMP_FILE = re.compile(r"\.(epoch_\d+\.pt|best\.pt|latest)(\.sha256)?\..*\.tmp")
_SCALARS = (bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device, torch.Size)
_CONTAINERS = (dict, OrderedDict, list, tuple, set)


class _Unusable(CheckpointError):
    """A checkpoint file that is damaged or incomplete (restore falls back past it)."""


class TorchCheckpointer:
    """Implements the Checkpointer port over ``components`` (name -> anything with
    ``state_dict()``/``load_state_dict()``), keeping the newest ``keep`` epochs plus the best.
    ``files`` does the writing (each operation crash-safe on its own); ``metadata`` is saved in
    every checkpoint beside the components."""

    def __init__(
        self,
        directory: str | Path,
        components: Mapping[str, Stateful],
        *,
        keep: int = 2,
        files: AtomicFiles | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        if not components:
            raise ValueError("TorchCheckpointer needs at least one component to save")
        for name, component in components.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"component names must be non-empty strings, got {name!r}")
            if not (callable(getattr(component, "state_dict", None)) and callable(getattr(component, "load_state_dict", None))):
                raise TypeError(f"component {name!r} ({type(component).__name__}) lacks state_dict/load_state_dict")
        self.directory = Path(directory)
        self.components = dict(components)
        self.keep = keep
        self.files = files if files is not None else AtomicFiles()
        # saved beside the components (e.g. the run's resolved profile); plain data only
        self.metadata = dict(metadata or {})

    # -- saving ------------------------------------------------------------------------------

    def save(self, progress: TrainingProgress, *, is_best: bool) -> None:
        payload = {
            "format": FORMAT,
            "progress": _progress_to_plain(progress),
            "components": {name: _plain(c.state_dict(), name) for name, c in self.components.items()},
            # Lets the restore after a crash finish publishing best.pt.
            "is_best": bool(is_best),
            **({"metadata": _plain(self.metadata, "metadata")} if self.metadata else {}),
        }
        data = _serialize(payload)
        digest = hashlib.sha256(data).hexdigest()
        path = self.directory / f"epoch_{progress.epochs_done:04d}.pt"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.files.install(self.files.stage(path, data), path, digest)
            if is_best:
                self._publish_best(path, digest)
            self._point_latest_to(path)
            self._prune()
        except OSError as err:
            if err.filename is None:  # a failed write names no file: name the checkpoint
                raise OSError(err.errno, err.strerror, str(path)) from err
            raise

    def _publish_best(self, path: Path, digest: str) -> None:
        best = self.directory / "best.pt"
        self.files.install(self.files.link(path, best), best, digest)

    def _point_latest_to(self, path: Path) -> None:
        self.files.write(self.directory / "latest", f"{path.name}\n".encode())

    def _prune(self) -> None:
        for stale in self._epoch_files()[self.keep :]:
            self.files.remove(stale)
            self.files.remove(_sidecar(stale))
        self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        """Temporary files and data-less checksums a killed process left behind (a live process
        leaves none: the one writer is the main process, and it calls this between saves)."""
        for entry in self.directory.iterdir():
            if _TEMP_FILE.fullmatch(entry.name):
                entry.unlink(missing_ok=True)
            elif entry.name.endswith(".pt.sha256") and not entry.with_name(entry.name.removesuffix(".sha256")).exists():
                entry.unlink(missing_ok=True)

    def _epoch_files(self) -> list[Path]:
        """Epoch checkpoints, newest first."""
        if not self.directory.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.directory.iterdir() if (m := _EPOCH_FILE.fullmatch(p.name))]
        return [path for _, path in sorted(found, reverse=True)]

    # -- restoring ---------------------------------------------------------------------------

    def restore(self) -> TrainingProgress | None:
        candidates = self._epoch_files()
        if not candidates:
            return None
        problems = []
        for path in candidates:
            try:
                payload = read_checkpoint(path)
            except _Unusable as err:
                problems.append(str(err))
                log.warning("%s; falling back to an older checkpoint", err)
                continue
            self._load_components(path, payload["components"])
            progress = _progress_from_plain(payload["progress"], path)
            if path == candidates[0] and _is_main_process():
                self._finish_interrupted_save(path, payload)
            log.info("resumed from %s after %d epoch(s)", path, progress.epochs_done)
            return progress
        raise CheckpointError(f"no usable checkpoint in {self.directory}: {'; '.join(problems)}")

    def _finish_interrupted_save(self, path: Path, payload: Mapping[str, Any]) -> None:
        """Does what a save killed after writing ``path`` left undone: publishing best.pt and
        ``latest``, removing leftovers. A run killed in its last save has no later save to do it."""
        digest = _read_digest(path)
        best = self.directory / "best.pt"
        if payload.get("is_best") and not (best.exists() and _recorded_digest(best) == digest):
            log.warning("the save of %s was interrupted; publishing it as best.pt again", path.name)
            self._publish_best(path, digest)
        if _recorded_name(self.directory / "latest") != path.name:
            self._point_latest_to(path)
        self._remove_leftovers()

    def _load_components(self, path: Path, states: Mapping[str, Any]) -> None:
        missing = sorted(set(self.components) - set(states))
        if missing:
            raise CheckpointError(f"{path} lacks component(s) {', '.join(missing)} (it has {', '.join(sorted(states))})")
        extra = sorted(set(states) - set(self.components))
        if extra:
            log.warning("checkpoint %s holds component(s) %s that this run does not use", path, ", ".join(extra))
        for name, component in self.components.items():
            try:
                component.load_state_dict(states[name])
            except Exception as err:  # noqa: BLE001 - a mismatched component raises anything
                raise CheckpointError(f"{path}: component {name!r} does not fit this run: {_first_line(err)}") from err


# -- single files ------------------------------------------------------------------------------


def read_checkpoint(path: str | Path) -> dict:
    """The verified payload of one checkpoint file; CheckpointError when it is damaged, unfinished,
    not a reidkit checkpoint, or would need full unpickling."""
    path = Path(path)
    digest = _read_digest(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise _Unusable(f"{path} cannot be read: {err.strerror or err}") from err
    if hashlib.sha256(data).hexdigest() != digest:
        raise _Unusable(f"{path} does not match its checksum (truncated or modified)")
    payload = _deserialize(data, path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a reidkit checkpoint (no {FORMAT!r} marker)")
    if not isinstance(payload.get("components"), dict) or not isinstance(payload.get("progress"), dict):
        raise CheckpointError(f"{path} is a malformed reidkit checkpoint (components/progress missing)")
    return payload


def _read_digest(path: Path) -> str:
    sidecar = _sidecar(path)
    try:
        text = sidecar.read_text(encoding="ascii").split()
    except FileNotFoundError as err:
        raise _Unusable(f"{path} has no checksum file {sidecar.name} (its save was interrupted)") from err
    except (OSError, UnicodeDecodeError) as err:
        raise _Unusable(f"{path} has an unreadable checksum file {sidecar.name}") from err
    if not text or not re.fullmatch(r"[0-9a-f]{64}", text[0]):
        raise _Unusable(f"{path} has a malformed checksum file {sidecar.name}")
    return text[0]


def _deserialize(data: bytes, path: Path) -> Any:
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "global" not in str(err).lower():
            # Not a disallowed class (weights_only names those "globals"): the bytes are garbage.
            raise _Unusable(f"{path} cannot be decoded (not a torch archive)") from err
        raise CheckpointError(
            f"{path} needs full unpickling (objects beyond tensors and plain containers), which could "
            "run arbitrary code; refusing to load it"
        ) from err
    except Exception as err:  # noqa: BLE001 - torch reports a damaged archive as several types
        raise _Unusable(f"{path} cannot be decoded: {_first_line(err)}") from err


def export_model(path: str | Path, model: nn.Module) -> None:
    """Writes the model's plain state dict (CPU tensors) atomically, for inference or fine-tuning."""
    export_state(path, model.state_dict())


def export_state(path: str | Path, state: Mapping[str, torch.Tensor]) -> None:
    """Writes a plain state dict (CPU tensors) atomically: what ``model.pretrained`` reads."""
    path = Path(path)
    plain = OrderedDict((name, tensor.detach().cpu()) for name, tensor in state.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, _serialize(plain))


class AtomicFiles:
    """The file operations a checkpoint save is made of, each crash-safe on its own: a killed
    process leaves the old file or the new one, never half of one. A test or a fault-injection
    harness can put a tracing subclass in its place (the checkpointer is given one)."""

    def write(self, path: Path, data: bytes) -> None:
        """Writes ``data`` to ``path`` via a same-folder temporary file, fsync and rename."""
        temp = self.stage(path, data)
        try:
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_directory(path.parent)

    def stage(self, path: Path, data: bytes) -> Path:
        """A fsynced temporary file beside ``path`` holding ``data`` (removed again on failure)."""
        handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
        try:
            with handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        return Path(handle.name)

    def link(self, source: Path, target: Path) -> Path:
        """A temporary file beside ``target`` with the bytes of ``source`` (a hard link when the
        disk allows it)."""
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temp.unlink(missing_ok=True)
        try:
            try:
                os.link(source, temp)
            except OSError:
                shutil.copyfile(source, temp)
                with temp.open("rb") as handle:
                    os.fsync(handle.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return temp

    def install(self, staged: Path, path: Path, digest: str) -> None:
        """Renames the staged checkpoint ``staged`` to ``path`` after writing its checksum, so that
        no moment exists at which ``path`` is present with a checksum it fails: an old ``path`` is
        removed first, and a crash before the rename leaves a checksum without data (ignored, then
        removed)."""
        try:
            if path.exists():
                path.unlink()
                _fsync_directory(path.parent)
            self.write(_sidecar(path), f"{digest}  {path.name}\n".encode())
            os.replace(staged, path)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        _fsync_directory(path.parent)

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` via a same-folder temporary file, fsync and rename."""
    AtomicFiles().write(path, data)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, and only a hardening.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _recorded_digest(path: Path) -> str | None:
    try:
        return _read_digest(path)
    except _Unusable:
        return None


def _recorded_name(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _is_main_process() -> bool:
    # Every rank restores, but only the main one writes (see MainProcessCheckpointer).
    distributed = torch.distributed
    return not (distributed.is_available() and distributed.is_initialized()) or distributed.get_rank() == 0


def _serialize(payload: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# -- plain data ------------------------------------------------------------------------------


def _plain(value: Any, where: str) -> Any:
    """``value`` with numpy converted, checked to be loadable with ``weights_only=True``; the
    error names the offending entry at save time rather than at resume time."""
    if isinstance(value, torch.Tensor) or type(value) in _SCALARS:
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value, copy=True))
    if isinstance(value, np.generic):
        return value.item()
    if type(value) in (dict, OrderedDict):
        return type(value)((_plain(k, f"{where} key"), _plain(v, f"{where}.{k}")) for k, v in value.items())
    if type(value) in _CONTAINERS:
        return type(value)(_plain(v, f"{where}[{i}]") for i, v in enumerate(value))
    raise CheckpointError(
        f"cannot checkpoint {where}: {type(value).__module__}.{type(value).__qualname__} is not a tensor "
        "or plain Python value, so it could not be loaded back safely"
    )


def _progress_to_plain(progress: TrainingProgress) -> dict:
    return {
        "epochs_done": int(progress.epochs_done),
        "best_score": float(progress.best_score),
        "history": [[int(e), str(name), float(score)] for e, name, score in progress.history],
        "latest": [[str(name), metrics.as_dict()] for name, metrics in progress.latest],
    }


def _progress_from_plain(plain: Mapping[str, Any], path: Path) -> TrainingProgress:
    try:
        return TrainingProgress(
            epochs_done=int(plain["epochs_done"]),
            best_score=float(plain["best_score"]),
            history=tuple((int(e), str(name), float(score)) for e, name, score in plain["history"]),
            latest=tuple((str(name), RetrievalMetrics(**metrics)) for name, metrics in plain.get("latest", ())),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path} has malformed progress: {_first_line(err)}") from err
