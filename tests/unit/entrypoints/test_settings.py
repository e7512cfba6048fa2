"""Profiles: every shipped profile loads; every kind of mistake is one line naming its path."""

from __future__ import annotations

import pytest

from reidkit.domain.errors import ProfileError
from reidkit.entrypoints.methods import method_names
from reidkit.entrypoints.settings import (
    DbscanSettings,
    KMeansSettings,
    MarketFolders,
    SgdSettings,
    available_profiles,
    load_profile,
    profile_toml,
    unstructure_profile,
)


@pytest.mark.parametrize("name", available_profiles())
def test_shipped_profiles_load_and_name_a_known_method(name):
    profile = load_profile(name)
    assert profile.name == name
    assert profile.method in method_names()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["pseudo_labeler.epss=0.5"], "extra fields found (epss) @ profile.pseudo_labeler"),
        (["pseudo_labeler.kind=dbscn"], "kind must be one of ['dbscan', 'infomap', 'kmeans'], got 'dbscn' @ profile.pseudo_labeler"),
        (["pseudo_labeler.eps=x"], "expected float, got str 'x' @ profile.pseudo_labeler.eps"),
        (["pseudo_labeler.eps=-1"], "'eps' must be > 0.0: -1.0 @ profile.pseudo_labeler"),
        (["train.epochs=1.5"], "expected int, got float 1.5 @ profile.train.epochs"),
        (["eval.normalize=1"], "expected bool, got int 1 @ profile.eval.normalize"),
        (["model.backbone=resnet7"], "backbone must be one of ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet50_ibn_a', 'resnet101_ibn_a', 'osnet_x1_0', 'osnet_x0_75', 'osnet_x0_5', 'osnet_x0_25', 'osnet_ibn_x1_0', 'osnet_ain_x1_0', 'osnet_ain_x0_75', 'osnet_ain_x0_5', 'osnet_ain_x0_25', 'vit_small_patch16', 'vit_base_patch16'] or 'timm:<model>' / 'torchvision:<model>', got 'resnet7' @ profile.model"),
        (["model.head=pbc"], "must be one of ['bnneck', 'pcb'], got 'pbc' @ profile.model.head"),
        (["model.pretrained_format=caffe"], "must be one of ['auto', 'reidkit', 'torchvision', 'timm', 'torchreid', 'ibn_net', 'ssl_vit', 'transreid'], got 'caffe' @ profile.model.pretrained_format"),
        (["embedded_scale=off", "scheduler.milestones=[5, 3]"], "'milestones' must be increasing epoch numbers >= 0: [5, 3] @ profile.scheduler"),
        (["typo.x=1"], "extra fields found (typo) @ profile"),
        (["data.kind=market", "data.roots.source='/d'"], "eval.domains names 'target', but data.roots has only ['source'] @ profile"),
        (["model.dsbn=true"], "model.dsbn needs an adaptation method (supervised training sees one domain) @ profile"),
        (["embedded_scale=off", "method=spcl"], "method 'spcl' needs train.iters_per_epoch >= 1 (pseudo labels change each epoch) @ profile"),
        (["method=spcl", "train.iters_per_epoch=5", "adapt.source_model='m.pt'"], "adapt.source_model is set but adapt.start_from is 'scratch' @ profile"),
        (["method=spcl", "train.iters_per_epoch=5", "adapt.source_domain='source'"], "adapt.source_domain and train.domain are both 'source' @ profile"),
        (["method=memory_bank"], "method must be one of ['cluster_baseline', 'cluster_contrast', 'mean_teach', 'spcl', 'supervised', 'translate'], got 'memory_bank' @ profile"),
        (["memory.update_rule=median"], "extra fields found (memory) @ profile"),
        (["refine.kind=self_paced", "pseudo_labeler.kind=kmeans"], "refine.kind 'self_paced' needs pseudo_labeler.kind 'dbscan', got 'kmeans' @ profile"),
        (["train.epochs=1"], "a cosine schedule needs scheduler.warmup_epochs (1) below train.epochs (1) @ profile"),
        (["refine.kind=glc"], "kind must be one of ['none', 'self_paced'], got 'glc' @ profile.refine"),
        (["correct.kind=gcn"], "kind must be one of ['glc', 'none'], got 'gcn' @ profile.correct"),
        (["correct.kind=glc"], "correct.kind 'glc' corrects pseudo labels; method 'supervised' has none @ profile"),
        (["method=cluster_contrast", "train.iters_per_epoch=5", "correct.kind=glc", "correct.first_epoch=3", "correct.every=2", "correct.restart_epochs=[4, 5]"],
         "restart_epochs [4] are not correction epochs (first_epoch 3, every 2) @ profile.correct"),
        (["method=cluster_contrast", "train.iters_per_epoch=5", "correct.kind=glc", "correct.optimizer=lbfgs"],
         "must be one of ['sgd', 'adam'], got 'lbfgs' @ profile.correct.optimizer"),
        (["embedded_scale=sometimes"], "must be one of ['auto', 'applied', 'off'], got 'sometimes' @ profile.embedded_scale"),
        (["adapt.start_from=imagenet"], "must be one of ['scratch', 'pretrained', 'source_model'], got 'imagenet' @ profile.adapt.start_from"),
        (["runtime.device='gpu'"], "'device' must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu' @ profile.runtime"),
        (["runtime.device='cuda:one'"], "'device' must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'cuda:one' @ profile.runtime"),
        (["runtime.threads=100000"], "'threads' must be <= 1024: 100000 @ profile.runtime"),
        (["eval.domains=[]"], "'domains' is empty: name at least one domain to evaluate (the first picks the best checkpoint, best.pt; a run without one would end with no metrics and no best model) @ profile.eval"),
        (["train.max_bad_steps=-1"], "'max_bad_steps' must be >= 0: -1 @ profile.train"),
        (["input.num_workers=-1"], "'num_workers' must be 'auto' or a count >= 0, got -1 @ profile.input"),
        (["input.num_workers=1.5"], "expected 'auto' or an int >= 0, got float 1.5 @ profile.input.num_workers"),
        (["input.num_workers='many'"], "expected 'auto' or an int >= 0, got str 'many' @ profile.input.num_workers"),
        (["input.num_workers=true"], "expected 'auto' or an int >= 0, got bool True @ profile.input.num_workers"),
        (["train=3"], "[train] is a table of settings, got int 3; set one of its keys (--set train.KEY=VALUE) @ profile.train"),
        (["pseudo_labeler=3"], "[pseudo_labeler] is a table of settings, got int 3; set one of its keys (--set pseudo_labeler.KEY=VALUE) @ profile.pseudo_labeler"),
        (["data.kind=market", "data.roots=3"], "expected a table, got int @ profile.data.roots"),
        (["model.mask_attention=true"], "model.mask_attention weights the pooling by the predicted mask: it needs model.mask_head = true @ profile"),
        (["model.mask_head=true", "model.mask_attention_trains_mask=true"], "model.mask_attention_trains_mask lets the re-ID loss train the mask through the pooling: it needs model.mask_attention = true @ profile"),
        (["loss.mask_weight=0.1"], "loss.mask_weight is 0.1 but the model has no mask head (model.mask_head = false) @ profile"),
        (["model.mask_head=true"], "model.mask_head needs loss.mask_weight > 0: an untrained head predicts nothing @ profile"),
        (["model.mask_head=true", "loss.mask_weight=0.1", "model.head=pcb"], "model.mask_head is built on the BNNeck head; model.head is 'pcb' @ profile"),
        (["model.mask_head=true", "loss.mask_weight=0.1", "method=spcl", "train.iters_per_epoch=5"], "model.mask_head trains with the supervised method (its targets are true boxes); method 'spcl' has none @ profile"),
        (["loss.triplet_kind=softmax", "loss.triplet_margin=1.0"], "triplet_margin is the softmax triplet's soft target weight and must be below 1, got 1.0 @ profile.loss"),
    ],
)  # fmt: skip
def test_each_mistake_is_one_line_naming_its_path(overrides, message):
    with pytest.raises(ProfileError) as info:
        load_profile("strong_baseline", overrides)  # on the embedded data: a cosine schedule
    assert str(info.value) == message


