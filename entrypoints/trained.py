"""A training run's folder as a model to use.

A run folder holds the resolved profile (``profile.toml``) and ``checkpoints/``: together they
rebuild the network the run evaluated (the architecture from the profile, the weights from the
method's place in the checkpoint, domain-specific BN folded to the target's), its test transform
and its data. ``open_run`` checks the folder without importing torch; the rest builds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from attrs import frozen

from reidkit.domain.errors import ReidkitError
from reidkit.entrypoints.settings import Profile, load_profile

if TYPE_CHECKING:
    import torch

    from reidkit.adapters.encoders.extractor import FeatureExtractor
    from reidkit.domain.ports import Evaluator
    from reidkit.domain.types import ReidDataset

PROFILE_FILE = "profile.toml"
CHECKPOINTS = "checkpoints"


@frozen
class TrainedRun:
    """A run folder, its resolved profile (with any ``--set`` on top) and the checkpoint used."""

    folder: Path
    profile: Profile
    checkpoint: Path

    @property
    def evaluated_weights(self) -> tuple[str | int, ...]:
        from reidkit.entrypoints.methods import method_spec

        return method_spec(self.profile.method).evaluated_weights


def open_run(folder: str | Path, checkpoint: str = "best", overrides: Sequence[str] = ()) -> TrainedRun:
    """The run in ``folder``: ``checkpoint`` is ``best`` (the model the run selected), ``latest``
    (its newest epoch) or a checkpoint file; ``overrides`` are ``--set`` settings over the run's
    profile (another data root, say). One ReidkitError naming what is missing otherwise."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReidkitError(f"run folder {folder} does not exist")
    profile_file = folder / PROFILE_FILE
    if not profile_file.is_file():
        raise ReidkitError(
            f"{folder} has no {PROFILE_FILE}; give the folder of a reidkit train or adapt run (its --work-dir)"
        )
    profile = load_profile(str(profile_file), overrides)
    if profile.method == "translate":
        raise ReidkitError(
            f"{folder} is an image translation run: it has no re-ID network; render images with "
            f"`reidkit translate --run {folder} --images DIR --out DIR`, or train on its translated/ folder"
        )
    return TrainedRun(folder=folder, profile=profile, checkpoint=checkpoint_file(folder, checkpoint))


def checkpoint_file(folder: Path, choice: str) -> Path:
    checkpoints = folder / CHECKPOINTS
    if choice == "best":
        path = checkpoints / "best.pt"
    elif choice == "latest":
        pointer = checkpoints / "latest"
        if not pointer.is_file():
            raise ReidkitError(f"{folder} has no {CHECKPOINTS}/latest: the run has not finished an epoch")
        path = checkpoints / pointer.read_text().strip()
    else:
        path = Path(choice)
    if not path.is_file():
        hint = " (the run has not finished an epoch)" if choice in ("best", "latest") else ""
        raise ReidkitError(f"checkpoint {path} does not exist{hint}")
    return path


def trained_network(run: TrainedRun, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The network ``run`` evaluated, in eval mode on ``device``: built from the profile without a
    classifier, its weights from the checkpoint (every tensor must fit), DSBN folded."""
    import attrs
    from dependency_injector import providers

    from reidkit.adapters.models.dsbn import fold_dsbn
    from reidkit.adapters.models.heads import load_without_classifier, source_model_state
    from reidkit.entrypoints.parts.model import ReidModel
    from reidkit.entrypoints.settings import unstructure_profile

    # the run's own network provider, without a classifier and without its starting weights (the
    # checkpoint holds every weight, and the files the run started from need not exist here)
    profile = attrs.evolve(run.profile, model=attrs.evolve(run.profile.model, pretrained=""))
    container = ReidModel(num_classes=providers.Object(0))
    container.config.from_dict(unstructure_profile(profile))
    model = container.network()
    load_without_classifier(model, source_model_state(run.checkpoint, run.evaluated_weights), run.checkpoint)
    return fold_dsbn(model).to(device).eval()


def trained_extractor(
    run: TrainedRun,
    *,
    device: str = "auto",
    batch_size: int | None = None,
    normalize: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureExtractor:
    """``run``'s network behind the run's own test transform and flip setting; ``progress(done,
    total)`` hears of every batch. A run on video data encodes records as its evaluation did: a
    tracklet's row pools its frames' features (``[video] test_sample``, ``pooling``)."""
    from reidkit.adapters.data.transforms import build_test_transform
    from reidkit.adapters.encoders.extractor import FeatureExtractor
    from reidkit.adapters.encoders.torch_encoder import TorchFeatureEncoder
    from reidkit.adapters.runtime.device import resolve_device

    where = resolve_device(device)
    profile = run.profile
    encoder = TorchFeatureEncoder(
        trained_network(run, where),
        build_test_transform(profile.input.height, profile.input.width),
        batch_size=batch_size or profile.eval.batch_size,
        device=where,
        normalize=normalize,
        flip_augment=profile.eval.flip,
        progress=progress,
    )
    return FeatureExtractor(encoder, _tracklet_encoder(profile, encoder))


def _tracklet_encoder(profile: Profile, frames: object) -> object | None:
    """The run's tracklet encoder over ``frames`` when its data is video, else None."""
    from reidkit.entrypoints.settings import data_form, make_converter

    if data_form(make_converter().unstructure(profile.data)) != "video":
        return None
    from reidkit.adapters.data.frames import FrameSampling
    from reidkit.adapters.encoders.tracklets import TrackletFeatureEncoder

    video = profile.video
    sampling = FrameSampling(seq_len=video.seq_len, sample=video.test_sample)
    return TrackletFeatureEncoder(frames, sampling=sampling, pooling=video.pooling)  # type: ignore[arg-type]


def run_domains(run: TrainedRun) -> Mapping[str, ReidDataset]:
    """The data of ``run``'s profile (``--set data.*`` chooses other data), by domain name."""
    from reidkit.entrypoints.parts.data import profile_data

    return profile_data(run.profile).domains()


def run_evaluator(run: TrainedRun) -> Evaluator:
    """The evaluator ``run``'s profile describes (metric, normalisation, re-ranking)."""
    from reidkit.entrypoints.parts.data import profile_data

    return profile_data(run.profile).evaluator()


def load(run_dir: str | Path, *, checkpoint: str = "best", device: str = "auto", batch_size: int | None = None) -> FeatureExtractor:
    """A trained model from its run folder, as a function from images to features::

        from reidkit.entrypoints import load

        extractor = load("runs/strong_baseline")
        features = extractor(["a.jpg", "b.jpg"])  # (2, D) float32, rows of unit length

    It takes paths, PIL images and (H, W, 3) arrays (uint8, or floats in [0, 1]), one or a list;
    ``checkpoint`` is ``best``, ``latest`` or a checkpoint file."""
    return trained_extractor(open_run(run_dir, checkpoint), device=device, batch_size=batch_size, normalize=True)

