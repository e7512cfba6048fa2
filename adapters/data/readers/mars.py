"""MARS (Zheng et al., ECCV 2016): video re-ID, 6 cameras, tracklets found by a detector and tracker.

Official statistics (junk tracklets, pid -1, left out; query tracklets not in the gallery): train
625 ids / 8,298 tracklets, query 626 ids / 1,980 tracklets, gallery 622 ids / 9,330 tracklets
(distractor pid 0 included); 6 cameras (camid 0..5). Statistics count tracklets, not frames.

    root/                           or root/MARS/
      bbox_train/0001/0001C1T0001F001.jpg     <pid><C camera><T tracklet><F frame>.jpg
      bbox_test/0000/...  bbox_test/00-1/...  (pid 0 distractors, pid -1 junk)
      info/train_name.txt  info/test_name.txt           one frame name a line
      info/tracks_train_info.mat  ('track_train_info', 8,298 x 4)
      info/tracks_test_info.mat   ('track_test_info', 12,180 x 4)
      info/query_IDX.mat          ('query_IDX', 1,980 1-based rows of the test tracks)

Each track row is ``(start, end, pid, camera)``: 1-based, inclusive line numbers of the name list.
Rows of pid -1 are skipped, pid 0 kept; cameras must be 1..6 (camid = camera - 1); every frame of
a row must carry the row's pid and camera in its name and exist under ``bbox_*/<pid>/``. Query =
test rows at ``query_IDX``; gallery = every other test row (as Torchreid: the query tracklets are
not in the gallery). ``min_seq_len`` drops shorter tracklets (Torchreid's default 0 keeps all).
"""

from __future__ import annotations

from pathlib import Path

from attrs import field, frozen, validators

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import as_folder, files_under, find_root, has_dirs, layout_error, options_of
from reidkit.adapters.data.readers._video import keep_long_enough, load_mat, tracklet_dataset
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ReidDataset, Tracklet

TITLE = "MARS"
LAYOUT = (
    "bbox_train/ and bbox_test/ of '<pid>/<pid>C<cam>T<tracklet>F<frame>.jpg' frames and info/ with train_name.txt, "
    "test_name.txt, tracks_train_info.mat, tracks_test_info.mat and query_IDX.mat (in the root or its MARS/)"
)
CAMERAS = range(1, 7)


@frozen(kw_only=True)
class MarsOptions:
    min_seq_len: int = field(default=0, validator=[validators.instance_of(int), validators.ge(0)])


def read(root: str | Path, *, domain: str = "", options: MarsOptions | None = None) -> ReidDataset:
    options = options_of(options, MarsOptions)
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, ("MARS",), has_dirs("bbox_train", "bbox_test", "info"))
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    info = found / "info"
    train_names = _names(info / "train_name.txt")
    test_names = _names(info / "test_name.txt")
    train_rows = _rows(load_mat(info / "tracks_train_info.mat", "track_train_info", TITLE), "tracks_train_info.mat")
    test_rows = _rows(load_mat(info / "tracks_test_info.mat", "track_test_info", TITLE), "tracks_test_info.mat")
    query_idx = [int(i) for i in load_mat(info / "query_IDX.mat", "query_IDX", TITLE).ravel()]
    for i in query_idx:
        if not 1 <= i <= len(test_rows):
            raise DatasetError(
                f"{TITLE} info/query_IDX.mat names test track {i}, but tracks_test_info.mat has rows 1..{len(test_rows)}"
            )
    queries = set(query_idx)
    train = _tracklets(found, "bbox_train", train_names, "train_name.txt", train_rows, "tracks_train_info.mat", domain)
    test = _tracklets(found, "bbox_test", test_names, "test_name.txt", test_rows, "tracks_test_info.mat", domain)
    query = [t for row, t in test if row in queries]
    gallery = [t for row, t in test if row not in queries]
    where = one_line(str(found))
    train_kept = keep_long_enough([t for _, t in train], options.min_seq_len, "train")
    query = keep_long_enough(query, options.min_seq_len, "query")
    gallery = keep_long_enough(gallery, options.min_seq_len, "gallery")
    return tracklet_dataset(domain or found.name, train_kept, query, gallery, where=where)


def _names(path: Path) -> list[str]:
    if not path.is_file():
        raise DatasetError(f"{TITLE} needs {one_line(str(path))}, which does not exist; expected {LAYOUT}")
    return [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]


def _rows(array: object, source: str) -> list[tuple[int, int, int, int]]:
    import numpy as np

    table = np.asarray(array)
    if table.ndim != 2 or table.shape[1] < 4:
        raise DatasetError(f"{TITLE} info/{source} must be an (N, 4) array of (start, end, pid, camera), got shape {table.shape}")
    return [tuple(int(v) for v in row[:4]) for row in table]  # type: ignore[misc]


def _tracklets(
    found: Path, split: str, names: list[str], list_name: str, rows: list[tuple[int, int, int, int]], source: str, domain: str
) -> list[tuple[int, Tracklet]]:
    """(1-based row number, tracklet) of every row that is not junk."""
    present = files_under(found / split)
    prefix = str(found / split) + "/"
    out: list[tuple[int, Tracklet]] = []
    for number, (start, end, pid, camera) in enumerate(rows, start=1):
        row = f"{TITLE} info/{source} row {number} ({start}, {end}, {pid}, {camera})"
        if pid == -1:
            continue  # junk tracklets
        if pid < -1:
            raise DatasetError(f"{row} has pid {pid}; only -1 (junk) may be negative")
        if camera not in CAMERAS:
            raise DatasetError(f"{row} has camera {camera}, not one of MARS's 1..6")
        if not 1 <= start <= end <= len(names):
            raise DatasetError(f"{row} names lines {start}..{end}, but {list_name} has lines 1..{len(names)}")
        frames = []
        for line in range(start, end + 1):
            name = names[line - 1]
            if name[:4] != f"{pid:04d}" or name[4:6] != f"C{camera}":
                raise DatasetError(
                    f"{row}: line {line} of {list_name}, {one_line(name)!r}, is not a frame of pid {pid:04d} "
                    f"under camera C{camera}"
                )
            relative = f"{name[:4]}/{name}"
            if relative not in present:
                raise DatasetError(
                    f"{row}: line {line} of {list_name} names {one_line(prefix + relative)}, which does not exist"
                )
            frames.append(prefix + relative)
        out.append((number, Tracklet(frames=frames, pid=pid, camid=camera - 1, domain=domain)))
    return out


READER = DatasetReader(
    name="mars",
    summary="MARS (video): train 625 ids/8,298 tracklets, query 626/1,980, gallery 622/9,330 (queries not in it), 6 cameras",
    layout=LAYOUT,
    read=read,
    video=True,
    options=MarsOptions,
)