def test_several_mistakes_are_reported_together():
    with pytest.raises(ProfileError) as info:
        load_profile(None, ["model.backbne=resnet18", "train.epochs=0"])
    assert str(info.value).splitlines() == [
        "extra fields found (backbne) @ profile.model",
        "'epochs' must be >= 1: 0 @ profile.train",
    ]


def test_overrides_parse_toml_values_and_switch_kinds_afresh():
    profile = load_profile(
        "strong_baseline",
        ["optimizer.kind=sgd", "optimizer.lr=0.05", "pseudo_labeler.kind=kmeans", "pseudo_labeler.num_clusters=12"],
    )
    assert profile.optimizer == SgdSettings(lr=0.05)
    assert profile.pseudo_labeler == KMeansSettings(num_clusters=12)


def test_market_folders_by_override():
    profile = load_profile("strong_baseline", ["data.kind=market", "data.roots.source=/a", "data.roots.target=/b"])
    assert profile.data == MarketFolders(roots={"source": "/a", "target": "/b"})


def test_a_method_table_stays_as_written_until_the_run_is_built():
    profile = load_profile("cluster_contrast_usl", ["cluster_contrast.update_rule='hard'"])
    assert profile.method_options == {"temperature": 0.05, "momentum": 0.9, "update_rule": "hard"}  # [embedded.cluster_contrast]
    assert unstructure_profile(profile)["cluster_contrast"]["update_rule"] == "hard"
    with pytest.raises(ProfileError, match=r"extra fields found \(spcl\) @ profile"):
        load_profile("cluster_contrast_usl", ["spcl.temperature=0.1"])  # another method's table


