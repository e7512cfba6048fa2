"""Image translation (CycleGAN, SPGAN) as its method module wires it, on the tiny preset (whose
translation regime is 64x64 input, 2 epochs of 2 iterations, batch 2, 1 residual block, width 8):
what a run leaves in its folder, what the container builds from the profile, determinism, reuse
and exact resume, the settings it refuses, and how a re-ID profile reads a translation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import attrs
import pytest
import torch
from dependency_injector import providers

from reidkit.adapters.data.market import read_market
from reidkit.adapters.data.synth import ensure_synthetic
from reidkit.adapters.runtime.checkpoint import AtomicFiles, read_checkpoint
from reidkit.domain.errors import DatasetError, ProfileError
from reidkit.entrypoints.app import build_app
from reidkit.entrypoints.settings import load_profile
from tests.support.tiny import tiny_overrides

SPLITS = ("bounding_box_train", "query", "bounding_box_test")
QUIET = ("runtime.quiet=true", "runtime.threads=1", "input.num_workers=0")


def translate_overrides(tiny_data: Path, *extra: str) -> list[str]:
    """A translate profile on the tiny preset: the preset scales it (64x64, 2 epochs of 2)."""
    return ["data.preset='tiny'", f"data.cache_dir='{tiny_data}'", *QUIET, *extra]


def translate_app(name: str, tiny_data: Path, work_dir: Path, *extra: str):  # noqa: ANN201 - an App
    return build_app(load_profile(name, translate_overrides(tiny_data, *extra)), work_dir=str(work_dir))


def run_translation(name: str, tiny_data: Path, work_dir: Path, *extra: str, hook=None):  # noqa: ANN001, ANN201
    app = translate_app(name, tiny_data, work_dir, *extra)
    if hook is not None:
        hook(app)
    with app:
        return app.run()


def rendered_bytes(run_dir: Path) -> dict[str, bytes]:
    """Every rendered image of a run, by its path relative to translated/."""
    root = run_dir / "translated"
    return {str(p.relative_to(root)): p.read_bytes() for split in SPLITS for p in sorted((root / split).iterdir())}


def final_step(run_dir: Path) -> dict:
    latest = (run_dir / "checkpoints" / "latest").read_text().strip()
    return read_checkpoint(run_dir / "checkpoints" / latest)["components"]["step"]


def assert_same_tensors(mine: dict, theirs: dict, where: str) -> None:
    assert set(mine) == set(theirs), where
    for key in mine:
        torch.testing.assert_close(mine[key], theirs[key], rtol=0, atol=0, msg=f"{where}.{key}")


def split_summary(dataset) -> dict[str, list[tuple[str, int, int]]]:  # noqa: ANN001 - a ReidDataset
    """Per split, its images as (file name, identity, camera), sorted."""
    splits = {"bounding_box_train": dataset.train, "query": dataset.query, "bounding_box_test": dataset.gallery}
    return {folder: sorted((Path(r.path).name, r.pid, r.camid) for r in records) for folder, records in splits.items()}


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory) -> dict[str, tuple[Path, object]]:
    """cyclegan and spgan, each trained through ``app.run()`` at seed 0: their run folder and progress."""
    out = tmp_path_factory.mktemp("translation_runs")
    return {name: (out / name, run_translation(name, tiny_data, out / name)) for name in ("cyclegan", "spgan")}


# --- a whole run -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cyclegan", "spgan"])
def test_a_run_trains_two_epochs_and_renders_the_source_in_the_targets_style(trained, tiny_data, name):
    run_dir, progress = trained[name]
    assert progress.epochs_done == 2
    translated = run_dir / "translated"
    assert sorted(p.name for p in translated.iterdir() if p.is_dir()) == sorted(SPLITS)

    source = read_market(ensure_synthetic("tiny", 0, tiny_data)["source"])
    rendered = read_market(translated)
    assert split_summary(rendered) == split_summary(source)  # identities, cameras, counts and names
    assert rendered.num_train_pids == source.num_train_pids
    assert all(Path(r.path).is_relative_to(translated.absolute()) for r in (*rendered.train, *rendered.query, *rendered.gallery))

    manifest = json.loads((translated / "manifest.json").read_text())
    assert manifest["source_domain"] == "source"
    assert manifest["style_of"] == "target"
    assert manifest["made_by"] == "translator after epoch 2"
    assert {folder: entry["images"] for folder, entry in manifest["splits"].items()} == {
        folder: len(records) for folder, records in split_summary(source).items()
    }
    assert (run_dir / "previews" / "epoch_002.png").is_file()

    step = final_step(run_dir)
    assert {"generators", "discriminators", "target_pool", "source_pool"} <= set(step)
    assert any(key.startswith("to_target.") for key in step["generators"])
    assert any(key.startswith("to_source.") for key in step["generators"])
    assert ("metric_net" in step) == (name == "spgan")


# --- the container ------------------------------------------------------------------------------


def test_spgan_wires_the_siamese_metric_on_its_schedule_and_generator_steps_every_second_iteration(tiny_data, tmp_path):
    from reidkit.adapters.steps.translation import SiameseMetric

    app = translate_app("spgan", tiny_data, tmp_path)
    with app:
        step = app.container.step()
    assert isinstance(step.metric, SiameseMetric)
    # the profile's 1-based epochs 2 and 3, as 0-based epochs
    assert (step.metric.trains_from, step.metric.guides_from) == (1, 2)
    assert step.metric.margin == 2.0 and step.metric.generator_weight == 2.0 and step.metric.metric_weight == 1.0
    assert step.generator_every == 2
    assert step.weights.identity == 5.0 and step.weights.cycle == 10.0
    assert step.schedule.decay_epochs == 0  # SPGAN's constant rate
    assert step.metric.net in step.step_modules()


def test_cyclegan_has_no_metric_and_decays_its_rate_over_the_last_half_of_the_epochs(tiny_data, tmp_path):
    from reidkit.adapters.steps.translation import LinearDecay, NoMetric

    app = translate_app("cyclegan", tiny_data, tmp_path, "train.epochs=7")
    with app:
        step = app.container.step()
    assert isinstance(step.metric, NoMetric)
    assert step.schedule == LinearDecay(epochs=7, decay_epochs=round(0.5 * 7))
    assert step.generator_every == 1
    assert step.weights.identity == 0.5
    assert len(step.step_modules()) == 2  # the generators and the discriminators


class RecordingTranslator:
    """A Translator that renders nothing: each record under ``out_dir`` with its own name."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    def translate(self, records, out_dir):  # noqa: ANN001, ANN201
        self.calls.append((len(records), out_dir))
        return tuple(attrs.evolve(r, path=str(Path(out_dir) / Path(r.path).name)) for r in records)


