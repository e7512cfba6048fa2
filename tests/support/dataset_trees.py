"""Fabricated dataset trees of empty files, in each reader's official layout (the readers never
decode an image, so names and list files are all they need).

``small`` helpers write the names a test lists; ``official_*`` helpers write a tree sized to the
dataset's published statistics (``OFFICIAL``), names spread over identities and cameras so that
every identity of a split is seen by more than one camera (queries then have matches).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

# The image readers of adapters/data/readers (video readers live beside them, tested apart).
IMAGE_READERS = ("cuhk01", "cuhk03", "cuhksysu", "dukemtmc", "folders", "grid", "manifest", "market", "msmt17",
                 "mvb", "personx", "prid", "sensereid", "university1652", "unlabelled", "vehicleid", "vehiclex",
                 "veri", "viper")

# Per dataset: split -> (ids, images, cameras); what a correct reader reports (summary keys).
OFFICIAL: dict[str, dict[str, int]] = {
    "market": dict(train_ids=751, train_images=12936, query_ids=750, query_images=3368,
                   gallery_ids=751, gallery_images=15913, cameras=6),
    "dukemtmc": dict(train_ids=702, train_images=16522, query_ids=702, query_images=2228,
                     gallery_ids=1110, gallery_images=17661, cameras=8),
    "msmt17": dict(train_ids=1041, train_images=30248, query_ids=3060, query_images=11659,
                   gallery_ids=3060, gallery_images=82161, cameras=15),
    "personx": dict(train_ids=410, train_images=9840, query_ids=856, query_images=5136,
                    gallery_ids=856, gallery_images=30816, cameras=6),
    "veri": dict(train_ids=576, train_images=37778, query_ids=200, query_images=1678,
                 gallery_ids=200, gallery_images=11579, cameras=20),
    "vehiclex": dict(train_ids=1362, train_images=192150, query_ids=0, query_images=0,
                     gallery_ids=0, gallery_images=0, cameras=11),
    "vehicleid": dict(train_ids=13164, train_images=113346, query_ids=800, query_images=6532,
                      gallery_ids=800, gallery_images=800, cameras=2),
    "cuhk03_detected": dict(train_ids=767, train_images=7365, query_ids=700, query_images=1400,
                            gallery_ids=700, gallery_images=5332, cameras=2),
    "cuhk03_labeled": dict(train_ids=767, train_images=7368, query_ids=700, query_images=1400,
                           gallery_ids=700, gallery_images=5328, cameras=2),
}
MSMT17_VAL_IMAGES = 2373
VEHICLEID_TESTS = {800: 7332, 1600: 12995, 2400: 20038}


def touch(path: Path, content: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def write_names(folder: Path, names: Iterable[str]) -> None:
    """Empty files ``folder/name`` (names may hold '/'). Hard links to one empty file, about three
    times faster than creating each (a new source every 60,000 links, under ext4's 65,000)."""
    folder.mkdir(parents=True, exist_ok=True)
    made: set[str] = set()
    base = str(folder)
    source, links, sources = "", _LINKS_PER_SOURCE, 0
    try:
        for name in names:
            parent = os.path.dirname(name)
            if parent and parent not in made:
                os.makedirs(os.path.join(base, parent), exist_ok=True)
                made.add(parent)
            if links == _LINKS_PER_SOURCE:
                if source:
                    os.unlink(source)
                source, links, sources = os.path.join(base, f".empty-{sources}"), 0, sources + 1
                with open(source, "wb"):
                    pass
            try:
                os.link(source, os.path.join(base, name))
            except OSError:  # a file system without hard links: create the file itself
                with open(os.path.join(base, name), "wb"):
                    pass
            links += 1
    finally:
        if source:
            os.unlink(source)


_LINKS_PER_SOURCE = 60_000


def named_splits(root: Path, files: dict[str, Sequence[str]]) -> Path:
    """``root/<split>/<name>`` for each split's names (Market-style, VeRi-style...)."""
    for split, names in files.items():
        write_names(root / split, names)
    return root


def spread(pids: Sequence[int], images: int, cameras: Sequence[int]) -> list[tuple[int, int, int]]:
    """``images`` (pid, camera, n) triples covering every pid and camera; an identity's images
    rotate over the cameras, so each identity with 2+ images is seen by 2+ cameras."""
    out = []
    for i in range(images):
        j, k = i % len(pids), i // len(pids)
        out.append((pids[j], cameras[(j + k) % len(cameras)], i))
    return out


NameFormat = Callable[[int, int, int], str]


def official_named(
    root: Path, name: NameFormat, dirs: Sequence[str], stats: dict[str, int], cameras: Sequence[int],
    *, extra_gallery_ids: Sequence[int] = (), junk: int = 0,
) -> Path:
    """A Market-style tree sized to ``stats``: train ids 1..T, test ids after them (query ids in
    the gallery, then ``extra_gallery_ids``), plus ``junk`` pid -1 files per split."""
    train_pids = list(range(1, stats["train_ids"] + 1))
    test_pids = list(range(stats["train_ids"] + 1, stats["train_ids"] + 1 + stats["query_ids"]))
    splits = [(dirs[0], train_pids, stats["train_images"])]
    if len(dirs) > 1:
        splits += [(dirs[1], test_pids, stats["query_images"]),
                   (dirs[2], test_pids + list(extra_gallery_ids), stats["gallery_images"])]
    for folder, pids, images in splits:
        names = [name(pid, cam, n) for pid, cam, n in spread(pids, images, cameras)]
        names += [name(-1, cameras[0], 10**6 + n) for n in range(junk)]
        write_names(root / folder, names)
    return root


def market_name(pid: int, cam: int, n: int) -> str:
    return f"{pid:04d}_c{cam}s1_{n:06d}_00.jpg" if pid >= 0 else f"-1_c{cam}s1_{n:06d}_00.jpg"


def duke_name(pid: int, cam: int, n: int) -> str:
    return f"{pid:04d}_c{cam}_f{n:07d}.jpg"


def veri_name(pid: int, cam: int, n: int) -> str:
    return f"{pid:04d}_c{cam:03d}_{n:08d}_0.jpg"


def msmt17_name(pid: int, cam: int, n: int) -> str:
    """``0000/0000_000_01_0303morning_0015_0.jpg``: folder, pid, index, camera, date, frame."""
    return f"{pid:04d}/{pid:04d}_{n % 1000:03d}_{cam:02d}_0303morning_{n:06d}_0.jpg"


def msmt17_tree(root: Path, version: str, lists: dict[str, Sequence[tuple[str, int]]], *, create: bool = True) -> Path:
    """``root`` with the four list files (``lists['train'|'val'|'query'|'gallery']``: (relative
    path, pid) lines) and, with ``create``, their files in the version's train/test folders."""
    train_dir, test_dir = ("train", "test") if version == "V1" else ("mask_train_v2", "mask_test_v2")
    for key in ("train", "val", "query", "gallery"):
        rows = lists.get(key, ())
        folder = root / (train_dir if key in ("train", "val") else test_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (root / f"list_{key}.txt").write_text("".join(f"{path} {pid}\n" for path, pid in rows))
        if create:
            write_names(folder, [path for path, _ in rows])
    return root


def official_msmt17(root: Path, version: str = "V1") -> Path:
    stats = OFFICIAL["msmt17"]
    cams = list(range(1, 16))
    train_pids = list(range(stats["train_ids"]))
    test_pids = list(range(stats["query_ids"]))
    every = spread(train_pids, stats["train_images"] + MSMT17_VAL_IMAGES, cams)
    rows = [(msmt17_name(p, c, n), p) for p, c, n in every]
    lists = {
        "train": rows[: stats["train_images"]],
        "val": rows[stats["train_images"]:],
        "query": [(msmt17_name(p, c, n), p) for p, c, n in spread(test_pids, stats["query_images"], cams)],
        "gallery": [(msmt17_name(p, c, n + 10**6), p) for p, c, n in spread(test_pids, stats["gallery_images"], cams)],
    }
    return msmt17_tree(root, version, lists)


def vehicleid_tree(root: Path, train: Sequence[tuple[str, int]], tests: dict[int, Sequence[tuple[str, int]]],
                   *, extension: str = ".jpg", missing: Iterable[str] = ()) -> Path:
    """``root/image/<name><extension>`` for every listed name but ``missing``, and the lists."""
    split = root / "train_test_split"
    split.mkdir(parents=True, exist_ok=True)
    (split / "train_list.txt").write_text("".join(f"{n} {v}\n" for n, v in train))
    names = {n for n, _ in train}
    for size, rows in tests.items():
        (split / f"test_list_{size}.txt").write_text("".join(f"{n} {v}\n" for n, v in rows))
        names |= {n for n, _ in rows}
    write_names(root / "image", sorted(n + extension for n in names - set(missing)))
    return root


def official_vehicleid(root: Path) -> Path:
    stats = OFFICIAL["vehicleid"]
    train = [(f"{1 + i:07d}", v) for i, v in enumerate(
        pid for pid, _, _ in spread(list(range(1, stats["train_ids"] + 1)), stats["train_images"], [0]))]
    test_pids = list(range(stats["train_ids"] + 1, stats["train_ids"] + 801))
    test = [(f"{9_000_000 + i:07d}", pid) for i, (pid, _, _) in enumerate(spread(test_pids, VEHICLEID_TESTS[800], [0]))]
    return vehicleid_tree(root, train, {800: test})


def cuhk03_name(pair: int, pid: int, view: int, n: int) -> str:
    return f"{pair}_{pid:03d}_{view}_{n:02d}.png"


def cuhk03_config(path: Path, filelist: Sequence[str], labels: Sequence[int],
                  train: Sequence[int], query: Sequence[int], gallery: Sequence[int]) -> Path:
    """A new-protocol config .mat (MATLAB v5, as released) with 1-based index vectors."""
    import numpy as np
    from scipy.io import savemat

    cells = np.empty((len(filelist), 1), dtype=object)
    for i, name in enumerate(filelist):
        cells[i, 0] = np.array([name])
    savemat(str(path), {
        "filelist": cells,
        "labels": np.asarray(labels, dtype=np.float64).reshape(-1, 1),
        "train_idx": np.asarray(train, dtype=np.float64).reshape(-1, 1),
        "query_idx": np.asarray(query, dtype=np.float64).reshape(-1, 1),
        "gallery_idx": np.asarray(gallery, dtype=np.float64).reshape(-1, 1),
    })
    return path


def official_cuhk03_new(root: Path, boxes: str = "detected") -> Path:
    """images_<boxes>/ and the config sized to the new protocol's statistics (767 + 700 ids over
    the five camera pairs, both views per identity)."""
    stats = OFFICIAL[f"cuhk03_{boxes}"]
    per_pair = [843, 440, 77, 58, 49]
    persons = [(pair, pid) for pair, count in enumerate(per_pair, start=1) for pid in range(1, count + 1)]
    filelist: list[str] = []
    labels: list[int] = []
    index = {"train": [], "query": [], "gallery": []}

    def add(which: str, person_number: int, view: int, n: int) -> None:
        pair, pid = persons[person_number - 1]
        filelist.append(cuhk03_name(pair, pid, view, n))
        labels.append(person_number)
        index[which].append(len(filelist))

    train_people = list(range(1, stats["train_ids"] + 1))
    for person, view, n in spread(train_people, stats["train_images"], [1, 2]):
        add("train", person, view, 1 + n // (2 * len(train_people)) + (5 if view == 2 else 0))
    test_people = list(range(stats["train_ids"] + 1, stats["train_ids"] + 1 + stats["query_ids"]))
    for person, view, n in spread(test_people, stats["query_images"], [1, 2]):
        add("query", person, view, 1 + (5 if view == 2 else 0))
    for person, view, n in spread(test_people, stats["gallery_images"], [1, 2]):
        add("gallery", person, view, 2 + n // (2 * len(test_people)) + (5 if view == 2 else 0))
    write_names(root / f"images_{boxes}", filelist)
    cuhk03_config(root / f"cuhk03_new_protocol_config_{boxes}.mat", filelist, labels,
                  index["train"], index["query"], index["gallery"])
    return root


def cuhk03_mat(path: Path, boxes: dict[str, Sequence[Sequence[Sequence[object]]]],
               testsets: Sequence[Sequence[tuple[int, int]]]) -> Path:
    """An HDF5 (MATLAB v7.3) cuhk-03.mat: ``boxes[kind][pair][person]`` is that person's 10
    cells, each an (H, W, 3) uint8 array or None (an empty cell); ``testsets`` the (pair, pid)
    rows of each classic split. Needs h5py."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        refs = f.create_group("#refs#")
        counter = iter(range(10**9))

        def store(value: np.ndarray) -> object:
            return refs.create_dataset(f"r{next(counter)}", data=value).ref

        empty = np.zeros(2, dtype=np.uint64)
        for kind, pairs in boxes.items():
            top = f.create_dataset(kind, (1, len(pairs)), dtype=h5py.ref_dtype)
            for p, persons in enumerate(pairs):
                cells = np.empty((10, len(persons)), dtype=object)
                for q, images in enumerate(persons):
                    for c in range(10):
                        image = images[c] if c < len(images) else None
                        cells[c, q] = store(empty if image is None else np.asarray(image, dtype=np.uint8).T)
                pair_data = refs.create_dataset(f"pair_{kind}_{p}", (10, len(persons)), dtype=h5py.ref_dtype)
                pair_data[...] = cells
                top[0, p] = pair_data.ref
        sets = f.create_dataset("testsets", (1, len(testsets)), dtype=h5py.ref_dtype)
        for s, rows in enumerate(testsets):
            sets[0, s] = store(np.asarray(rows, dtype=np.float64).T)
    return path


# The smaller Torchreid sets: every tree at its official size (each is small but University-1652).

SMALL_OFFICIAL: dict[str, dict[str, int]] = {
    "viper": dict(train_ids=316, train_images=632, query_ids=316, query_images=316,
                  gallery_ids=316, gallery_images=316, cameras=2),
    "grid": dict(train_ids=125, train_images=250, query_ids=125, query_images=125,
                 gallery_ids=126, gallery_images=900, cameras=8),
    "cuhk01": dict(train_ids=485, train_images=1940, query_ids=486, query_images=972,
                   gallery_ids=486, gallery_images=972, cameras=2),
    "prid": dict(train_ids=100, train_images=200, query_ids=100, query_images=100,
                 gallery_ids=649, gallery_images=649, cameras=2),
    "sensereid": dict(train_ids=0, train_images=0, query_ids=522, query_images=1040,
                      gallery_ids=1717, gallery_images=3388, cameras=4),
    "cuhksysu": dict(train_ids=11934, train_images=34574, query_ids=0, query_images=0,
                     gallery_ids=0, gallery_images=0, cameras=1),
    "university1652": dict(train_ids=701, train_images=50218, query_ids=701, query_images=37855,
                           gallery_ids=951, gallery_images=951, cameras=3),
}


def official_viper(root: Path) -> Path:
    write_names(root / "cam_a", [f"{p:03d}_{(p * 7) % 360}.bmp" for p in range(632)])
    write_names(root / "cam_b", [f"{p:03d}_{(p * 11) % 360}.bmp" for p in range(632)])
    return root


def grid_partitions(path: Path, splits: Sequence[Sequence[int]]) -> Path:
    """features_and_partitions.mat: trainIdxAll, a 1x10 cell of 1x1 structs whose third field
    holds the split's train person numbers (as the released file is read by position)."""
    import numpy as np
    from scipy.io import savemat

    cells = np.empty((1, len(splits)), dtype=object)
    for k, people in enumerate(splits):
        record = np.zeros((1, 1), dtype=[("a", "O"), ("b", "O"), ("idx", "O")])
        record[0, 0] = (np.zeros((1, 1)), np.zeros((1, 1)), np.asarray(people, dtype=np.float64).reshape(1, -1))
        cells[0, k] = record
    savemat(str(path), {"trainIdxAll": cells})
    return path


def official_grid(root: Path) -> Path:
    cams = range(1, 9)
    write_names(root / "probe", [f"{p:04d}_{cams[p % 8]}_{p:05d}_1_2_3.jpeg" for p in range(1, 251)])
    write_names(root / "gallery", [f"{p:04d}_{cams[(p + 1) % 8]}_{p:05d}_4_5_6.jpeg" for p in range(1, 251)]
                + [f"0000_{cams[n % 8]}_{n:05d}_7_8_9.jpeg" for n in range(775)])
    import random

    splits = [sorted(random.Random(k).sample(range(1, 251), 125)) for k in range(10)]
    grid_partitions(root / "features_and_partitions.mat", splits)
    return root


def official_cuhk01(root: Path) -> Path:
    write_names(root / "campus", [f"{p:04d}{n:03d}.png" for p in range(1, 972) for n in range(1, 5)])
    return root


def official_prid(root: Path) -> Path:
    write_names(root / "single_shot" / "cam_a", [f"person_{p:04d}.png" for p in range(1, 386)])
    write_names(root / "single_shot" / "cam_b", [f"person_{p:04d}.png" for p in range(1, 750)])
    return root


def official_sensereid(root: Path) -> Path:
    """'<pid>_<camid>.jpg': a person's k-th probe image has camid k, its k-th gallery image k + 2
    (the release's camera numbers are not published; 4 here)."""
    def names(pids: int, images: int, first: int) -> list[str]:
        return [f"{p:07d}_{first + n // pids}.jpg" for p, _, n in spread(list(range(pids)), images, [0])]

    write_names(root / "test_probe", names(522, 1040, 0))
    write_names(root / "test_gallery", names(1717, 3388, 2))
    return root


def official_cuhksysu(root: Path) -> Path:
    write_names(root / "cropped_images",
                [f"p{p:05d}_s{n:05d}_{n % 3}.jpg" for p, _, n in spread(list(range(1, 11935)), 34574, [0])])
    return root


def official_university1652(root: Path) -> Path:
    buildings = [f"{b:04d}" for b in range(1, 702)]
    drone = [f"{b}/image-{i:02d}.jpeg" for b in buildings for i in range(1, 55)]
    street = [f"{buildings[n % 701]}/{n:05d}.jpg" for n in range(11663)]
    write_names(root / "train" / "drone", drone)
    write_names(root / "train" / "satellite", [f"{b}/{b}.jpg" for b in buildings])
    write_names(root / "train" / "street", street)
    write_names(root / "train" / "google", [f"{b}/g.png" for b in buildings])  # not read
    test_buildings = [f"{b:04d}" for b in range(1001, 1952)]
    query = [f"{test_buildings[n % 701]}/image-{n // 701 + 1:02d}.jpeg" for n in range(37855)]
    write_names(root / "test" / "query_drone", query)
    write_names(root / "test" / "gallery_satellite", [f"{b}/{b}.jpg" for b in test_buildings])
    return root


CUHK03_PERSONS_PER_PAIR = (843, 440, 77, 58, 49)  # 1,467 persons over the five camera pairs
CUHK03_IMAGES = {"detected": 14097, "labeled": 14096}


def official_cuhk03_classic(root: Path, boxes: str = "detected") -> Path:
    """images_<boxes>/ of all of CUHK03's images (both views of every person) and the 20 classic
    test sets of 100 persons, as the reader leaves them after extracting cuhk-03.mat."""
    import json
    import random

    persons = [(pair, pid) for pair, count in enumerate(CUHK03_PERSONS_PER_PAIR, start=1)
               for pid in range(1, count + 1)]
    names = []
    for person, view, n in spread(list(range(len(persons))), CUHK03_IMAGES[boxes], [1, 2]):
        pair, pid = persons[person]
        names.append(cuhk03_name(pair, pid, view, 1 + n // (2 * len(persons)) + (5 if view == 2 else 0)))
    write_names(root / f"images_{boxes}", names)
    sets = [[list(p) for p in random.Random(k).sample(persons, 100)] for k in range(20)]
    (root / "cuhk03_classic_testsets.json").write_text(json.dumps(sets))
    return root


# MVB as read with split "test": the release's val part is the test split (probe = query).
MVB_OFFICIAL = dict(train_ids=4019, train_images=20176, query_ids=500, query_images=1052,
                    gallery_ids=500, gallery_images=1432, cameras=7)
MVB_MATERIALS = ("paperboard", "hard", "soft", "others")
# (first id, ids, gallery images, probe images) of the release's train and val parts
MVB_PARTS = {"train": (0, 4019, 11596, 8580), "val": (4019, 500, 1432, 1052)}


def mvb_name(pid: int, side: str, view: int) -> str:
    return f"{pid:04d}_{side}_{view}.jpg"


def mvb_metadata(path: Path, entries: Sequence[object]) -> Path:
    """A metadata file of the release: ``{"image": entries}``."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"image": list(entries)}))
    return path


def mvb_entry(name: str, material: str = "hard", **fields: object) -> dict[str, object]:
    """The release's entry of image ``name`` ('<id>_<g|p>_<view>.jpg'); ``fields`` override."""
    pid, side, _ = name.split("_", 2)
    return {"id": pid, "image_name": name, "material": material, "datatype": side, "dimsize": [640, 480],
            **fields}


def _mvb_views(first: int, ids: int, images: int, most: int) -> list[tuple[int, int]]:
    """(id, view) of ``images`` images of one side: 2 views per id, then up to ``most`` for the
    first ids until the count is reached."""
    extra = images - 2 * ids
    out = []
    for j in range(ids):
        more = min(most - 2, extra)
        extra -= more
        out += [(first + j, view) for view in range(1, 3 + more)]
    assert len(out) == images
    return out


def official_mvb(root: Path, layout: str = "official") -> Path:
    """MVB at the official size: the release (``official``: MVB_train/ and MVB_val/ with their
    metadata) or its Market-style conversion (``market``: bounding_box_train/, query/,
    bounding_box_test/). Gallery views 1..3, probe views 1..4 (7 training cameras)."""
    parts = {}
    for part, (first, ids, gallery, probe) in MVB_PARTS.items():
        parts[part] = {"g": [mvb_name(p, "g", v) for p, v in _mvb_views(first, ids, gallery, 3)],
                       "p": [mvb_name(p, "p", v) for p, v in _mvb_views(first, ids, probe, 4)]}
    train = parts["train"]["g"] + parts["train"]["p"]
    if layout == "market":
        return named_splits(root, {"bounding_box_train": train, "query": parts["val"]["p"],
                                   "bounding_box_test": parts["val"]["g"]})
    write_names(root / "MVB_train" / "Image", train)
    mvb_metadata(root / "MVB_train" / "Info" / "train.json",
                 [mvb_entry(n, MVB_MATERIALS[i % 4], image_id=i) for i, n in enumerate(train)])
    for side, folder in (("g", "gallery"), ("p", "probe")):
        names = parts["val"][side]
        write_names(root / "MVB_val" / "Image" / folder, names)
        mvb_metadata(root / "MVB_val" / "Info" / f"val_{folder}.json",
                     [mvb_entry(n, MVB_MATERIALS[i % 4]) for i, n in enumerate(names)])
    return root