@pytest.mark.parametrize("name", available_profiles())
def test_a_written_profile_reads_back_to_the_same_profile(name, tmp_path):
    profile = load_profile(name, ["train.epochs=3"])
    path = tmp_path / "profile.toml"
    path.write_text(profile_toml(profile))
    again = load_profile(str(path))
    assert unstructure_profile(again) == unstructure_profile(profile)
    assert again.scaled == profile.scaled  # the embedded scale is not applied twice


def test_a_written_market_profile_reads_back(tmp_path):
    profile = load_profile("spcl_uda", ["data.kind=market", "data.roots.source='/a b'", "data.roots.target='/c\\\"d'"])
    path = tmp_path / "profile.toml"
    path.write_text(profile_toml(profile))
    assert load_profile(str(path)).data == profile.data


def test_defaults_without_a_profile():
    assert load_profile(None).pseudo_labeler == DbscanSettings()


@pytest.mark.parametrize(
    ("ref", "message"),
    [("nope", "unknown profile 'nope'; available: "), ("/no/such.toml", "profile file not found: /no/such.toml")],
)
def test_missing_profiles(ref, message):
    with pytest.raises(ProfileError, match=message.replace("(", r"\(")):
        load_profile(ref)


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[model\n")
    with pytest.raises(ProfileError, match="bad.toml is not valid TOML"):
        load_profile(str(path))


def test_bad_set_syntax():
    with pytest.raises(ProfileError, match="--set expects section.key=value, got 'model.backbone'"):
        load_profile(None, ["model.backbone"])


def test_a_table_given_a_value_in_a_file_is_named_too(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('method = "spcl"\nspcl = 0.5\n')
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    assert str(info.value) == "[spcl] is a table of settings, got float 0.5; set one of its keys (--set spcl.KEY=VALUE) @ profile.spcl"


def test_a_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "windows.toml"
    path.write_bytes("\ufeffname = 'from notepad'\n[train]\nlog_every = 7\n".encode("utf-8"))
    profile = load_profile(str(path))
    assert (profile.name, profile.train.log_every) == ("from notepad", 7)


def test_a_profile_that_is_not_utf8_is_named_with_where(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes("name = 'x'\n# Müller's settings\n".encode("latin-1"))
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    assert str(info.value) == (
        f"profile {path} is not UTF-8 text (byte 0xfc at line 2, column 4; Latin-1 or another legacy encoding?): "
        "TOML files must be UTF-8, so re-save it as UTF-8"
    )


def test_a_folder_is_not_a_profile(tmp_path):
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    with pytest.raises(ProfileError, match=r"^profile .*folder\.toml is a folder, not a TOML file$"):
        load_profile(str(folder))


@pytest.mark.parametrize(("overrides", "workers"), [([], "auto"), (["input.num_workers='auto'"], "auto"), (["input.num_workers=auto"], "auto"), (["input.num_workers=0"], 0), (["input.num_workers=6"], 6)])
def test_num_workers_is_auto_by_default_or_a_count_and_survives_the_resolved_profile(overrides, workers, tmp_path):
    profile = load_profile("strong_baseline", overrides)
    assert profile.input.num_workers == workers
    written = tmp_path / "profile.toml"
    written.write_text(profile_toml(profile))
    assert load_profile(str(written)) == profile


# --- [data] kind = "datasets": any reader, per domain -------------------------------------------

DATASETS = ["data.kind='datasets'", "data.sets.source={reader='msmt17', root='/d/msmt', combineall=true}",
            "data.sets.target={reader='market', root='/d/market'}"]


def test_dataset_sets_name_a_reader_a_root_and_its_options_and_round_trip(tmp_path):
    from reidkit.entrypoints.settings import DatasetFolders, dataset_options

    profile = load_profile("strong_baseline", DATASETS)
    assert isinstance(profile.data, DatasetFolders)
    reader, root, options, combineall = dataset_options("source", profile.data.sets["source"])
    assert (reader, root, options.combineall, combineall) == ("msmt17", "/d/msmt", True, True)
    _, _, market_options, market_combine = dataset_options("target", {"reader": "market", "root": "/m", "combineall": True})
    assert market_combine is True and not market_options.distractors_500k  # Market has no option of its own for it
    saved = tmp_path / "profile.toml"
    saved.write_text(profile_toml(profile))
    assert load_profile(str(saved)) == profile


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("data.sets.source={reader='msmt', root='/x'}", "data.sets.source.reader must be one of ['"),
        ("data.sets.source={reader='msmt17', root=''}", "data.sets.source.root must name the dataset's folder, got '' @ profile.data"),
        ("data.sets.source={reader='msmt17', root='/x', combinall=true}", "data.sets.source: extra fields found (combinall) @ profile.data"),
        ("data.sets.source={reader='msmt17', root='/x', combineall=3}", "data.sets.source.combineall must be true or false, got 3 @ profile.data"),
        ("data.sets.source={reader='cuhk03', root='/x', split_id='a'}", "data.sets.source.split_id: expected int, got str 'a' @ profile.data"),
        ("data.sets.source='/x'", "expected a table, got str @ profile.data.sets['source']"),
        ("data.sets.source={reader='market', root='/x', combineall='yes'}", "data.sets.source.combineall must be true or false, got 'yes' @ profile.data"),
    ],
)
def test_a_bad_dataset_set_is_one_line_naming_it(item, message):
    with pytest.raises(ProfileError) as error:
        load_profile("strong_baseline", [*DATASETS, item])
    assert str(error.value).startswith(message)


def test_training_and_evaluation_domains_must_be_sets():
    with pytest.raises(ProfileError, match=r"eval.domains names 'elsewhere', but data.sets has only \['source', 'target'\]"):
        load_profile("strong_baseline", [*DATASETS, "eval.domains=['elsewhere']"])


def test_the_data_table_alone_loads_without_matching_domains():
    from reidkit.entrypoints.settings import load_data_settings

    data = load_data_settings(None, ["data.kind='datasets'", "data.sets.mine={reader='folders', root='/x'}"])
    assert list(data.sets) == ["mine"]