@pytest.mark.slow
def test_an_overridden_translator_reaches_the_use_case_once_per_split(trained, tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained["cyclegan"][0], run_dir)
    (run_dir / "translated" / "manifest.json").unlink()  # trained, not rendered: only the rendering runs
    fake = RecordingTranslator()
    app = translate_app("cyclegan", tiny_data, run_dir)
    app.container.translator.override(providers.Object(fake))
    with app:
        app.run()
    source = split_summary(read_market(ensure_synthetic("tiny", 0, tiny_data)["source"]))
    assert sorted(fake.calls) == sorted((len(source[folder]), str(run_dir / "translated" / folder)) for folder in SPLITS)
    manifest = json.loads((run_dir / "translated" / "manifest.json").read_text())
    assert manifest["made_by"] == "translator after epoch 2"  # published from what the fake returned


# --- determinism, reuse and resume ---------------------------------------------------------------


@pytest.mark.slow
def test_the_same_seed_renders_byte_identical_images_and_another_seed_other_images(trained, tiny_data, tmp_path):
    first = rendered_bytes(trained["cyclegan"][0])
    run_translation("cyclegan", tiny_data, tmp_path / "again")
    assert rendered_bytes(tmp_path / "again") == first
    run_translation("cyclegan", tiny_data, tmp_path / "seed1", "seed=1")
    other = rendered_bytes(tmp_path / "seed1")
    assert other.keys() == first.keys()
    assert all(other[name] != first[name] for name in first)


@pytest.mark.slow
def test_rerunning_a_finished_run_renders_nothing_and_returns_the_same_progress(trained, tiny_data, tmp_path):
    finished, progress = trained["spgan"]
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)  # copy2 keeps the modification times
    root = run_dir / "translated"
    times = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert run_translation("spgan", tiny_data, run_dir) == progress
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == times
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == checkpoints


