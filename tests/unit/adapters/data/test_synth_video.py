"""The synthetic video preset: short tracklets in the DukeMTMC-VideoReID layout, read by the real
video reader, the same bytes for the same seed, cached once."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from reidkit.adapters.data.readers import dataset_reader
from reidkit.adapters.data.synth import PRESETS
from reidkit.adapters.data.synth_video import VIDEO_PRESETS, ensure_synthetic_video


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for top, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(files):
            h.update(os.path.relpath(os.path.join(top, name), root).encode())
            h.update(Path(top, name).read_bytes())
    return h.hexdigest()


def test_tiny_video_is_tracklets_of_the_embedded_people_read_by_the_duke_video_reader(tmp_path: Path) -> None:
    roots = ensure_synthetic_video("tiny_video", 0, tmp_path / "a")
    data = dataset_reader("dukemtmc_video").read(roots["source"], domain="source")
    assert data.summary() == dict(train_ids=12, train_images=24, query_ids=6, query_images=6,
                                  gallery_ids=7, gallery_images=11, cameras=3)  # fmt: skip
    lengths = [len(t.frames) for t in (*data.train, *data.query, *data.gallery)]
    assert min(lengths) == 2 and max(lengths) == 6 and any(n < 4 for n in lengths)  # some shorter than seq_len 4
    assert {t.pid for t in data.gallery} >= {0}  # distractor tracklets
    assert all(os.path.basename(t.frames[0]).split("_")[2] != "F0001" for t in data.train)  # numbers start past F0001
    assert set(VIDEO_PRESETS).isdisjoint(PRESETS)  # the image presets are untouched


def test_the_same_seed_gives_the_same_bytes_and_a_cached_copy_is_reused(tmp_path: Path) -> None:
    first = ensure_synthetic_video("tiny_video", 0, tmp_path / "a")["source"]
    second = ensure_synthetic_video("tiny_video", 0, tmp_path / "b")["source"]
    assert _digest(first) == _digest(second)
    stamp = os.stat(next(first.rglob("*.jpg"))).st_mtime_ns
    assert ensure_synthetic_video("tiny_video", 0, tmp_path / "a")["source"] == first
    assert os.stat(next(first.rglob("*.jpg"))).st_mtime_ns == stamp
