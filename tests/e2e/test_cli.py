"""The reidkit command end to end on the tiny preset: train, resume, evaluate, data, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dependency_injector import providers

from reidkit.adapters.runtime.checkpoint import AtomicFiles
from reidkit.entrypoints.cli import main
from tests.support.tiny import as_sets
from tests.support.tiny import tiny_overrides


class CtrlCAfterTheFirstSave(AtomicFiles):
    """Checkpoint files that finish the first epoch's save, then raise KeyboardInterrupt (Ctrl-C
    right after the first checkpoint)."""

    def write(self, path, data):
        super().write(path, data)
        if path.name == "latest" and data.startswith(b"epoch_0001"):
            raise KeyboardInterrupt


def interrupt_after_the_first_save(app) -> None:
    """The App hook that makes a run stop as Ctrl-C after its first checkpoint (pre-training stages,
    in their own folders, run through)."""
    if not app.run_dir.name.startswith("pretrain"):
        app.container.training.checkpoint_files.override(providers.Object(CtrlCAfterTheFirstSave()))


def _metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())["evaluations"]


@pytest.mark.slow
def test_train_writes_checkpoints_logs_events_and_metrics(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    assert main(["train", "--profile", "strong_baseline", "--work-dir", str(run_dir), *as_sets(tiny_overrides(tiny_data))]) == 0
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("epoch_*.pt")) == ["epoch_0001.pt", "epoch_0002.pt"]
    assert (run_dir / "checkpoints" / "best.pt").is_file()
    assert any((run_dir / "events").iterdir())
    events = [json.loads(line)["event"] for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert {"runtime", "training", "evaluation", "finished"} <= set(events)
    assert [(e["epoch"], e["domain"]) for e in _metrics(run_dir)] == [(2, "source"), (2, "target")]


@pytest.mark.slow
def test_resume_reaches_exactly_the_uninterrupted_result(tiny_data, tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    base = tiny_overrides(tiny_data, "train.epochs=3", "eval.domains=['source']")
    assert main(["train", "--profile", "strong_baseline", "--work-dir", str(full), *as_sets(base)]) == 0
    interrupted = main(["train", "--profile", "strong_baseline", "--work-dir", str(split), *as_sets(base)], hook=interrupt_after_the_first_save)
    assert interrupted == 130
    assert not (split / "metrics.json").exists()
    assert main(["train", "--profile", "strong_baseline", "--work-dir", str(split), *as_sets(base)]) == 0
    assert _metrics(split) == _metrics(full)


def test_bad_profile_is_one_line_and_exit_code_2(capsys, tmp_path):
    code = main(["train", "--profile", "strong_baseline", "--work-dir", str(tmp_path), "--set", "model.epss=1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == "reidkit: extra fields found (epss) @ profile.model\n"


def _torchreid_feature_file(golden, tmp_path):
    """Torchreid's golden query/gallery features saved as a ``reidkit evaluate --features`` file."""
    market = np.load(golden / "torchreid" / "market_eval.npz")
    path = tmp_path / "features.npz"
    np.savez(
        path,
        query_features=market["qf"], gallery_features=market["gf"],
        query_pids=market["q_pids"], gallery_pids=market["g_pids"],
        query_camids=market["q_camids"], gallery_camids=market["g_camids"],
    )  # fmt: skip
    return market, path


@pytest.mark.parametrize(("metric", "suffix"), [("euclidean", ""), ("cosine", "_cosine")])
def test_evaluate_saved_features_reproduces_the_torchreid_golden(golden, tmp_path, capsys, metric, suffix):
    market, path = _torchreid_feature_file(golden, tmp_path)
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--features", str(path), "--metric", metric, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    np.testing.assert_allclose(result["cmc"], market[f"cmc{suffix}"], rtol=0, atol=1e-6)
    assert result["mAP"] == pytest.approx(float(market[f"mAP{suffix}"]), abs=1e-6)
    assert result["num_queries"] == result["num_valid_queries"] == len(market["qf"])
    assert set(result) == {"mAP", "mINP", "cmc", "num_queries", "num_valid_queries", "seconds"}
    assert "mAP" in capsys.readouterr().out


def test_evaluate_names_a_missing_key(tmp_path, capsys):
    path = tmp_path / "broken.npz"
    np.savez(path, query_features=np.zeros((2, 3), np.float32))
    assert main(["evaluate", "--features", str(path)]) == 2
    err = capsys.readouterr().err
    assert "broken.npz" in err and len(err.strip().splitlines()) == 1


def test_data_synth_reports_both_domains(tiny_data, capsys):
    assert main(["data", "synth", "--preset", "tiny", "--out", str(tiny_data)]) == 0
    out = capsys.readouterr().out
    assert "source:" in out and "target:" in out and "train_ids=" in out


def _openunreid_features(golden, tmp_path):
    path = tmp_path / "features.npy"
    np.save(path, np.load(golden / "openunreid" / "features_n2000_d256.npy"))
    return path


