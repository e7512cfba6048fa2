"""``reidkit data analyze`` through the command line: a fabricated Market tree and a fabricated
MVB tree (Market-style folders with the release's metadata for the material) give their charts
and analysis.md; the default folder is runs/analysis/<root's name>; bad input is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from reidkit.entrypoints.cli import main
from tests.support.dataset_trees import mvb_entry, mvb_metadata, mvb_name
from tests.support.market_folders import market_images

MARKET = {
    "bounding_box_train": ["0002_c1s1_000151_01.jpg", "0002_c2s1_000301_01.jpg", "0007_c3s1_000551_01.jpg"],
    "query": ["0011_c1s1_001051_00.jpg", "0012_c2s1_001201_00.jpg"],
    "bounding_box_test": ["0011_c2s1_001101_01.jpg", "0011_c3s1_001151_01.jpg", "0012_c1s1_001251_01.jpg",
                          "0000_c1s1_001301_01.jpg"],
}
CHARTS = ["splits.png", "images_per_identity.png", "probe_gallery_balance.png", "image_sizes.png",
          "split_comparison.png"]


def _market(tmp_path: Path) -> Path:
    return market_images(tmp_path / "market1501", MARKET, size=(64, 128))


def _pngs(folder: Path) -> list[str]:
    names = sorted(p.name for p in folder.glob("*.png"))
    for name in names:
        with Image.open(folder / name) as image:
            image.verify()
    return names


def test_a_market_tree_gives_its_charts_and_report(tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert main(["data", "analyze", "--root", str(_market(tmp_path)), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| train | 2 | 3 |" in printed and "| test (query + gallery) | 3 | 6 |" in printed
    assert f"report: {out / 'analysis.md'}" in printed
    assert "not drawn: materials: no record has a `material` attribute" in printed
    assert _pngs(out) == sorted(CHARTS)
    text = (out / "analysis.md").read_text(encoding="utf-8")
    assert text.startswith("# Analysis of market1501 (market layout)\n")
    assert "| test | 3 | 2 | 0 | 1 | 2 | 4 | 0.67 | 1.33 |" in text  # 11: 1 probe/2 gallery, 12: 1/1, 0: 0/1
    assert "| train | 3 | 0 | 64–64–64 | 128–128–128 | 64x128 (3) |" in text


def test_by_default_the_report_goes_under_runs_analysis_not_into_the_dataset(tmp_path: Path, monkeypatch,
                                                                            capsys) -> None:
    root = _market(tmp_path / "data")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert main(["data", "analyze", "--root", str(root)]) == 0
    assert (work / "runs" / "analysis" / "market1501" / "analysis.md").is_file()
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_an_mvb_tree_gets_material_and_view_charts(tmp_path: Path, capsys) -> None:
    images = {
        "bounding_box_train": [mvb_name(1, "g", 1), mvb_name(1, "g", 2), mvb_name(1, "p", 1), mvb_name(2, "g", 1),
                               mvb_name(2, "p", 1), mvb_name(2, "p", 3)],
        "query": [mvb_name(20, "p", 1), mvb_name(21, "p", 2)],
        "bounding_box_test": [mvb_name(20, "g", 1), mvb_name(20, "g", 3), mvb_name(21, "g", 2)],
    }
    root = market_images(tmp_path / "MVB", images, size=(80, 60))
    materials = {1: "hard", 2: "soft", 20: "paperboard", 21: "hard"}
    names = [n for split in images.values() for n in split]
    mvb_metadata(root / "Info" / "train.json", [mvb_entry(n, materials[int(n[:4])]) for n in names])
    out = tmp_path / "report"
    assert main(["data", "analyze", "--root", str(root), "--layout", "mvb", "--out", str(out), "--quiet"]) == 0
    assert "not drawn" not in capsys.readouterr().out
    assert _pngs(out) == sorted([*CHARTS, "materials.png", "views.png"])
    text = (out / "analysis.md").read_text(encoding="utf-8")
    assert "`side` attribute" in text
    assert "| train | 2 | 2 | 0 | 0 | 3 | 3 | 1.50 | 1.50 |" in text
    assert "| hard | 3 | 1 | 1 | 1 | 1 | 1 |" in text  # images train/query/gallery, then identities
    assert "| probe | 3 | 1 | 0 |" in text  # probe view 3: one train image


def test_an_unknown_layout_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert main(["data", "analyze", "--root", str(_market(tmp_path)), "--layout", "nosuch", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("reidkit: --layout 'nosuch' is no dataset layout; the layouts are: ")
    assert "market" in err[0] and "mvb" in err[0]
    assert not out.exists()


def test_a_root_of_another_layout_is_the_readers_line(tmp_path: Path, capsys) -> None:
    root = _market(tmp_path)
    assert main(["data", "analyze", "--root", str(root), "--layout", "veri", "--out", str(tmp_path / "r")]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"reidkit: {root} does not have the VeRi-776 layout")


@pytest.mark.slow
def test_the_embedded_baggage_data_gets_every_chart(tmp_path: Path, capsys) -> None:
    """Issue 21's proof: the embedded baggage data (MVB layout with materials) analysed."""
    assert main(["data", "synth", "--preset", "tiny_baggage", "--out", str(tmp_path / "synth"), "--quiet"]) == 0
    root = tmp_path / "synth" / "tiny_baggage-seed0" / "mvb"
    out = tmp_path / "report"
    assert main(["data", "analyze", "--root", str(root), "--layout", "mvb", "--out", str(out), "--quiet"]) == 0
    assert _pngs(out) == sorted([*CHARTS, "materials.png", "views.png"])
    text = (out / "analysis.md").read_text(encoding="utf-8")
    for material in ("hard", "soft", "paperboard", "others"):
        assert f"| {material} |" in text
    assert "| probe | 4 |" in text and "| gallery | 3 |" in text  # MVB's views: probe 1..4, gallery 1..3
