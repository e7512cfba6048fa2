"""The synthetic baggage data (issue 21): MVB's layout and metadata, a box and a mask per image,
a gallery/probe domain gap, the same bytes for the same seed, cached once."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reidkit.adapters.data import synth_baggage
from reidkit.adapters.data.synth_baggage import (
    BAGGAGE_PRESETS,
    MATERIALS,
    BaggagePreset,
    ensure_synthetic_baggage,
    generate_baggage,
)

SPLITS = ("bounding_box_train", "query", "bounding_box_test")
NAME = re.compile(r"^(\d{4})_([gp])_(\d)\.jpg$")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_synthetic_baggage("tiny_baggage", 0, tmp_path_factory.mktemp("cache"), workers=1)


def _digest(root: Path) -> dict[str, str]:
    return {
        os.path.relpath(os.path.join(top, name), root): hashlib.sha256(Path(top, name).read_bytes()).hexdigest()
        for top, _, files in os.walk(root)
        for name in files
    }


def _names(root: Path, split: str) -> list[str]:
    return sorted(os.listdir(root / split))


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_images(tiny: Path, tmp_path: Path) -> None:
    again = generate_baggage("tiny_baggage", 0, tmp_path / "again", workers=2)  # workers change nothing
    assert _digest(again) == _digest(tiny)
    other = _digest(generate_baggage("tiny_baggage", 1, tmp_path / "other", workers=1))
    first = _digest(tiny)
    shared = [n for n in set(first) & set(other) if n.endswith(".jpg")]
    assert shared and all(first[n] != other[n] for n in shared)


def test_the_layout_counts_and_names_follow_mvb(tiny: Path) -> None:
    spec = BAGGAGE_PRESETS["tiny_baggage"]
    manifest = json.loads((tiny.parent / "manifest.json").read_text())
    assert (manifest["preset"], manifest["seed"], manifest["spec_digest"]) == ("tiny_baggage", 0, spec.digest())
    sides: dict[str, Counter] = {split: Counter() for split in SPLITS}
    ids: dict[str, set[int]] = {split: set() for split in SPLITS}
    per_bag: Counter = Counter()
    for split in SPLITS:
        names = _names(tiny, split)
        assert len(names) == manifest["images"][split]
        for name in names:
            match = NAME.match(name)
            assert match, name
            pid, side, view = int(match.group(1)), match.group(2), int(match.group(3))
            assert 1 <= view <= (3 if side == "g" else 4)
            sides[split][side] += 1
            ids[split].add(pid)
            per_bag[pid] += 1
    assert ids["bounding_box_train"] == set(range(1, 17))
    assert ids["query"] == ids["bounding_box_test"] == set(range(17, 25))
    assert sides["query"] == Counter(p=sides["query"]["p"]) and sides["bounding_box_test"] == Counter(g=sides["bounding_box_test"]["g"])
    assert sides["bounding_box_train"]["g"] > sides["bounding_box_train"]["p"] > 0  # ~2.9 gallery, ~2.1 probe a bag
    assert 4.0 <= np.mean(list(per_bag.values())) <= 6.0 and min(per_bag.values()) >= 2
    views = Counter(NAME.match(n).group(2) + NAME.match(n).group(3) for s in SPLITS for n in _names(tiny, s))
    assert set(views) == {"g1", "g2", "g3", "p1", "p2", "p3", "p4"}
    with Image.open(tiny / "query" / _names(tiny, "query")[0]) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (64, 64))


def test_every_image_has_its_box_and_a_mask_inside_it(tiny: Path) -> None:
    boxes = json.loads((tiny / "boxes.json").read_text())
    assert set(boxes) == set(SPLITS)
    fractions = []
    for split in SPLITS:
        assert sorted(boxes[split]) == _names(tiny, split)
        for name, (x1, y1, x2, y2) in boxes[split].items():
            assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 64, (split, name)
            with Image.open(tiny / "masks" / split / (name[:-4] + ".png")) as mask:
                assert (mask.mode, mask.size) == ("L", (64, 64))
                pixels = np.asarray(mask)
            assert set(np.unique(pixels)) <= {0, 255}
            on = pixels == 255
            rows, cols = np.nonzero(on)
            assert rows.min() >= y1 and rows.max() < y2 and cols.min() >= x1 and cols.max() < x2, (split, name)
            fractions.append(on.sum() / ((x2 - x1) * (y2 - y1)))
    assert min(fractions) > 0.2 and np.median(fractions) > 0.6  # a bag fills most of its box


def test_probe_images_are_another_domain_than_gallery_images(tiny: Path) -> None:
    """The checkpoint's background is busier (variance and edges outside the mask) than the belt's."""

    def background(split: str, name: str) -> tuple[float, float]:
        with Image.open(tiny / split / name) as image:
            grey = np.asarray(image.convert("L"), dtype=np.float32)
        with Image.open(tiny / "masks" / split / (name[:-4] + ".png")) as mask:
            outside = np.asarray(mask) == 0
        edges = np.abs(np.diff(grey, axis=1))[outside[:, 1:]]
        return float(grey[outside].std()), float((edges > 25).mean())

    stats: dict[str, list[tuple[float, float]]] = {"g": [], "p": []}
    for split in SPLITS:
        for name in _names(tiny, split):
            stats[NAME.match(name).group(2)].append(background(split, name))
    gallery, probe = np.mean(stats["g"], axis=0), np.mean(stats["p"], axis=0)
    assert probe[0] > 2.0 * gallery[0]  # background spread
    assert probe[1] > 2.0 * gallery[1]  # edge density


def test_every_material_is_present_and_the_metadata_matches_the_files(tiny: Path) -> None:
    info = {part: json.loads((tiny / "Info" / name).read_text())["image"] for part, name in synth_baggage.INFO_FILES.items()}
    assert sorted(e["image_name"] for e in info["train"]) == _names(tiny, "bounding_box_train")
    assert sorted(e["image_name"] for e in info["gallery"]) == _names(tiny, "bounding_box_test")
    assert sorted(e["image_name"] for e in info["probe"]) == _names(tiny, "query")
    material_of: dict[str, str] = {}
    for entries in info.values():
        for entry in entries:
            assert set(entry) == {"id", "image_name", "material", "datatype", "dimsize"}
            assert entry["image_name"].startswith(entry["id"] + "_" + entry["datatype"] + "_")
            assert entry["dimsize"] == [64, 64] and entry["material"] in MATERIALS
            assert material_of.setdefault(entry["id"], entry["material"]) == entry["material"]  # one per bag
    assert set(material_of.values()) == set(MATERIALS)
    manifest = json.loads((tiny.parent / "manifest.json").read_text())
    assert manifest["materials"] == dict(sorted(Counter(material_of.values()).items()))


def test_a_cached_copy_is_reused_and_a_changed_spec_regenerates(tiny: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stamp = os.stat(tiny / "query" / _names(tiny, "query")[0]).st_mtime_ns

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a complete cached copy was generated again")

    with monkeypatch.context() as patch:
        patch.setattr(synth_baggage, "generate_baggage", refuse)
        assert ensure_synthetic_baggage("tiny_baggage", 0, tiny.parent.parent) == tiny
    assert os.stat(tiny / "query" / _names(tiny, "query")[0]).st_mtime_ns == stamp

    small = BaggagePreset("tiny_baggage", 48, num_train_ids=3, num_test_ids=2)  # same name, another spec
    (tmp_path / "tiny_baggage-seed0").mkdir()  # holding the manifest of the built-in spec
    (tmp_path / "tiny_baggage-seed0" / "manifest.json").write_bytes((tiny.parent / "manifest.json").read_bytes())
    root = ensure_synthetic_baggage(small, 0, tmp_path, workers=1)
    assert json.loads((root.parent / "manifest.json").read_text())["spec_digest"] == small.digest()
    assert {n[:4] for n in _names(root, "bounding_box_train")} == {"0001", "0002", "0003"}
    with Image.open(root / "query" / _names(root, "query")[0]) as image:
        assert image.size == (48, 48)


def test_an_incomplete_copy_is_regenerated(tmp_path: Path) -> None:
    spec = BaggagePreset("mini", 48, num_train_ids=2, num_test_ids=1)
    root = ensure_synthetic_baggage(spec, 3, tmp_path, workers=1)
    complete = _digest(root)
    next((root / "masks" / "query").iterdir()).unlink()  # as if a copy was interrupted
    assert ensure_synthetic_baggage(spec, 3, tmp_path, workers=1) == root
    assert _digest(root) == complete


def test_a_baggage_preset_is_one_domain_mvb_read_by_the_mvb_reader(tiny: Path) -> None:
    from reidkit.entrypoints.parts.data import synthetic_domains

    domains = synthetic_domains("tiny_baggage", 0, str(tiny.parent.parent), quiet=True)
    assert list(domains) == ["mvb"]
    data = domains["mvb"]
    images = json.loads((tiny.parent / "manifest.json").read_text())["images"]
    assert data.summary() == dict(train_ids=16, train_images=images["bounding_box_train"], query_ids=8,
                                  query_images=images["query"], gallery_ids=8,
                                  gallery_images=images["bounding_box_test"], cameras=7)  # fmt: skip
    assert {r.attribute("side") for r in data.query} == {"probe"} and {r.attribute("side") for r in data.gallery} == {"gallery"}
    info = json.loads((tiny / "Info" / "train.json").read_text())["image"]
    material = {e["image_name"]: e["material"] for e in info}
    assert all(r.attribute("material") == material[os.path.basename(r.path)] for r in data.train)
    assert {r.attribute("material") for r in (*data.train, *data.query)} == set(MATERIALS)