class CtrlCAfterTheFirstSave(AtomicFiles):
    """Checkpoint files that finish the first epoch's save, then raise KeyboardInterrupt."""

    def write(self, path, data):  # noqa: ANN001, ANN201
        super().write(path, data)
        if path.name == "latest" and data.startswith(b"epoch_0001"):
            raise KeyboardInterrupt


def interrupt_after_the_first_save(app) -> None:  # noqa: ANN001
    app.container.training.checkpoint_files.override(providers.Object(CtrlCAfterTheFirstSave()))


# the metric network trains from the first epoch and guides the generators from the second, so
# that every network and optimiser carries state across the interruption
EARLY_METRIC = ("translate.metric.trains_from_epoch=1", "translate.metric.guides_from_epoch=2")


@pytest.mark.slow
def test_a_run_stopped_after_its_first_epoch_resumes_to_exactly_the_uninterrupted_weights(tiny_data, tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    progress = run_translation("spgan", tiny_data, full, *EARLY_METRIC)
    with pytest.raises(KeyboardInterrupt):
        run_translation("spgan", tiny_data, split, *EARLY_METRIC, hook=interrupt_after_the_first_save)
    assert (split / "checkpoints" / "latest").read_text().strip() == "epoch_0001.pt"
    assert not (split / "translated" / "manifest.json").exists()
    assert run_translation("spgan", tiny_data, split, *EARLY_METRIC) == progress
    resumed, uninterrupted = final_step(split), final_step(full)
    for part in ("generators", "discriminators", "metric_net"):
        assert_same_tensors(resumed[part], uninterrupted[part], part)
    for pool in ("target_pool", "source_pool"):
        torch.testing.assert_close(resumed[pool]["images"], uninterrupted[pool]["images"], rtol=0, atol=0)
    assert rendered_bytes(split) == rendered_bytes(full)


# --- the method's settings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        ("spgan", ["translate.target='source'"], "translate.target and train.domain are both 'source'"),
        ("spgan", ["input.height=64", "input.width=32"], "input 64x32: SPGAN's metric network .* needs both sides >= 64"),
        ("cyclegan", ["input.height=66", "input.width=64"], "input 66x64: .* must be multiples of 4"),
        ("cyclegan", ["input.height=64", "input.width=30"], "input 64x30: .* must be multiples of 4"),
        ("cyclegan", ["translate.bogus=1"], r"extra fields found \(bogus\) @ profile.translate"),
        ("spgan", ["translate.metric.kind='triplet'"], r"kind must be one of \['none', 'siamese'\], got 'triplet'"),
    ],
)
def test_impossible_translation_settings_are_refused_with_one_line(tiny_data, tmp_path, name, extra, message):
    with pytest.raises(ProfileError, match=message) as refused:
        translate_app(name, tiny_data, tmp_path, *extra)
    assert "\n" not in str(refused.value)
    assert not tmp_path.joinpath("profile.toml").exists()


def test_cyclegan_at_the_reid_input_size_is_accepted(tiny_data, tmp_path):
    """64x32 is refused by SPGAN's metric network only: CycleGAN's networks take it."""
    app = translate_app("cyclegan", tiny_data, tmp_path, "input.height=64", "input.width=32")
    assert (app.profile.input.height, app.profile.input.width) == (64, 32)


# --- [translated]: a re-ID profile reading a translation -----------------------------------------


def test_translated_root_without_a_domain_is_refused(tiny_data, tmp_path):
    with pytest.raises(ProfileError, match="translated.root is set but translated.domain is empty"):
        load_profile("strong_baseline", tiny_overrides(tiny_data, f"translated.root='{tmp_path}'"))


def test_translated_domain_must_be_a_domain_of_the_data(tmp_path):
    market = ["data.kind='market'", f"data.roots.source='{tmp_path / 'a'}'", f"data.roots.target='{tmp_path / 'b'}'",
              "eval.domains=['source']"]  # fmt: skip
    with pytest.raises(ProfileError, match=r"translated.domain names 'duke', but data.roots has only \['source', 'target'\]"):
        load_profile("strong_baseline", [*market, "translated.domain='duke'"])


def test_a_translate_profile_does_not_read_a_translation(tiny_data):
    with pytest.raises(ProfileError, match="a translate run makes one, it does not read one"):
        load_profile("spgan", translate_overrides(tiny_data, "translated.domain='source'"))


