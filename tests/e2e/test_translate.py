"""``reidkit translate`` end to end on the tiny preset: train a translator and render the source,
render any folder of images with the trained one, the one-line errors of that mode, the run
folder commands refusing a translation run, and `reidkit train` on SPGAN's protocol running (then
reusing) its translation first."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from reidkit.adapters.data.synth import ensure_synthetic
from reidkit.entrypoints.cli import main
from reidkit.entrypoints.settings import load_profile, profile_toml
from tests.support.tiny import as_sets, tiny_overrides

SPLITS = ("bounding_box_train", "query", "bounding_box_test")
# 64x32 rather than the preset's square 64x64, so that a rendering with height and width swapped shows
CYCLEGAN = ("input.height=64", "input.width=32", "runtime.threads=1", "input.num_workers=0")


def translate_sets(tiny_data: Path, *extra: str) -> list[str]:
    return as_sets(["data.preset='tiny'", f"data.cache_dir='{tiny_data}'", *extra])


@pytest.fixture(scope="module")
def cyclegan_run(tiny_data, tmp_path_factory) -> tuple[Path, int, str]:
    """`reidkit translate --profile cyclegan` on the tiny preset: its folder, exit code and stdout."""
    run_dir = tmp_path_factory.mktemp("cyclegan") / "run"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["translate", "--profile", "cyclegan", "--work-dir", str(run_dir), "--quiet", *translate_sets(tiny_data, *CYCLEGAN)])
    return run_dir, code, out.getvalue()


@pytest.fixture
def images(tiny_data, tmp_path) -> Path:
    """A folder of two sub-folders holding a few tiny source images (and a file that is no image)."""
    train = sorted((ensure_synthetic("tiny", 0, tiny_data)["source"] / "bounding_box_train").glob("*.jpg"))
    folder = tmp_path / "images"
    for sub, files in (("first", train[:3]), ("second/deeper", train[3:5])):
        (folder / sub).mkdir(parents=True)
        for path in files:
            shutil.copy(path, folder / sub / path.name)
    (folder / "notes.txt").write_text("not an image")
    return folder


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("reidkit: ") and err.count("\n") == 1, err
    return err


@pytest.mark.slow
def test_translate_trains_and_prints_the_translated_folder(cyclegan_run, tiny_data):
    run_dir, code, out = cyclegan_run
    assert code == 0
    assert f"the source in the target's style: {run_dir / 'translated'}" in out
    assert (run_dir / "translated" / "manifest.json").is_file()
    source = ensure_synthetic("tiny", 0, tiny_data)["source"]
    for split in SPLITS:
        wanted = sorted(p.name for p in (source / split).glob("*.jpg") if not p.name.startswith("-1"))
        assert sorted(p.name for p in (run_dir / "translated" / split).iterdir()) == wanted
    with Image.open(next((run_dir / "translated" / "query").iterdir())) as rendered:
        assert rendered.size == (32, 64)  # width, height


@pytest.mark.slow
def test_a_trained_translator_renders_a_folder_keeping_relative_names_at_its_input_size(cyclegan_run, images, tmp_path, capsys):
    run_dir = cyclegan_run[0]
    out = tmp_path / "out"
    assert main(["translate", "--run", str(run_dir), "--images", str(images), "--out", str(out), "--quiet"]) == 0
    wanted = sorted(str(p.relative_to(images)) for p in images.rglob("*.jpg"))
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == wanted
    for name in wanted:
        with Image.open(out / name) as rendered:
            assert rendered.size == (32, 64)
    assert f"rendered 5 images of {images} into {out}" in capsys.readouterr().out


def test_rendering_needs_run_images_and_out_together(tmp_path, capsys):
    assert main(["translate", "--run", str(tmp_path)]) == 2
    assert "needs --run, --images and --out together" in one_line_error(capsys)


@pytest.mark.slow
def test_rendering_refuses_out_equal_to_images(cyclegan_run, images, capsys):
    assert main(["translate", "--run", str(cyclegan_run[0]), "--images", str(images), "--out", str(images)]) == 2
    assert "--out must differ from --images" in one_line_error(capsys)


@pytest.mark.slow
def test_rendering_refuses_a_folder_without_images(cyclegan_run, tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("no image here")
    assert main(["translate", "--run", str(cyclegan_run[0]), "--images", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert f"--images {empty} holds no .jpg, .jpeg or .png image" in one_line_error(capsys)
    assert not (tmp_path / "o").exists()


def test_rendering_refuses_a_run_that_is_not_a_translation(tiny_data, images, tmp_path, capsys):
    run_dir = tmp_path / "reid"
    run_dir.mkdir()
    (run_dir / "profile.toml").write_text(profile_toml(load_profile("strong_baseline", tiny_overrides(tiny_data))))
    assert main(["translate", "--run", str(run_dir), "--images", str(images), "--out", str(tmp_path / "o")]) == 2
    assert f"{run_dir} is a supervised run, not a translation run" in one_line_error(capsys)


@pytest.mark.slow
def test_evaluate_refuses_a_translation_run_with_one_line(cyclegan_run, capsys):
    run_dir = cyclegan_run[0]
    assert main(["evaluate", "--run", str(run_dir)]) == 2
    err = one_line_error(capsys)
    assert f"{run_dir} is an image translation run: it has no re-ID network" in err
    assert f"reidkit translate --run {run_dir} --images DIR --out DIR" in err


@pytest.mark.slow
def test_train_spgan_supervised_translates_first_then_reuses_the_finished_translation(tiny_data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    command = ["train", "--profile", "spgan_supervised", "--work-dir", str(run_dir), "--quiet",
               *as_sets(tiny_overrides(tiny_data, "runtime.threads=1", "input.num_workers=0"))]  # fmt: skip
    assert main(command) == 0
    translated = run_dir / "translation" / "translated"
    assert (translated / "manifest.json").is_file()
    resolved = tomllib.loads((run_dir / "profile.toml").read_text())
    assert resolved["translated"]["domain"] == "source"
    assert Path(resolved["translated"]["root"]) == translated
    translation = tomllib.loads((run_dir / "translation" / "profile.toml").read_text())
    assert translation["method"] == "translate" and translation["input"]["width"] == 64  # the preset's translation regime
    assert (run_dir / "checkpoints" / "best.pt").is_file()
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    read = [e for e in log if e["event"] == "domain read as its translation"]
    assert read and all((e["domain"], e["root"]) == ("source", str(translated)) for e in read)

    watched = [p for folder in (run_dir / "translation" / "checkpoints", translated) for p in folder.rglob("*") if p.is_file()]
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in watched}
    assert main(command) == 0
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in watched} == before
    assert sorted(p.name for p in (run_dir / "translation" / "checkpoints").glob("epoch_*.pt")) == ["epoch_0001.pt", "epoch_0002.pt"]
    capsys.readouterr()
