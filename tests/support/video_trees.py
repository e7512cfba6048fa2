"""Fabricated video dataset trees of empty frame files (the readers never decode a frame), in the
layouts of the video readers: MARS, DukeMTMC-VideoReID, iLIDS-VID and PRID 2011 multi-shot.

A tracklet is given as (pid, camera, frame count); ``official_*`` write trees sized to the
published statistics (``OFFICIAL_VIDEO``), one frame per tracklet, so they are quick to write.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.io import savemat

from tests.support.dataset_trees import touch, write_names

# What a correct reader reports (ReidDataset.summary(): "images" count tracklets).
OFFICIAL_VIDEO: dict[str, dict[str, int]] = {
    "mars": dict(train_ids=625, train_images=8298, query_ids=626, query_images=1980,
                 gallery_ids=622, gallery_images=9330, cameras=6),
    "dukemtmc_video": dict(train_ids=702, train_images=2196, query_ids=702, query_images=702,
                           gallery_ids=1110, gallery_images=2636, cameras=8),
    "ilidsvid": dict(train_ids=150, train_images=300, query_ids=150, query_images=150,
                     gallery_ids=150, gallery_images=150, cameras=2),
    "prid2011": dict(train_ids=89, train_images=178, query_ids=89, query_images=89,
                     gallery_ids=89, gallery_images=89, cameras=2),
}  # fmt: skip

Track = tuple[int, int, int]  # (pid, camera 1-based, frames)


def mars_pid(pid: int) -> str:
    return "00-1" if pid == -1 else f"{pid:04d}"


def mars_tree(root: Path, train: Sequence[Track], test: Sequence[Track], query_rows: Sequence[int],
              *, create: bool = True) -> Path:  # fmt: skip
    """MARS's bbox_train/, bbox_test/ and info/ for these tracks (``query_rows`` 1-based rows of
    ``test``); frames are named as MARS names them, one tracklet number per track."""
    info = root / "info"
    info.mkdir(parents=True, exist_ok=True)
    for split, tracks, list_name, mat_name, key in (
        ("bbox_train", train, "train_name.txt", "tracks_train_info.mat", "track_train_info"),
        ("bbox_test", test, "test_name.txt", "tracks_test_info.mat", "track_test_info"),
    ):
        names, rows = [], []
        for number, (pid, camera, count) in enumerate(tracks, start=1):
            start = len(names) + 1
            names += [f"{mars_pid(pid)}C{camera}T{number:04d}F{f:03d}.jpg" for f in range(1, count + 1)]
            rows.append((start, len(names), pid, camera))
        (info / list_name).write_text("".join(n + "\n" for n in names))
        savemat(str(info / mat_name), {key: np.array(rows, dtype=np.int32).reshape(-1, 4)})
        (root / split).mkdir(parents=True, exist_ok=True)
        if create:
            write_names(root / split, [f"{n[:4]}/{n}" for n in names])
    savemat(str(info / "query_IDX.mat"), {"query_IDX": np.array(query_rows, dtype=np.int32).reshape(1, -1)})
    return root


def duke_video_tree(root: Path, splits: dict[str, Sequence[tuple[int, int, Sequence[int]]]]) -> Path:
    """``splits[split]``: (pid, camera, frame numbers) per tracklet, tracklets numbered per pid."""
    for split in ("train", "query", "gallery"):
        (root / split).mkdir(parents=True, exist_ok=True)
        names, numbers = [], {}
        for pid, camera, frames in splits.get(split, ()):
            track = numbers[pid] = numbers.get(pid, 0) + 1
            folder = f"{pid:04d}/{track:04d}" if pid >= 0 else f"-1/{track:04d}"
            names += [f"{folder}/{pid:04d}_C{camera}_F{f:04d}_X{10000 + f}.jpg" for f in frames]
        write_names(root / split, names)
    return root


def ilidsvid_tree(root: Path, persons: Sequence[int], frames: int, ls_set: np.ndarray,
                  *, cam2_persons: Sequence[int] | None = None) -> Path:  # fmt: skip
    """``i-LIDS-VID/sequences/cam{1,2}/person<NNN>/`` with ``frames`` frames each, and the split mat."""
    sequences = root / "i-LIDS-VID" / "sequences"
    for camera, people in ((1, persons), (2, persons if cam2_persons is None else cam2_persons)):
        write_names(sequences / f"cam{camera}",
                    [f"person{p:03d}/cam{camera}_person{p:03d}_{f:05d}.png" for p in people for f in range(frames)])
    splits = root / "train-test people splits"
    splits.mkdir(parents=True, exist_ok=True)
    savemat(str(splits / "train_test_splits_ilidsvid.mat"), {"ls_set": np.asarray(ls_set, dtype=np.float64)})
    return root


def ilidsvid_splits(persons: int, count: int = 10) -> np.ndarray:
    """``count`` rows, each a seeded permutation of 1..persons (as the official ls_set)."""
    rng = np.random.default_rng(0)
    return np.stack([rng.permutation(persons) + 1 for _ in range(count)])


def prid2011_tree(root: Path, cam_a: Sequence[int], cam_b: Sequence[int], frames: int,
                  splits: Sequence[dict[str, list[str]]] | None) -> Path:  # fmt: skip
    shots = root / "prid_2011" / "multi_shot"
    for camera, people in (("cam_a", cam_a), ("cam_b", cam_b)):
        write_names(shots / camera, [f"person_{p:04d}/{f:04d}.png" for p in people for f in range(1, frames + 1)])
    if splits is not None:
        touch(root / "splits_prid2011.json", json.dumps(list(splits)).encode())
    return root


def prid2011_splits(persons: Sequence[int], count: int = 10) -> list[dict[str, list[str]]]:
    """``count`` halves of ``persons`` (first half test, as Torchreid's file lists them)."""
    out = []
    for k in range(count):
        order = sorted(persons)
        random.Random(k).shuffle(order)
        half = len(order) // 2
        out.append({"train": [f"person_{p:04d}" for p in sorted(order[half:])],
                    "test": [f"person_{p:04d}" for p in sorted(order[:half])]})  # fmt: skip
    return out


def spread_tracks(pids: Sequence[int], count: int, cameras: Sequence[int], shift: int = 0) -> list[Track]:
    """``count`` one-frame tracks over ``pids`` (every pid at least once when count allows), the
    cameras dealt round so every camera is used and a pid's next track is under another camera."""
    return [(pids[i % len(pids)], cameras[(i + i // len(pids) + shift) % len(cameras)], 1) for i in range(count)]


def official_mars(root: Path) -> Path:
    stats, cameras = OFFICIAL_VIDEO["mars"], range(1, 7)
    train = spread_tracks(list(range(1, 626)), stats["train_images"], cameras)
    test_ids = list(range(1001, 1001 + stats["query_ids"]))
    query = spread_tracks(test_ids, stats["query_images"], cameras)
    # the gallery: all but the last 5 query ids, plus distractors (pid 0), then 870 junk tracks
    gallery = spread_tracks([*test_ids[:-5], 0], stats["gallery_images"], cameras, shift=1)
    junk = spread_tracks([-1], 870, cameras)
    tagged = [(t, True) for t in query] + [(t, False) for t in (*gallery, *junk)]
    random.Random(0).shuffle(tagged)  # queries are rows anywhere in the test tracks, as in MARS
    query_rows = [i + 1 for i, (_, is_query) in enumerate(tagged) if is_query]
    return mars_tree(root, train, [t for t, _ in tagged], query_rows)


def official_duke_video(root: Path) -> Path:
    stats, cameras = OFFICIAL_VIDEO["dukemtmc_video"], range(1, 9)
    test_ids = list(range(2001, 2001 + stats["query_ids"]))

    def tracks(pids: list[int], count: int, shift: int = 0) -> list[tuple[int, int, list[int]]]:
        return [(p, c, [1]) for p, c, _ in spread_tracks(pids, count, cameras, shift)]

    return duke_video_tree(root / "DukeMTMC-VideoReID", {
        "train": tracks(list(range(1, 703)), stats["train_images"]),
        "query": tracks(test_ids, stats["query_images"]),
        "gallery": tracks([*test_ids, *range(5001, 5001 + 408)], stats["gallery_images"], shift=1),
    })  # fmt: skip


def official_ilidsvid(root: Path) -> Path:
    return ilidsvid_tree(root, list(range(1, 320))[:300], 1, ilidsvid_splits(300))


def official_prid2011(root: Path) -> Path:
    shared = [p for p in range(1, 201) if p % 9 != 0][:178]  # 178 of the 200 persons in both cameras
    return prid2011_tree(root, list(range(1, 386)), list(range(1, 750)), 1, prid2011_splits(shared))