def test_building_spgan_supervised_without_its_translation_names_translated_root(tiny_data, tmp_path):
    with pytest.raises(ProfileError, match="translated.domain = 'source' needs translated.root"):
        build_app(load_profile("spgan_supervised", tiny_overrides(tiny_data)), work_dir=str(tmp_path))


def test_spgan_supervised_reads_the_source_from_its_translation(tiny_data, start_models, tmp_path):
    root = start_models["translated"]
    app = build_app(load_profile("spgan_supervised", tiny_overrides(tiny_data, f"translated.root='{root}'")), work_dir=str(tmp_path))
    domains = app.container.data.domains()
    source = domains["source"]
    records = (*source.train, *source.query, *source.gallery)
    assert records and all(Path(r.path).is_relative_to(root.absolute()) for r in records)
    assert all(r.domain == "source" for r in records)
    original = read_market(ensure_synthetic("tiny", 0, tiny_data)["target"])
    assert split_summary(domains["target"]) == split_summary(original)  # the other domain as it was
    assert {Path(r.path).name for r in app.container.data.train_set().train} == {Path(r.path).name for r in source.train}


def test_keep_original_trains_on_the_real_and_the_rendered_images_and_tests_on_the_real_ones(tiny_data, start_models, tmp_path):
    root = start_models["translated"]
    overrides = tiny_overrides(tiny_data, f"translated.root='{root}'", "translated.keep_original=true")
    source = build_app(load_profile("spgan_supervised", overrides), work_dir=str(tmp_path)).container.data.domains()["source"]
    real = read_market(ensure_synthetic("tiny", 0, tiny_data)["source"], domain="source")
    rendered = read_market(root, domain="source")
    assert source.train == (*real.train, *rendered.train)
    assert (source.query, source.gallery) == (real.query, real.gallery)
    pid_of = {Path(r.path).name: r.pid for r in real.train}
    assert all(pid_of[Path(r.path).name] == r.pid for r in rendered.train)


def test_keep_original_refuses_a_rendering_of_other_images(tiny_data, start_models, tmp_path):
    root = tmp_path / "translated"
    shutil.copytree(start_models["translated"], root)
    stray = next((root / "bounding_box_train").iterdir())
    stray.rename(stray.with_name("9999_c1s1_000000_00.jpg"))
    overrides = tiny_overrides(tiny_data, f"translated.root='{root}'", "translated.keep_original=true")
    app = build_app(load_profile("spgan_supervised", overrides), work_dir=str(tmp_path / "run"))
    with pytest.raises(DatasetError, match=r"9999_c1s1_000000_00.jpg in .* has no real image of that name in domain 'source'") as refused:
        app.container.data.domains()
    assert "\n" not in str(refused.value)


def test_keep_original_without_a_translated_domain_is_refused(tiny_data):
    with pytest.raises(ProfileError, match="translated.keep_original keeps a translated domain's real images, but translated.domain is empty"):
        load_profile("strong_baseline", tiny_overrides(tiny_data, "translated.keep_original=true"))


def test_a_translation_of_another_domain_is_a_dataset_error(tiny_data, start_models, tmp_path):
    root = tmp_path / "translated"
    shutil.copytree(start_models["translated"], root)
    manifest = json.loads((root / "manifest.json").read_text())
    (root / "manifest.json").write_text(json.dumps({**manifest, "source_domain": "target"}))
    app = build_app(load_profile("spgan_supervised", tiny_overrides(tiny_data, f"translated.root='{root}'")), work_dir=str(tmp_path / "run"))
    with pytest.raises(DatasetError, match="renders the domain 'target', not translated.domain 'source'"):
        app.container.data.domains()


def test_a_translation_without_its_manifest_is_a_dataset_error_naming_the_path(tiny_data, start_models, tmp_path):
    root = tmp_path / "translated"
    shutil.copytree(start_models["translated"], root)
    (root / "manifest.json").unlink()
    app = build_app(load_profile("spgan_supervised", tiny_overrides(tiny_data, f"translated.root='{root}'")), work_dir=str(tmp_path / "run"))
    with pytest.raises(DatasetError, match="is not a finished translation") as refused:
        app.container.data.domains()
    assert str(root / "manifest.json") in str(refused.value)
