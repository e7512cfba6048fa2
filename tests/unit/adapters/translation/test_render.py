"""Rendering a dataset through a generator (GeneratorTranslator) and keeping the rendering
(MarketRendering): the rendered folder is a Market dataset with the source's identities, cameras
and file names, made deterministically, with a manifest saying what made it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from reidkit.adapters.data.market import GALLERY_DIR, QUERY_DIR, TRAIN_DIR, read_market
from reidkit.adapters.translation.networks import ResnetGenerator, init_gan_weights
from reidkit.adapters.translation.render import MANIFEST, GeneratorTranslator, MarketRendering, read_manifest
from reidkit.domain.errors import DatasetError
from reidkit.domain.ports import TranslatedDataset, Translator
from reidkit.domain.types import ImageRecord
from tests.support.dataset_trees import market_name
from tests.support.market_folders import market_images

H, W = 32, 16
SPLITS = (TRAIN_DIR, QUERY_DIR, GALLERY_DIR)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """Three train identities over cameras 1-3; two test identities, queried under camera 1 and
    found under cameras 2 and 3."""
    files = {
        TRAIN_DIR: [market_name(pid, cam, n) for n, (pid, cam) in enumerate(
            [(1, 1), (1, 2), (2, 2), (2, 3), (3, 1), (3, 3), (3, 2)])],
        QUERY_DIR: [market_name(pid, 1, 100 + pid) for pid in (4, 5)],
        GALLERY_DIR: [market_name(pid, cam, 200 + 10 * pid + cam) for pid in (4, 5) for cam in (2, 3)],
    }
    return market_images(tmp_path / "source", files, size=(10, 20))


def generator(seed: int = 0) -> ResnetGenerator:
    net = ResnetGenerator(blocks=1, width=4)
    init_gan_weights(net, seed=seed)
    return net


class Negate(nn.Module):
    """A generator whose output is known: the negative image (255 - p per 8-bit channel)."""

    def __init__(self) -> None:
        super().__init__()
        self.modes: list[bool] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        return -images


def profile(records) -> Counter:  # noqa: ANN001 - a split
    return Counter((r.pid, r.camid) for r in records)


# -- GeneratorTranslator ---------------------------------------------------------------------------


def test_each_record_becomes_one_image_of_the_generators_size_with_its_file_name(source, tmp_path):
    records = read_market(source, domain="duke").train
    records = tuple(attrs.evolve(r, dataset=i % 2) for i, r in enumerate(records))
    seen: list[tuple[int, int]] = []
    translator = GeneratorTranslator(generator(), height=H, width=W, batch_size=3, progress=lambda d, t: seen.append((d, t)))
    assert isinstance(translator, Translator)
    out = tmp_path / "out" / TRAIN_DIR

    rendered = translator.translate(records, str(out))

    assert len(rendered) == len(records) == 7
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(r.path).name for r in records)  # nothing else
    for original, new in zip(records, rendered, strict=True):
        assert Path(new.path) == (out / Path(original.path).name).absolute()
        assert new.path != original.path
        assert (new.pid, new.camid, new.domain, new.dataset) == (original.pid, original.camid, "duke", original.dataset)
        with Image.open(new.path) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (W, H))
    assert seen == [(3, 7), (6, 7), (7, 7)]


def test_the_rendered_pixels_are_the_generators_output(tmp_path):
    # PNG keeps the pixels exactly: a flat colour, resized, negated, is its complement.
    folder = tmp_path / "flat"
    folder.mkdir()
    Image.new("RGB", (10, 20), (10, 200, 60)).save(folder / "0001_c1s1_000001_00.png")
    record = ImageRecord(str(folder / "0001_c1s1_000001_00.png"), pid=0, camid=0)
    net = Negate()
    (new,) = GeneratorTranslator(net, height=H, width=W).translate([record], str(tmp_path / "out"))
    with Image.open(new.path) as image:
        assert image.format == "PNG" and image.size == (W, H)
        pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.int64)).reshape(-1, 3)
    assert torch.all((pixels - torch.tensor([245, 55, 195])).abs() <= 1)
    assert net.modes == [False]  # the generator ran in eval mode


def test_rendering_all_splits_gives_a_market_dataset_like_the_source(source, tmp_path):
    original = read_market(source, domain="source")
    translator = GeneratorTranslator(generator(), height=H, width=W, batch_size=4)
    root = tmp_path / "rendered"
    for folder, records in zip(SPLITS, (original.train, original.query, original.gallery), strict=True):
        translator.translate(records, str(root / folder))

    rendered = read_market(root, domain="source")
    for before, after in [(original.train, rendered.train), (original.query, rendered.query),
                          (original.gallery, rendered.gallery)]:
        assert profile(after) == profile(before)
        assert sorted(Path(r.path).name for r in after) == sorted(Path(r.path).name for r in before)
    assert {r.camid for r in rendered.train} == {0, 1, 2}


def test_same_weights_render_byte_identical_files(source, tmp_path):
    records = read_market(source).gallery
    first = GeneratorTranslator(generator(seed=3), height=H, width=W, batch_size=3).translate(records, str(tmp_path / "a"))
    # Another module with the same weights, another batch size: the same bytes.
    second = GeneratorTranslator(generator(seed=3), height=H, width=W, batch_size=2).translate(records, str(tmp_path / "b"))
    other = GeneratorTranslator(generator(seed=4), height=H, width=W).translate(records, str(tmp_path / "c"))
    for a, b, c in zip(first, second, other, strict=True):
        assert Path(a.path).read_bytes() == Path(b.path).read_bytes()
        assert Path(a.path).read_bytes() != Path(c.path).read_bytes()


@pytest.mark.parametrize("training", [True, False])
def test_the_generator_is_left_in_the_mode_it_came_in(source, tmp_path, training):
    net = generator()
    net.train(training)
    modes: list[bool] = []
    net.register_forward_hook(lambda module, inputs, output: modes.append(module.training))
    GeneratorTranslator(net, height=H, width=W, batch_size=4).translate(read_market(source).query, str(tmp_path / "q"))
    assert modes == [False]
    assert net.training is training
    assert all(m.training is training for m in net.modules())


def test_the_mode_is_restored_when_rendering_fails(tmp_path):
    net = generator().train()
    missing = ImageRecord(str(tmp_path / "0001_c1s1_000001_00.jpg"), pid=0, camid=0)
    with pytest.raises(Exception, match="does not exist"):
        GeneratorTranslator(net, height=H, width=W).translate([missing], str(tmp_path / "out"))
    assert net.training


def test_two_records_with_one_file_name_are_a_one_line_dataset_error(source, tmp_path):
    query = read_market(source).query
    twin = attrs.evolve(query[0], path=str(tmp_path / "elsewhere" / Path(query[0].path).name))
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=Path(query[0].path).name) as error:
        GeneratorTranslator(generator(), height=H, width=W).translate([*query, twin], str(out))
    assert "\n" not in str(error.value)
    assert not any(out.iterdir())  # refused before anything was written


def test_a_name_of_another_format_is_a_one_line_dataset_error(source, tmp_path):
    query = read_market(source).query
    bmp = attrs.evolve(query[0], path=str(tmp_path / "0004_c1s1_000104_00.bmp"))
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=r"0004_c1s1_000104_00\.bmp") as error:
        GeneratorTranslator(generator(), height=H, width=W).translate([query[1], bmp], str(out))
    assert "\n" not in str(error.value)
    assert not any(out.iterdir())


def test_translator_settings_are_checked():
    with pytest.raises(ValueError, match="batch_size"):
        GeneratorTranslator(generator(), height=H, width=W, batch_size=0)
    with pytest.raises(ValueError, match="quality"):
        GeneratorTranslator(generator(), height=H, width=W, quality=101)


# -- MarketRendering ---------------------------------------------------------------------------------


def _pairs(source: Path, out: Path) -> dict[str, tuple[tuple[ImageRecord, ImageRecord], ...]]:
    original = read_market(source)
    translator = GeneratorTranslator(generator(), height=H, width=W)
    rendering = MarketRendering(out)
    pairs = {}
    for folder, records in zip(SPLITS, (original.train, original.query, original.gallery), strict=True):
        rendered = translator.translate(records, rendering.split_dir(folder))
        pairs[folder] = tuple(zip(records, rendered, strict=True))
    return pairs


def test_a_rendering_is_current_only_after_publishing_with_the_same_maker(source, tmp_path):
    root = tmp_path / "rendered"
    rendering = MarketRendering(root, source="market", target="duke")
    assert isinstance(rendering, TranslatedDataset)
    assert rendering.split_dir(QUERY_DIR) == str(root / QUERY_DIR)
    assert not rendering.is_current("translator after epoch 2")

    pairs = _pairs(source, root)
    assert not rendering.is_current("translator after epoch 2")  # images without a manifest
    rendering.publish(pairs, "translator after epoch 2")
    assert rendering.is_current("translator after epoch 2")
    assert MarketRendering(root).is_current("translator after epoch 2")  # read from the folder
    assert not rendering.is_current("translator after epoch 3")
    assert not any(p.name.endswith(".tmp") for p in root.iterdir())


def test_the_manifest_lists_each_split_and_its_file_pairs(source, tmp_path):
    root = tmp_path / "rendered"
    pairs = _pairs(source, root)
    MarketRendering(root, source="market", target="duke").publish(pairs, "translator after epoch 4")

    manifest = read_manifest(root)
    assert manifest == json.loads((root / MANIFEST).read_text())
    assert (manifest["made_by"], manifest["source_domain"], manifest["style_of"]) == (
        "translator after epoch 4", "market", "duke")
    assert set(manifest["splits"]) == set(SPLITS)
    expected = {TRAIN_DIR: (7, 3, [1, 2, 3]), QUERY_DIR: (2, 2, [1]), GALLERY_DIR: (4, 2, [2, 3])}
    for folder, (images, identities, cameras) in expected.items():
        split = manifest["splits"][folder]
        assert (split["images"], split["identities"], split["cameras"]) == (images, identities, cameras), folder
        assert split["files"] == [[Path(new.path).name, old.path] for old, new in pairs[folder]]
        for name, original in split["files"]:
            assert (root / folder / name).is_file()
            assert Path(original).parent == source / folder


def test_read_manifest_of_a_folder_without_one(tmp_path):
    with pytest.raises(DatasetError) as error:
        read_manifest(tmp_path)
    assert str(tmp_path / MANIFEST) in str(error.value)
    assert "\n" not in str(error.value)
    assert read_manifest(tmp_path, missing_ok=True) is None
    assert read_manifest(tmp_path / "absent", missing_ok=True) is None


def test_an_unreadable_manifest_is_a_dataset_error(tmp_path):
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(DatasetError, match="cannot read"):
        read_manifest(tmp_path)
