"""adapters/data/analysis.py: the numbers of ``analyze`` on hand-made datasets, the charts it
writes (valid PNGs, material and view charts only with that metadata) and what analysis.md says."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from reidkit.adapters.data.analysis import CHARTS, REPORT, SplitCount, analyze
from reidkit.domain.types import ImageRecord, ReidDataset, Tracklet

PNG = b"\x89PNG\r\n\x1a\n"


def _image(folder: Path, name: str, size: tuple[int, int]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 150)).save(folder / name)
    return str(folder / name)


def _bag(folder: Path, pid: int, side: str, view: int, material: str, size: tuple[int, int] = (32, 24)) -> ImageRecord:
    """An MVB-like record: attributes side/view/material, camid as the MVB reader gives in test."""
    path = _image(folder, f"{pid:04d}_{side[0]}_{view}.png", size)
    return ImageRecord(path, pid, 0 if side == "probe" else 1, attributes={"material": material, "side": side,
                                                                          "view": str(view)})


@pytest.fixture
def baggage(tmp_path: Path) -> ReidDataset:
    """train: bag 0 (hard) g1 g2 p1, bag 1 (soft) g1 p1 p2; query (probe): bag 10 p1 (paperboard),
    bag 11 p1 p2 (hard); gallery: bag 10 g1 g2, bag 11 g3, bag 12 g1 (others, no probe)."""
    t, q, g = tmp_path / "train", tmp_path / "query", tmp_path / "gallery"
    train = [_bag(t, 0, "gallery", 1, "hard"), _bag(t, 0, "gallery", 2, "hard"), _bag(t, 0, "probe", 1, "hard"),
             _bag(t, 1, "gallery", 1, "soft"), _bag(t, 1, "probe", 1, "soft", (40, 30)), _bag(t, 1, "probe", 2, "soft")]
    query = [_bag(q, 10, "probe", 1, "paperboard"), _bag(q, 11, "probe", 1, "hard"), _bag(q, 11, "probe", 2, "hard")]
    gallery = [_bag(g, 10, "gallery", 1, "paperboard"), _bag(g, 10, "gallery", 2, "paperboard"),
               _bag(g, 11, "gallery", 3, "hard"), _bag(g, 12, "gallery", 1, "others")]
    return ReidDataset("bags", train, query, gallery)


@pytest.fixture
def plain(tmp_path: Path) -> ReidDataset:
    """Market-like: no attributes. train 0 x2, 1 x1; query 5, 6; gallery 5 x2, 0 (distractor)."""
    folder = tmp_path / "plain"
    record = lambda name, pid, cam: ImageRecord(_image(folder, name, (10, 20)), pid, cam)  # noqa: E731
    train = [record("t0a.jpg", 0, 0), record("t0b.jpg", 0, 1), record("t1a.jpg", 1, 0)]
    query = [record("q5.jpg", 5, 0), record("q6.jpg", 6, 0)]
    gallery = [record("g5a.jpg", 5, 1), record("g5b.jpg", 5, 2), record("g0.jpg", 0, 1)]
    return ReidDataset("plain", train, query, gallery)


def _section(text: str, heading: str) -> str:
    start = text.index(f"## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def _is_png(path: Path) -> bool:
    if path.read_bytes()[:8] != PNG:
        return False
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.size[0] > 100 and image.size[1] > 100


def test_headline_numbers_of_a_baggage_dataset(baggage: ReidDataset, tmp_path: Path) -> None:
    report = analyze(baggage, tmp_path / "out", title="bags")
    assert report.splits == (
        SplitCount(split="train", identities=2, images=6),
        SplitCount(split="query", identities=2, images=3),
        SplitCount(split="gallery", identities=3, images=4),
    )
    assert (report.probe_images, report.gallery_images) == (3, 4)
    assert report.sides_from == "side attribute"
    assert report.materials == (("hard", 6), ("others", 1), ("paperboard", 3), ("soft", 3))
    assert report.views == (("gallery", "1", 4), ("gallery", "2", 2), ("gallery", "3", 1), ("probe", "1", 4),
                            ("probe", "2", 2))
    assert (report.sizes_measured, report.sizes_unreadable) == (13, 0)
    assert report.skipped == ()
    assert [p.name for p in report.charts] == [
        "splits.png", "images_per_identity.png", "probe_gallery_balance.png", "materials.png", "views.png",
        "image_sizes.png", "split_comparison.png",
    ]
    assert all(_is_png(p) for p in report.charts)
    assert report.report == tmp_path / "out" / REPORT


def test_the_report_has_each_statistics_numbers_and_links_its_charts(baggage: ReidDataset, tmp_path: Path) -> None:
    report = analyze(baggage, tmp_path / "out", title="MVB-like bags")
    text = report.report.read_text(encoding="utf-8")
    assert text.startswith("# MVB-like bags\n")
    for chart in report.charts:
        assert f"]({chart.name})" in text
    assert "| test (query + gallery) | 3 | 7 |" in text
    per_identity = _section(text, "Images per identity")
    assert "| train | 2 | 3 | 3 | 3 | 3 |" in per_identity
    assert "| gallery | 3 | 1 | 1 | 1.33 | 2 |" in per_identity
    balance = _section(text, "Probe/gallery balance per identity")
    assert "`side` attribute" in balance
    # part | identities | both | probe only | gallery only | probe | gallery | probe/id | gallery/id
    assert "| train | 2 | 2 | 0 | 0 | 3 | 3 | 1.50 | 1.50 |" in balance
    assert "| test | 3 | 2 | 0 | 1 | 3 | 4 | 1 | 1.33 |" in balance
    materials = _section(text, "Materials")
    # material | train, query, gallery images | train, query, gallery identities (by its main material)
    assert "| hard | 3 | 2 | 1 | 1 | 1 | 1 |" in materials
    assert "| paperboard | 0 | 1 | 2 | 0 | 1 | 1 |" in materials
    views = _section(text, "Views by capture side")
    assert "| gallery | 1 | 2 | 2 |" in views
    assert "| probe | 2 | 1 | 1 |" in views
    comparison = _section(text, "Train against test")
    assert "| images per identity | 3 | 2.33 |" in comparison
    assert "| probe images | 3 | 3 |" in comparison
    assert "| gallery images | 3 | 4 |" in comparison
    sizes = _section(text, "Image sizes")
    assert "| train | 6 | 0 | 32–32–40 | 24–24–30 | 32x24 (5) |" in sizes


def test_without_material_or_view_those_charts_are_absent_and_the_report_says_so(plain: ReidDataset,
                                                                                  tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = analyze(plain, out, title="plain")
    assert report.materials == () and report.views == ()
    assert report.sides_from == "query/gallery split"
    assert not (out / CHARTS["materials"]).exists() and not (out / CHARTS["views"]).exists()
    assert sorted(p.name for p in out.glob("*.png")) == sorted(p.name for p in report.charts)
    assert len(report.charts) == 5 and all(_is_png(p) for p in report.charts)
    assert report.skipped == ("materials: no record has a `material` attribute",
                              "views: no record has a `view` attribute")
    text = report.report.read_text(encoding="utf-8")
    assert "Not drawn, for want of metadata:" in text
    assert "- materials: no record has a `material` attribute" in text
    assert "## Materials" not in text and "## Views" not in text
    balance = _section(text, "Probe/gallery balance per identity")
    assert "query images are probes" in balance
    # test only: ids 0 (gallery only), 5 (1 probe, 2 gallery), 6 (probe only)
    assert "| test | 3 | 1 | 1 | 1 | 2 | 3 | 0.67 | 1 |" in balance
    assert "| train |" not in balance
    assert "| probe images | — | 2 |" in _section(text, "Train against test")


def test_records_without_a_material_are_counted_apart(baggage: ReidDataset, tmp_path: Path) -> None:
    record = ImageRecord(baggage.gallery[0].path, 13, 1, attributes={"side": "gallery", "view": "1"})
    data = ReidDataset("bags", baggage.train, baggage.query, (*baggage.gallery, record))
    report = analyze(data, tmp_path / "out", title="bags")
    assert ("(none)", 1) in report.materials
    assert "| (none) | 0 | 0 | 1 |" in report.report.read_text(encoding="utf-8")


def test_sizes_are_measured_on_a_seeded_sample_and_unreadable_files_are_counted(plain: ReidDataset,
                                                                                tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    data = ReidDataset("plain", plain.train, plain.query, (*plain.gallery, ImageRecord(str(broken), 7, 0)))
    first = analyze(data, tmp_path / "a", title="plain", sample=2, seed=3)
    again = analyze(data, tmp_path / "b", title="plain", sample=2, seed=3)
    assert first.sizes_measured + first.sizes_unreadable == 6  # 2 per split
    text = first.report.read_text(encoding="utf-8")
    assert "at most 2 images per split" in text and "(seed 3)" in text
    assert text == again.report.read_text(encoding="utf-8")
    for name in CHARTS.values():  # the same data draws the same files
        if (tmp_path / "a" / name).exists():
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    everything = analyze(data, tmp_path / "c", title="plain")
    assert (everything.sizes_measured, everything.sizes_unreadable) == (8, 1)
    assert f"the first: `{broken}`" in everything.report.read_text(encoding="utf-8")


def test_a_video_dataset_counts_tracklets(tmp_path: Path) -> None:
    frames = [_image(tmp_path / "v", f"f{i}.jpg", (16, 32)) for i in range(4)]
    train = [Tracklet(frames[:2], 0, 0), Tracklet(frames[2:], 0, 1)]
    data = ReidDataset("video", train, [Tracklet(frames[:1], 3, 0)], [Tracklet(frames[1:], 3, 1)])
    report = analyze(data, tmp_path / "out", title="video")
    assert report.splits[0] == SplitCount(split="train", identities=1, images=2)
    text = report.report.read_text(encoding="utf-8")
    assert "| split | identities | tracklets |" in text and "first frame" in text
    assert report.sizes_measured == 4


def test_a_sample_below_one_is_refused(plain: ReidDataset, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sample must be at least 1"):
        analyze(plain, tmp_path / "out", title="plain", sample=0)


def test_matplotlib_is_imported_only_when_charts_are_drawn() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import reidkit.entrypoints.cli as cli\n"
        "cli.build_parser()\n"
        "import reidkit.adapters.data.analysis\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[4])
