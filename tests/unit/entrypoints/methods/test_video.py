"""Video data in the composition root: the [video] table is checked before torch like every
setting, a video data kind (tiny_video, or a tracklet reader in [data.sets]) selects frame
sampling for the batches and the pooled tracklet encoder for evaluation, and image data keeps
the image batches and encoder."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reidkit.adapters.data.datasets import ImageDataset, TrackletDataset
from reidkit.adapters.data.frames import FrameSampling
from reidkit.adapters.encoders.torch_encoder import TorchFeatureEncoder
from reidkit.adapters.encoders.tracklets import TrackletFeatureEncoder
from reidkit.domain.errors import ProfileError
from reidkit.entrypoints.app import build_app
from reidkit.entrypoints.settings import data_form, load_profile, make_converter
from tests.support.tiny import tiny_overrides


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["video.sample=middle"], "must be one of ['evenly', 'random', 'all'], got 'middle' @ profile.video.sample"),
        (["video.test_sample=random"], "must be one of ['evenly', 'all'], got 'random' @ profile.video.test_sample"),
        (["video.pooling=median"], "must be one of ['avg', 'max'], got 'median' @ profile.video.pooling"),
        (["video.seq_len=0"], "'seq_len' must be >= 1: 0 @ profile.video"),
        (["video.seqlen=4"], "extra fields found (seqlen) @ profile.video"),
    ],
)
def test_video_settings_are_strict(overrides: list[str], message: str) -> None:
    with pytest.raises(ProfileError) as error:
        load_profile("video_baseline", overrides)
    assert str(error.value) == message


def test_adaptation_on_tracklets_and_mixed_training_sets_are_refused() -> None:
    with pytest.raises(ProfileError, match="video re-ID trains with the supervised method, and method 'spcl'"):
        load_profile("spcl_usl", ["data.preset='tiny_video'"])
    mixed = [
        "data.kind='datasets'", "data.sets.mars={reader='mars', root='/m'}", "data.sets.duke={reader='dukemtmc', root='/d'}",
        "train.domain=['mars', 'duke']", "eval.domains=['mars']",
    ]  # fmt: skip
    with pytest.raises(ProfileError, match=r"train.domain mixes video datasets \(mars\) with image ones \(duke\)"):
        load_profile("video_baseline", mixed)


def test_the_data_form_follows_the_preset_and_the_readers() -> None:
    def form(*overrides: str) -> str:
        return data_form(make_converter().unstructure(load_profile("video_baseline", list(overrides)).data))

    assert form() == "video"
    assert form("data.preset='tiny'") == "image"
    assert form("data.kind='datasets'", "data.sets.source={reader='ilidsvid', root='/i', split_id=3}") == "video"
    assert form("data.kind='datasets'", "data.sets.source={reader='market', root='/m'}") == "image"


def test_the_embedded_scale_reads_short_tracklets_four_frames_at_a_time() -> None:
    scaled = load_profile("video_baseline")
    assert scaled.video.seq_len == 4 and scaled.model.backbone == "resnet18" and scaled.input.height == 64
    assert load_profile("video_baseline", ["embedded_scale='off'"]).video.seq_len == 15


def test_checking_a_video_profile_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "from reidkit.entrypoints.settings import load_profile\n"
        "load_profile('video_baseline', ['data.kind=\"datasets\"', 'data.sets.source={reader=\"mars\", root=\"/m\"}'])\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_video_data_selects_tracklet_batches_and_the_pooled_encoder(tmp_path) -> None:
    profile = load_profile("video_baseline", [f"data.cache_dir='{tmp_path / 'data'}'", "video.pooling='max'"])
    app = build_app(profile, work_dir=str(tmp_path / "run"))
    container = app.container
    assert container.data.frames() == FrameSampling(seq_len=4, sample="evenly")
    encoder = container.network.encoder()
    assert isinstance(encoder, TrackletFeatureEncoder) and isinstance(encoder.frames, TorchFeatureEncoder)
    assert encoder.pooling == "max" and encoder.sampling == FrameSampling(seq_len=4, sample="evenly")
    batches = container.batches()
    assert isinstance(batches.dataset, TrackletDataset)
    batch = next(iter(batches.epoch(0)))
    assert batch.images.shape[0] == 4 * 2 * 4  # P x K tracklets x seq_len frames


def test_image_data_keeps_the_image_batches_and_encoder(tiny_data, tmp_path) -> None:
    app = build_app(load_profile("strong_baseline", tiny_overrides(tiny_data)), work_dir=str(tmp_path))
    assert app.container.data.frames() is None
    assert type(app.container.network.encoder()) is TorchFeatureEncoder
    assert type(app.container.batches().dataset) is ImageDataset
