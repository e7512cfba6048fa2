"""Tracklet features: the frames chosen as at test time, embedded by the frame encoder, pooled (avg
or max), then ranked: a hand-computed case with a fake per-frame model whose features are listed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from reidkit.adapters.data.frames import FrameSampling
from reidkit.adapters.encoders.tracklets import TrackletFeatureEncoder
from reidkit.adapters.evaluation.evaluator import RankingEvaluator
from reidkit.application.evaluate import Evaluate
from reidkit.domain.types import FeatureMatrix, ImageRecord, Tracklet

# The fake model's feature of each frame, by path.
FRAME = {
    "a": [0, 0], "b": [2, 0],                                # query 1 (pid 1)
    "c": [0, 4],                                             # query 2 (pid 2), one frame
    "g1": [1, 1], "g2": [1, -1], "g3": [1, 0], "g4": [1, 0],  # gallery pid 1
    "h1": [0, 3], "h2": [0, 5],                              # gallery pid 2
    "k1": [1, 0], "k2": [-3, 0],                             # gallery pid 3
}  # fmt: skip
QUERY = [Tracklet(["a", "b"], pid=1, camid=0), Tracklet(["c"], pid=2, camid=0)]
GALLERY = [
    Tracklet(["g1", "g2", "g3", "g4"], pid=1, camid=1),
    Tracklet(["h1", "h2"], pid=2, camid=1),
    Tracklet(["k1", "k2"], pid=3, camid=1),
]


class FakeFrames:
    """A per-frame model: each frame's feature is ``FRAME[path]``; it records what it was asked."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, records: Sequence[ImageRecord]) -> FeatureMatrix:
        assert all(type(r) is ImageRecord for r in records)
        self.seen += [r.path for r in records]
        return FeatureMatrix(np.array([FRAME[r.path] for r in records], dtype=np.float32))


def _encoder(pooling: str, sample: str = "evenly", seq_len: int = 2) -> tuple[TrackletFeatureEncoder, FakeFrames]:
    frames = FakeFrames()
    return TrackletFeatureEncoder(frames, sampling=FrameSampling(seq_len=seq_len, sample=sample), pooling=pooling), frames


def test_evenly_picks_seq_len_frames_at_a_stride_and_pads_short_tracklets_with_the_last() -> None:
    encoder, frames = _encoder("avg")
    features = encoder.encode([*QUERY, *GALLERY]).values
    # 4 frames, seq_len 2: frames 0 and 2; the one-frame tracklet is read twice
    assert frames.seen == ["a", "b", "c", "c", "g1", "g3", "h1", "h2", "k1", "k2"]
    np.testing.assert_allclose(features, [[1, 0], [0, 4], [1, 0.5], [0, 4], [-1, 0]])


def test_max_pooling_and_all_frames() -> None:
    encoder, _ = _encoder("max")
    np.testing.assert_allclose(encoder.encode(GALLERY).values, [[1, 1], [0, 5], [1, 0]])
    every, frames = _encoder("avg", sample="all")
    np.testing.assert_allclose(every.encode(GALLERY[:1]).values, [[1, 0]])
    assert frames.seen == ["g1", "g2", "g3", "g4"]


def test_image_records_pass_through_as_one_frame() -> None:
    encoder, _ = _encoder("avg")
    np.testing.assert_allclose(encoder.encode([ImageRecord("k2", pid=3, camid=0)]).values, [[-3, 0]])


@pytest.mark.parametrize(
    ("pooling", "expected"),
    [
        # avg: q1 = (1, 0) is nearest g-pid1 (1, 0.5) at 0.5, then pid 3 (-1, 0) at 2: AP 1;
        #      q2 = (0, 4) meets pid 2's (0, 4) at 0: AP 1
        ("avg", dict(mAP=1.0, mINP=1.0, r1=1.0, r2=1.0)),
        # max: q1 = (2, 0) is nearer pid 3's (1, 0) (distance 1) than pid 1's (1, 1) (sqrt 2):
        #      its match at rank 2, AP = INP = 1/2; q2 = (0, 4) nearest pid 2's (0, 5): AP 1
        ("max", dict(mAP=0.75, mINP=0.75, r1=0.5, r2=1.0)),
    ],
)
def test_pooled_evaluation_matches_the_hand_computed_ranking(pooling: str, expected: dict[str, float]) -> None:
    encoder, _ = _encoder(pooling)
    metrics = Evaluate(encoder, RankingEvaluator(metric="euclidean", normalize=False), QUERY, GALLERY).run()
    assert metrics.mAP == pytest.approx(expected["mAP"])
    assert metrics.mINP == pytest.approx(expected["mINP"])
    assert metrics.rank(1) == pytest.approx(expected["r1"])
    assert metrics.rank(2) == pytest.approx(expected["r2"])
    assert metrics.num_valid_queries == 2


def test_random_test_time_sampling_and_unknown_pooling_are_refused() -> None:
    with pytest.raises(ValueError, match="'evenly' or 'all'"):
        TrackletFeatureEncoder(FakeFrames(), sampling=FrameSampling(sample="random"))
    with pytest.raises(ValueError, match="pooling must be one of"):
        TrackletFeatureEncoder(FakeFrames(), sampling=FrameSampling(), pooling="median")
