"""Per-epoch classifier heads for pseudo labels, and starting a model from a source-trained run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import structlog
import torch

from reidkit.adapters.clustering.centroids import class_centroids
from reidkit.adapters.models.backbone import ReidNet
from reidkit.adapters.models.weights import read_state_dict
from reidkit.adapters.runtime.checkpoint import export_state, read_checkpoint
from reidkit.domain.errors import CheckpointError
from reidkit.domain.ports import FeatureEncoder
from reidkit.domain.types import FeatureMatrix, ImageRecord, LabelSpace, PseudoLabels

_log = structlog.get_logger(__name__)


class SourceClassRows:
    """The labelled source's rows of a head shared with the target's clusters (OpenUnReID's UDA
    strong baseline trains source identities and target clusters in one classifier): the first
    head gets the source class centroids under the current encoder (row i for training pid i,
    the label the source batches carry); after that the rows are trained weights, which later
    heads keep. Whether they are is checkpointed, so a resumed run keeps them too."""

    def __init__(self, encoder: FeatureEncoder, records: Sequence[ImageRecord], label_space: LabelSpace) -> None:
        if not records:
            raise ValueError("SourceClassRows needs the labelled source training records")
        self.encoder = encoder
        self.records = tuple(records)
        self.pids = [r.pid for r in self.records]
        self.num_classes = len(set(self.pids))
        if label_space.source_classes != self.num_classes:
            raise ValueError(
                f"the label space has {label_space.source_classes} source classes, the source records {self.num_classes}"
            )
        self.trained = False

    def rows(self, model: ReidNet) -> torch.Tensor:
        """(S, dim) on the CPU, like the centroids they are stacked with."""
        if self.trained:
            return model.classifier.weight[: self.num_classes].detach().cpu().clone()
        features = self.encoder.encode(self.records).normalized()
        return torch.from_numpy(class_centroids(features, self.pids).values.copy())

    def state_dict(self) -> dict:
        return {"trained": self.trained}

    def load_state_dict(self, state: dict) -> None:
        if "trained" not in state:
            raise KeyError("SourceClassRows state lacks 'trained'")
        self.trained = bool(state["trained"])


class NoSourceRows:
    """SourceClassRows' null object: a head over the target's clusters alone (no labelled source
    is trained alongside). Nothing to encode, keep or checkpoint."""

    @property
    def trained(self) -> bool:
        return False

    @trained.setter
    def trained(self, value: bool) -> None:
        return None  # there are no rows to keep

    def rows(self, model: ReidNet) -> torch.Tensor:
        return torch.empty(0, model.feature_dim)


class ClassifierReset:
    """A ``LabelConsumer``: each epoch the classifier gets one row per cluster, initialised from
    the cluster centroids (as the strong baseline and MMT do), in place so the optimizer keeps
    training it. ``reset_optimizer`` clears all optimizer state (the strong baseline starts each
    epoch afresh); otherwise only the head's stale moments go. ``optimizer`` None: a model no
    optimiser trains (MMT's mean teachers).

    The head is [source classes; clusters]: with ``SourceClassRows`` the source rows start from
    the source centroids and are then learned, so later epochs keep them as trained and
    re-initialise only the cluster rows (as OpenUnReID does); ``NoSourceRows`` (the default)
    leaves the clusters alone."""

    def __init__(
        self,
        model: ReidNet,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        reset_optimizer: bool = False,
        source: SourceClassRows | NoSourceRows | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.reset_optimizer = reset_optimizer
        self.source = source if source is not None else NoSourceRows()

    def reset(self, features: FeatureMatrix, labels: PseudoLabels) -> None:
        rows = torch.from_numpy(class_centroids(features, labels.labels).values.copy())
        source_rows = self.source.rows(self.model)
        rows = torch.cat([source_rows.to(rows.dtype), rows])
        weight = self.model.resize_classifier(len(rows), rows)
        if self.source.trained:  # trained rows stay as they are (the resize normalises its input)
            with torch.no_grad():
                weight[: len(source_rows)] = source_rows.to(weight.device, weight.dtype)
        self.source.trained = True
        if self.optimizer is None:  # a mean teacher: no optimiser trains it
            return
        if self.reset_optimizer:
            self.optimizer.state.clear()
        else:
            self.optimizer.state.pop(weight, None)


# Where the evaluated network's weights sit in a checkpoint's components: a step's ``model``.
MODEL_WEIGHTS = ("step", "model")


def source_model_state(path: str | Path, location: Sequence[str | int] = MODEL_WEIGHTS) -> dict[str, torch.Tensor]:
    """The model weights of a reidkit checkpoint (``checkpoints/*.pt`` of a training run), found
    at ``location`` among its components (a mean-teacher run keeps its teachers at
    ``("step", "teachers", 0)``), or of a plain exported state dict."""
    path = Path(path)
    if Path(f"{path}.sha256").is_file():
        components = read_checkpoint(path)["components"]
        found: object = components
        for key in location:
            try:
                found = found[key]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                found = None
                break
        if not isinstance(found, dict) or not found:
            where = "/".join(str(key) for key in location)
            raise CheckpointError(f"{path} has no model weights at {where} (components: {sorted(components)})")
        return dict(found)
    state = read_state_dict(path)
    if not state:
        raise CheckpointError(
            f"{path} holds no model tensors (a reidkit checkpoint without its .sha256 file was never finished)"
        )
    return state


# ReidNet's classifier, and PCBNet's one per stripe.
_CLASSIFIERS = ("classifier.", "classifiers.")


def load_source_model(model: ReidNet, path: str | Path) -> None:
    """Starts adaptation from a source-trained model: every tensor but the classifier (whose
    classes were the source identities) must match by name and shape."""
    load_without_classifier(model, source_model_state(path), path)
    _log.info("source model loaded", path=str(path))


def load_without_classifier(model: torch.nn.Module, state: dict[str, torch.Tensor], origin: str | Path) -> None:
    """Loads ``state`` (from ``origin``) into ``model``, leaving its classifier alone: every other
    tensor must match by name and shape, else one CheckpointError lists what does not fit."""
    state = {k: v for k, v in state.items() if not k.startswith(_CLASSIFIERS)}
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith(_CLASSIFIERS)}
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    mismatched = sorted(k for k in expected.keys() & state.keys() if expected[k].shape != state[k].shape)
    if missing or unexpected or mismatched:
        problems = [
            f"{label}: {', '.join(names[:4])}" + (f" (+{len(names) - 4} more)" if len(names) > 4 else "")
            for label, names in (("missing", missing), ("unexpected", unexpected), ("other shape", mismatched))
            if names
        ]
        raise CheckpointError(f"{origin} does not fit this model ({'; '.join(problems)}); same backbone and head settings?")
    model.load_state_dict(state, strict=False)


def export_trunk(checkpoint: str | Path, out: str | Path) -> Path:
    """The trunk of a trained model in torchvision naming: what ImageNet weights would provide, so
    ``model.pretrained`` can start any profile from it."""
    state = source_model_state(checkpoint)
    export_state(out, {k.removeprefix("trunk."): v for k, v in state.items() if k.startswith("trunk.")})
    return Path(out)
