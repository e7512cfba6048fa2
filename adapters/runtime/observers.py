"""TrainingObserver adapters: structured logs, progress bars, TensorBoard events, metric files.

Losses arrive as 0-d tensors; ``float()`` is called only on logged steps, so there is no device
sync on every step.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog
from tqdm.auto import tqdm

from reidkit.domain.types import PseudoLabels, RetrievalMetrics, StepReport, TrainingProgress


def _losses(report: StepReport) -> dict[str, float]:
    return {name: round(float(value), 5) for name, value in report.losses.items()}


def label_summary(labels: PseudoLabels, quality: Mapping[str, float]) -> dict[str, float | int]:
    """Cluster and outlier counts plus whatever the scorer measured, rounded for logs and files."""
    return {
        "clusters": labels.num_clusters,
        "outliers": labels.num_outliers,
        "samples": len(labels),
        **{name: round(float(value), 4) for name, value in quality.items()},
    }


def write_json_atomically(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)


class LoggingObserver:
    """One structured log line every ``log_every`` steps, per epoch and per evaluation."""

    def __init__(self, log_every: int = 20, logger: Any = None) -> None:
        if log_every < 1:
            raise ValueError(f"log_every must be >= 1, got {log_every}")
        self._every = log_every
        self._log = logger or structlog.get_logger("reidkit.train")
        self._steps = 0

    def on_run_start(self, *, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        self._steps = steps_per_epoch
        if start_epoch > epochs:
            self._log.warning(
                f"nothing to train: the run folder's latest checkpoint is already past train.epochs "
                f"({start_epoch} epochs done, {epochs} asked for); the run's last evaluation is "
                "reported as it is (a shorter run needs another --work-dir)",
                epochs_done=start_epoch,
                epochs=epochs,
            )
            return
        if start_epoch == epochs:
            self._log.info("already finished: nothing to train", epochs_done=start_epoch, epochs=epochs)
            return
        event = "resuming" if start_epoch else "training"
        self._log.info(event, start_epoch=start_epoch, epochs=epochs, steps_per_epoch=steps_per_epoch)

    def on_epoch_start(self, epoch: int) -> None:
        return None

    def on_step(self, epoch: int, step: int, report: StepReport) -> None:
        if not report.finite:  # the loop allowed it (train.max_bad_steps): say what was skipped
            self._log.warning("non-finite loss: step skipped", epoch=epoch + 1, step=step + 1, **_losses(report))
            return
        if (step + 1) % self._every == 0 or step + 1 == self._steps:
            self._log.info("step", epoch=epoch + 1, step=step + 1, lr=f"{report.lr:.2e}", **_losses(report))

    def on_epoch_end(self, epoch: int) -> None:
        return None

    def on_evaluation(self, epoch: int, name: str, metrics: RetrievalMetrics) -> None:
        self._log.info(
            "evaluation",
            epoch=epoch + 1,
            domain=name,
            mAP=round(metrics.mAP, 4),
            rank1=round(metrics.rank(1), 4),
            mINP=round(metrics.mINP, 4),
            valid_queries=f"{metrics.num_valid_queries}/{metrics.num_queries}",
        )

    def on_pseudo_labels(self, epoch: int, labels: PseudoLabels, quality: Mapping[str, float]) -> None:
        self._log.info("pseudo labels", epoch=epoch + 1, **label_summary(labels, quality))

    def on_run_end(self, progress: TrainingProgress) -> None:
        if progress.history:
            self._log.info("finished", epochs=progress.epochs_done, best_mAP=round(progress.best_score, 4))
        else:  # nothing was evaluated (unlabelled data): there is no best score to report
            self._log.info("finished", epochs=progress.epochs_done, evaluated=False)


class ProgressObserver:
    """A tqdm bar per epoch (written to stderr, off when ``enabled`` is False). Bars are drawn on a
    terminal only: redrawn with carriage returns, they would garble a log file and leave the next
    line (a log event, the ``reidkit:`` line of a failure) in the middle of one."""

    def __init__(self, enabled: bool = True) -> None:
        self._enabled = enabled
        self._bar: Any = None
        self._epochs = 0
        self._steps = 0

    def on_run_start(self, *, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        self._epochs, self._steps = epochs, steps_per_epoch

    def on_epoch_start(self, epoch: int) -> None:
        return None

    def on_step(self, epoch: int, step: int, report: StepReport) -> None:
        if not self._enabled:
            return
        if self._bar is None:
            self._bar = tqdm(total=self._steps, desc=f"epoch {epoch + 1}/{self._epochs}", leave=False, disable=None)
        self._bar.update(1)

    def on_epoch_end(self, epoch: int) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_evaluation(self, epoch: int, name: str, metrics: RetrievalMetrics) -> None:
        return None

    def on_pseudo_labels(self, epoch: int, labels: PseudoLabels, quality: Mapping[str, float]) -> None:
        return None

    def on_run_end(self, progress: TrainingProgress) -> None:
        self.on_epoch_end(progress.epochs_done)


class TensorboardObserver:
    """TensorBoard scalars: losses and lr per logged step, mAP/rank-1/mINP per evaluation."""

    def __init__(self, log_dir: str | Path, log_every: int = 20) -> None:
        self._dir = Path(log_dir)
        self._every = log_every
        self._writer: Any = None
        self._steps = 1

    def _w(self) -> Any:
        if self._writer is None:  # opened lazily: nothing touches the disk before training starts
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self._dir))
        return self._writer

    def on_run_start(self, *, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        self._steps = max(steps_per_epoch, 1)

    def on_epoch_start(self, epoch: int) -> None:
        return None

    def on_step(self, epoch: int, step: int, report: StepReport) -> None:
        if (step + 1) % self._every:
            return
        global_step = epoch * self._steps + step + 1
        for name, value in report.losses.items():
            self._w().add_scalar(f"loss/{name}", float(value), global_step)
        self._w().add_scalar("lr", report.lr, global_step)

    def on_epoch_end(self, epoch: int) -> None:
        return None

    def on_evaluation(self, epoch: int, name: str, metrics: RetrievalMetrics) -> None:
        for key, value in (("mAP", metrics.mAP), ("rank1", metrics.rank(1)), ("mINP", metrics.mINP)):
            self._w().add_scalar(f"{name}/{key}", value, epoch + 1)
        self._w().flush()

    def on_pseudo_labels(self, epoch: int, labels: PseudoLabels, quality: Mapping[str, float]) -> None:
        for key, value in label_summary(labels, quality).items():
            self._w().add_scalar(f"pseudo_labels/{key}", value, epoch + 1)

    def on_run_end(self, progress: TrainingProgress) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class MetricsFileObserver:
    """``metrics.json`` in the run folder: every evaluation so far, rewritten atomically."""

    def __init__(self, run_dir: str | Path) -> None:
        self._path = Path(run_dir) / "metrics.json"
        self._entries: list[dict[str, Any]] = []
        self._labels: list[dict[str, Any]] = []

    def on_run_start(self, *, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        # a resumed run keeps what it already recorded; one restarted from nothing scores its
        # start again (train.eval_start), so it keeps nothing
        if self._path.is_file() and start_epoch > 0:
            previous = json.loads(self._path.read_text())
            self._entries = [e for e in previous.get("evaluations", []) if e["epoch"] <= start_epoch]
            self._labels = [e for e in previous.get("pseudo_labels", []) if e["epoch"] <= start_epoch]

    def _write(self) -> None:
        payload: dict[str, Any] = {"evaluations": self._entries}
        if self._labels:
            payload["pseudo_labels"] = self._labels
        write_json_atomically(self._path, payload)

    def on_epoch_start(self, epoch: int) -> None:
        return None

    def on_step(self, epoch: int, step: int, report: StepReport) -> None:
        return None

    def on_epoch_end(self, epoch: int) -> None:
        return None

    def on_evaluation(self, epoch: int, name: str, metrics: RetrievalMetrics) -> None:
        self._entries.append({"epoch": epoch + 1, "domain": name, **metrics.as_dict()})
        self._write()

    def on_pseudo_labels(self, epoch: int, labels: PseudoLabels, quality: Mapping[str, float]) -> None:
        self._labels.append({"epoch": epoch + 1, **label_summary(labels, quality)})
        self._write()

    def on_run_end(self, progress: TrainingProgress) -> None:
        return None


class CompositeObserver:
    """Fans every event out to several observers, in order."""

    def __init__(self, observers: Sequence[Any]) -> None:
        self._observers = tuple(observers)

    def on_run_start(self, *, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        for o in self._observers:
            o.on_run_start(start_epoch=start_epoch, epochs=epochs, steps_per_epoch=steps_per_epoch)

    def on_epoch_start(self, epoch: int) -> None:
        for o in self._observers:
            o.on_epoch_start(epoch)

    def on_step(self, epoch: int, step: int, report: StepReport) -> None:
        for o in self._observers:
            o.on_step(epoch, step, report)

    def on_epoch_end(self, epoch: int) -> None:
        for o in self._observers:
            o.on_epoch_end(epoch)

    def on_evaluation(self, epoch: int, name: str, metrics: RetrievalMetrics) -> None:
        for o in self._observers:
            o.on_evaluation(epoch, name, metrics)

    def on_pseudo_labels(self, epoch: int, labels: PseudoLabels, quality: Mapping[str, float]) -> None:
        for o in self._observers:
            o.on_pseudo_labels(epoch, labels, quality)

    def on_run_end(self, progress: TrainingProgress) -> None:
        for o in self._observers:
            o.on_run_end(progress)


def progress_callback(description: str, enabled: bool = True) -> Callable[[int, int], None]:
    """A ``(done, total)`` callback drawing a tqdm bar, for feature extraction and data generation
    (on a terminal only, as ProgressObserver's)."""
    state: dict[str, Any] = {}

    def report(done: int, total: int) -> None:
        if not enabled:
            return
        bar = state.get("bar")
        if bar is None or done < state.get("done", 0):
            bar = state["bar"] = tqdm(total=total, desc=description, leave=False, disable=None)
        bar.update(done - state.get("done", 0))
        state["done"] = done
        if done >= total:
            bar.close()
            state.clear()

    return report