@pytest.mark.parametrize(
    ("overrides", "golden_labels", "clusters", "outliers"),
    [
        ([], "dbscan_eps0.6_ms4_labels_no_outliers.npy", 100, 45),
        (["pseudo_labeler.use_outliers=true"], "dbscan_eps0.6_ms4_labels_use_outliers.npy", 145, 0),
        (
            ["pseudo_labeler.use_outliers=true", "refine.kind=self_paced"],
            "spcl_reliability_labels_use_outliers.npy", 280, 0,
        ),
    ],
)  # fmt: skip
def test_label_reproduces_the_openunreid_golden_labels(golden, tmp_path, overrides, golden_labels, clusters, outliers):
    from sklearn.metrics import adjusted_rand_score

    out, summary = tmp_path / "labels.npy", tmp_path / "summary.json"
    argv = ["label", "--features", str(_openunreid_features(golden, tmp_path)), "--out", str(out), "--json", str(summary)]
    assert main([*argv, *as_sets(overrides)]) == 0
    labels = np.load(out)
    expected = np.load(golden / "openunreid" / golden_labels)
    assert labels.dtype == np.int64 and labels.shape == expected.shape
    assert np.array_equal(labels == -1, expected == -1)
    assert adjusted_rand_score(expected, labels) == 1.0
    result = json.loads(summary.read_text())
    assert (result["num_clusters"], result["num_outliers"]) == (clusters, outliers)
    assert set(result) == {"num_clusters", "num_outliers", "seconds", "peak_rss_mb"}


def test_label_with_kmeans_by_override(golden, tmp_path):
    out = tmp_path / "labels.npy"
    argv = ["label", "--features", str(_openunreid_features(golden, tmp_path)), "--out", str(out)]
    assert main([*argv, "--set", "pseudo_labeler.kind=kmeans", "--set", "pseudo_labeler.num_clusters=100"]) == 0
    assert len(np.unique(np.load(out))) == 100


def test_label_refuses_features_that_are_not_a_matrix(tmp_path, capsys):
    path = tmp_path / "flat.npy"
    np.save(path, np.zeros(5, np.float32))
    assert main(["label", "--features", str(path), "--out", str(tmp_path / "l.npy")]) == 2
    assert "flat.npy must hold a float (N, D) array" in capsys.readouterr().err


