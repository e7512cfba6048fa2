"""The embedded data's scale: applied once, only on synthetic data, below [embedded] and --set."""

from __future__ import annotations

import pytest

from reidkit.entrypoints.presets import SCALES
from reidkit.entrypoints.settings import load_profile


def test_a_paper_recipe_runs_at_the_embedded_scale_on_the_synthetic_data():
    paper = load_profile("spcl_usl", ["embedded_scale=off"])
    embedded = load_profile("spcl_usl")
    assert (paper.model.backbone, paper.input.height, paper.train.epochs, paper.train.iters_per_epoch) == ("resnet50", 256, 50, 400)
    assert (paper.pseudo_labeler.k1, paper.pseudo_labeler.eps, paper.scheduler.milestones) == (30, 0.6, [20, 40])
    scale = SCALES["demo"]
    assert (embedded.model.backbone, embedded.model.last_stride) == (scale.backbone, scale.last_stride)
    assert (embedded.input.height, embedded.input.width, embedded.input.pad) == (128, 64, 6)
    assert (embedded.train.epochs, embedded.train.iters_per_epoch) == (scale.usl_epochs, scale.adapt_iters_per_epoch)
    assert (embedded.pseudo_labeler.k1, embedded.pseudo_labeler.k2, embedded.pseudo_labeler.eps) == (15, 3, 0.45)
    assert embedded.scheduler.milestones == [10]  # the last fifth of 12 epochs at x0.1
    assert embedded.scaled and not paper.scaled


def test_real_data_runs_the_recipe_as_written_and_ignores_the_embedded_table():
    profile = load_profile("uda_tp", ["data.kind=market", "data.roots.target=/data/market"])
    assert not profile.scaled
    assert (profile.model.backbone, profile.model.pooling, profile.train.epochs) == ("resnet50", "gem", 50)


def test_the_regime_decides_the_schedule():
    uda, usl = load_profile("cluster_contrast_uda"), load_profile("cluster_contrast_usl")
    assert (uda.train.epochs, uda.scheduler.milestones) == (10, [8])
    assert (usl.train.epochs, usl.scheduler.milestones) == (12, [10])
    supervised = load_profile("strong_baseline")
    assert (supervised.train.epochs, supervised.scheduler.kind, supervised.optimizer.lr) == (10, "cosine", 1e-3)


def test_the_embedded_table_is_above_the_scale_and_set_above_both():
    assert load_profile("uda_tp").train.epochs == 20  # [embedded.train]
    assert load_profile("uda_tp").scheduler.milestones == [16]  # the decay follows the epochs it chose
    assert load_profile("uda_tp", ["train.epochs=5"]).scheduler.milestones == [4]  # and those --set chose
    assert load_profile("uda_tp", ["train.epochs=5", "scheduler.milestones=[1]"]).scheduler.milestones == [1]
    assert load_profile("spcl_uda", ["train.ids_per_batch=3"]).train.ids_per_batch == 3
    assert load_profile("spcl_uda").train.ids_per_batch == 8


def test_cluster_contrasts_slower_memory_is_the_embedded_usl_profiles_alone():
    def momentum(name, *overrides):
        return load_profile(name, list(overrides)).method_options["momentum"]

    assert momentum("cluster_contrast_usl") == momentum("cluster_contrast_usl", "data.preset='demo_dense'") == 0.9
    assert momentum("cluster_contrast_usl", "cluster_contrast.momentum=0.1") == 0.1
    assert momentum("cluster_contrast_usl", "embedded_scale=off") == 0.1  # the paper's recipe
    assert momentum("cluster_contrast_usl", "data.kind=market", "data.roots.target=/data/market") == 0.1
    assert momentum("cluster_contrast_uda") == momentum("glc_cluster_contrast_usl") == 0.1  # measured at 0.1


def test_a_labeler_chosen_on_the_command_line_gets_its_own_radii():
    profile = load_profile("mmt_uda", ["pseudo_labeler.kind=dbscan"])
    assert (profile.pseudo_labeler.kind, profile.pseudo_labeler.eps, profile.pseudo_labeler.k1) == ("dbscan", 0.45, 15)
    assert load_profile("mmt_uda").pseudo_labeler.num_clusters == SCALES["demo"].kmeans["num_clusters"]


@pytest.mark.parametrize("profile_name", ["strong_baseline_usl", "spcl_usl", "cluster_contrast_usl", "mmt_usl"])
def test_demo_dense_clusters_its_denser_identities_at_a_looser_radius(profile_name):
    dense = load_profile(profile_name, ["data.preset='demo_dense'"]).pseudo_labeler
    demo = load_profile(profile_name).pseudo_labeler
    assert (dense.k1, dense.k2, dense.eps) == (15, 3, 0.55)
    assert (demo.k1, demo.k2, demo.eps) == (15, 3, 0.45)
    assert load_profile(profile_name, ["data.preset='demo_dense'", "pseudo_labeler.eps=0.5"]).pseudo_labeler.eps == 0.5


def test_a_table_whose_kind_the_command_line_switches_starts_afresh():
    profile = load_profile("strong_baseline", ["scheduler.kind=step", "scheduler.milestones=[3]"])
    assert (profile.scheduler.kind, profile.scheduler.milestones, profile.scheduler.warmup_epochs) == ("step", [3], 10)


@pytest.mark.parametrize("preset", sorted(SCALES))
def test_each_preset_has_its_scale(preset):
    if preset.endswith("_video"):  # tracklets train supervised only
        profile = load_profile("strong_baseline", [f"data.preset='{preset}'", "eval.domains=['source']"])
        assert profile.train.ids_per_batch == SCALES[preset].supervised_ids_per_batch
        assert profile.video.seq_len == SCALES[preset].video_seq_len
    else:
        profile = load_profile("strong_baseline_uda", [f"data.preset='{preset}'"])
        assert profile.train.ids_per_batch == SCALES[preset].adapt_ids_per_batch
    assert (profile.input.height, profile.input.width) == (SCALES[preset].height, SCALES[preset].width)


def test_a_bad_embedded_table_is_refused(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('method = "supervised"\nembedded = 3\n')
    from reidkit.domain.errors import ProfileError

    with pytest.raises(ProfileError, match=r"\[embedded\] must be a table of settings, got 3 @ profile.embedded"):
        load_profile(str(path))