def test_evaluate_rerank_reproduces_the_torchreid_golden(golden, tmp_path):
    _, path = _torchreid_feature_file(golden, tmp_path)
    expected = json.loads((golden / "torchreid" / "rerank.json").read_text())["variants"]["plain_euclidean"]
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--features", str(path), "--rerank", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["mAP"] == pytest.approx(expected["mAP"], abs=1e-6)
    np.testing.assert_allclose(result["cmc"], expected["cmc_first50"], rtol=0, atol=1e-6)
    # a different k1 is really used
    assert main(["evaluate", "--features", str(path), "--rerank", "--set", "rerank.k1=5", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["mAP"] != pytest.approx(expected["mAP"], abs=1e-6)


def test_label_never_imports_torch(golden, tmp_path):
    import subprocess
    import sys

    features = _openunreid_features(golden, tmp_path)
    code = (
        "import sys; from reidkit.entrypoints.cli import main; "
        f"code = main(['label', '--features', {str(features)!r}, '--out', {str(tmp_path / 'l.npy')!r}]); "
        "sys.exit(code or (3 if 'torch' in sys.modules else 0))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def _adaptas_sets(tiny_data, *extra):
    """The tiny preset for an adaptation profile: k-means labels (any feature gives 8 clusters)."""
    return as_sets(
        tiny_overrides(
            tiny_data,
            "train.domain='target'",
            "eval.domains=['target']",
            "pseudo_labeler.kind='kmeans'",
            "pseudo_labeler.num_clusters=8",
            *extra,
        )
    )


@pytest.mark.slow
def test_adapt_pretrains_on_the_source_then_adapts_and_prints_both(tiny_data, tmp_path, capsys):
    run_dir = tmp_path / "uda"
    assert main(["adapt", "--profile", "cluster_contrast_uda", "--work-dir", str(run_dir), *_adaptas_sets(tiny_data)]) == 0
    out = capsys.readouterr().out
    assert "source model -> target (direct transfer)" in out and "cluster_contrast_uda -> target" in out
    assert (run_dir / "pretrain" / "checkpoints" / "best.pt").is_file()
    labels = json.loads((run_dir / "metrics.json").read_text())["pseudo_labels"]
    assert [(e["epoch"], e["clusters"], e["samples"]) for e in labels] == [(1, 8, 64), (2, 8, 64)]
    assert {"precision", "recall", "f_score", "ari"} <= set(labels[0])


@pytest.mark.slow
def test_spcl_resume_restores_the_memory_and_reaches_the_uninterrupted_result(tiny_data, tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    base = ["adapt", "--profile", "spcl_usl", *_adaptas_sets(tiny_data, "train.epochs=3", "adapt.start_from='scratch'", "pseudo_labeler.kind='dbscan'",
            "pseudo_labeler.k1=10", "pseudo_labeler.use_outliers=true", "refine.kind=self_paced")]  # fmt: skip
    assert main([*base, "--work-dir", str(full)]) == 0
    assert main([*base, "--work-dir", str(split)], hook=interrupt_after_the_first_save) == 130
    assert main([*base, "--work-dir", str(split)]) == 0
    full_saved = json.loads((full / "metrics.json").read_text())
    split_saved = json.loads((split / "metrics.json").read_text())
    assert split_saved == full_saved
    assert len(full_saved["pseudo_labels"]) == 3


def test_adapt_refuses_a_supervised_profile(tmp_path, capsys):
    assert main(["adapt", "--profile", "strong_baseline", "--work-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "reidkit: profile 'strong_baseline' is supervised: run it with `reidkit train`\n"


@pytest.mark.slow
def test_demo_adapts_the_direct_transfer_model_and_prints_the_gain(tiny_data, tmp_path, capsys):
    adapt = tiny_overrides(tiny_data, "pseudo_labeler.kind='kmeans'", "pseudo_labeler.num_clusters=8")
    args = ["demo", "--work-dir", str(tmp_path), *as_sets(tiny_overrides(tiny_data))]
    args += [arg for item in adapt if not item.startswith("data.") for arg in ("--adapt-set", item)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "trained on source -> target (direct transfer)" in out
    assert "strong_baseline_uda on unlabelled target (" in out and " mAP)" in out
    assert "second stage: strong_baseline_uda shortened to 4 epochs" in out
    assert (tmp_path / "strong_baseline_uda" / "metrics.json").is_file()


@pytest.mark.slow
def test_usl_adapt_pretrains_the_generic_backbone_and_starts_from_it(tiny_data, tmp_path, capsys):
    run_dir = tmp_path / "usl"
    # the tiny preset has no `aux` domain for generic_backbone: the strong baseline on source stands in
    sets = _adaptas_sets(tiny_data, "adapt.pretrain_profile='strong_baseline'", "train.eval_start=true")
    assert main(["adapt", "--profile", "cluster_contrast_usl", "--work-dir", str(run_dir), *sets]) == 0
    out = capsys.readouterr().out
    assert "generic backbone -> target" in out and "cluster_contrast_usl -> target" in out
    assert "(direct transfer)" not in out
    assert (run_dir / "pretrain" / "backbone.pt").is_file()
    log = (run_dir / "log.jsonl").read_text()
    assert str(run_dir / "pretrain" / "backbone.pt") in log  # the adapted model loaded it
    # train.eval_start: the trunk with its fresh neck, scored before the first epoch
    evaluated = [e["epoch"] for e in json.loads((run_dir / "metrics.json").read_text())["evaluations"]]
    assert evaluated == [0, 2]


@pytest.mark.slow
def test_mmt_pretrains_two_students_and_resumes_exactly(tiny_data, tmp_path, capsys):
    full, split = tmp_path / "full", tmp_path / "split"
    base = ["adapt", "--profile", "mmt_uda", *_adaptas_sets(tiny_data, "train.epochs=2")]
    assert main([*base, "--work-dir", str(full)]) == 0
    out = capsys.readouterr().out
    assert "mmt_uda -> target" in out and "peer source model -> target (direct transfer)" in out
    assert (full / "pretrain_peer" / "checkpoints" / "best.pt").is_file()  # the second student's source model
    assert main([*base, "--work-dir", str(split)], hook=interrupt_after_the_first_save) == 130
    assert main([*base, "--work-dir", str(split)]) == 0
    assert json.loads((split / "metrics.json").read_text()) == json.loads((full / "metrics.json").read_text())


def test_adapt_refuses_a_used_folder_when_resume_is_off(tmp_path, capsys):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch_0001.pt").write_bytes(b"x")
    code = main(["adapt", "--profile", "spcl_usl", "--work-dir", str(tmp_path), "--set", "runtime.resume=false"])
    assert code == 2
    assert "already holds checkpoints and runtime.resume is false" in capsys.readouterr().err


@pytest.mark.slow
def test_train_over_a_setting_runs_each_value_in_its_folder_and_reports_the_spread(tiny_data, tmp_path, capsys):
    work = tmp_path / "over"
    args = ["train", "--profile", "strong_baseline", "--work-dir", str(work), "--quiet", "--over", "seed=0..1"]
    assert main([*args, *as_sets(tiny_overrides(tiny_data))]) == 0
    assert sorted(p.name for p in work.iterdir()) == ["seed=0", "seed=1"]
    runs = [json.loads((work / name / "metrics.json").read_text())["evaluations"] for name in ("seed=0", "seed=1")]
    maps = [next(e["mAP"] for e in evaluations if e["domain"] == "target") for evaluations in runs]
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("target over 2 values of seed"))
    assert f"mAP {100 * np.mean(maps):.2f} ± {100 * np.std(maps, ddof=1):.2f}" in line


def test_train_over_checks_every_value_before_the_first_run(tiny_data, tmp_path, capsys):
    work = tmp_path / "over"
    args = ["train", "--profile", "strong_baseline", "--work-dir", str(work), "--over", "train.epochs=1,0"]
    assert main([*args, *as_sets(tiny_overrides(tiny_data))]) == 2
    assert "train.epochs" in capsys.readouterr().err
    assert not work.exists()
