"""Using a trained run from the command line and from Python: extract then evaluate gives the
run's own last evaluation, evaluate --run scores it test-only, visrank draws its ranks, export
writes files that give its features, and ``load`` takes images."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from reidkit.entrypoints.cli import main
from tests.support.tiny import as_sets, tiny_overrides

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tiny_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("inference") / "run"
    assert main(["train", "--profile", "strong_baseline", "--work-dir", str(folder), "--quiet", *as_sets(tiny_overrides(tiny_data))]) == 0
    return folder


def _last_evaluations(run_dir) -> dict[str, dict]:
    evaluations = json.loads((run_dir / "metrics.json").read_text())["evaluations"]
    last = max(e["epoch"] for e in evaluations)
    return {e["domain"]: e for e in evaluations if e["epoch"] == last}


def _same_scores(got: dict, run: dict) -> None:
    assert got["mAP"] == run["mAP"] and got["mINP"] == run["mINP"] and got["cmc"] == run["cmc"]


def test_extract_then_evaluate_features_gives_the_runs_last_evaluation(run_dir, tmp_path, capsys):
    for domain, expected in _last_evaluations(run_dir).items():
        features, scores = tmp_path / f"{domain}.npz", tmp_path / f"{domain}.json"
        assert main(["extract", "--run", str(run_dir), "--data", domain, "--out", str(features)]) == 0
        assert main(["evaluate", "--features", str(features), "--json", str(scores)]) == 0
        _same_scores(json.loads(scores.read_text()), expected)
        with np.load(features) as saved:
            assert len(saved["query_paths"]) == len(saved["query_features"])


def test_evaluate_run_scores_every_eval_domain_test_only(run_dir, tmp_path, capsys):
    scores = tmp_path / "scores.json"
    assert main(["evaluate", "--run", str(run_dir), "--json", str(scores)]) == 0
    written = json.loads(scores.read_text())
    assert written["checkpoint"].endswith("best.pt")
    expected = _last_evaluations(run_dir)
    assert written["domains"].keys() == expected.keys()
    for domain, got in written["domains"].items():
        _same_scores(got, expected[domain])
    assert "run (best.pt) -> source" in capsys.readouterr().out


def test_visrank_draws_one_picture_per_query_and_all_of_them_stacked(run_dir, tmp_path, capsys):
    out = tmp_path / "ranks"
    assert main(["visrank", "--run", str(run_dir), "--data", "target", "--top", "5", "--queries", "3", "--out", str(out)]) == 0
    pictures = sorted(p.name for p in out.iterdir())
    assert len(pictures) == 4 and pictures[-1] == "ranks.png"
    rows = [Image.open(out / name) for name in pictures[:-1]]
    stacked = Image.open(out / "ranks.png")
    assert stacked.size == (rows[0].width, sum(r.height for r in rows))
    assert rows[0].height >= 128  # small inputs are drawn at least 128 pixels high


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "safetensors"])
def test_export_writes_a_file_that_gives_the_torch_features(run_dir, tmp_path, capsys, fmt):
    out = tmp_path / f"model.{fmt}"
    assert main(["export", "--run", str(run_dir), "--format", fmt, "--out", str(out)]) == 0
    assert out.is_file()
    line = capsys.readouterr().out
    assert f"{fmt} -> {out}: largest difference from the torch network" in line
    assert "on 8 source images (batch of 8 and of 1)" in line
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staged file left behind


def test_a_too_strict_tolerance_writes_nothing_and_says_why(run_dir, tmp_path, capsys):
    out = tmp_path / "model.pt"
    assert main(["export", "--run", str(run_dir), "--format", "torchscript", "--out", str(out), "--tolerance", "1e-30"]) == 2
    assert "differs from the torch network by" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_extract_images_writes_what_load_gives(run_dir, tiny_data, tmp_path, capsys):
    from reidkit.entrypoints import load

    folder = tmp_path / "images"
    folder.mkdir()
    sources = sorted((next(tiny_data.glob("tiny-seed0")) / "target" / "query").glob("*.jpg"))[:5]
    for source in sources:
        (folder / source.name).write_bytes(source.read_bytes())
    out = tmp_path / "features.npy"
    assert main(["extract", "--run", str(run_dir), "--images", str(folder), "--out", str(out)]) == 0
    saved = np.load(out)
    listed = (tmp_path / "features.paths.txt").read_text().split()
    assert listed == [str(folder / s.name) for s in sources]
    extractor = load(run_dir)
    from_paths = extractor(listed)
    np.testing.assert_allclose(saved, from_paths, atol=1e-5)
    np.testing.assert_allclose(extractor(Image.open(listed[2])), from_paths[2:3], atol=1e-5)
    np.testing.assert_allclose(extractor(np.asarray(Image.open(listed[2]))), from_paths[2:3], atol=1e-5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["extract", "--run", "{missing}", "--out", "f.npz"], "reidkit: run folder {missing} does not exist"),
        (["extract", "--run", "{run}", "--out", "{tmp}/f.npy"], "reidkit: --out {tmp}/f.npy must end in .npz (--data writes one)"),
        (["extract", "--run", "{run}", "--images", "{tmp}", "--out", "{tmp}/f.npy"], "reidkit: --images {tmp} holds no images"),
        (["evaluate", "--run", "{run}", "--features", "f.npz"], "reidkit: evaluate needs exactly one of --features FILE.npz or --run RUN"),
        (["evaluate", "--run", "{run}", "--data", "elsewhere"], "reidkit: no domain named 'elsewhere'; the data has ['source', 'target']"),
        (["visrank", "--run", "{run}", "--top", "0"], "reidkit: --top must be at least 1, got 0"),
        (["evaluate", "--run", "{run}", "--over", "model.backbone='resnet34'"], "reidkit: evaluate --over varies what is scored, not the model: model.backbone must be"),
        (["export", "--run", "{run}", "--format", "onnx", "--checkpoint", "latest.pt"], "reidkit: checkpoint latest.pt does not exist"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(run_dir, tmp_path, capsys, args, message):
    names = {"missing": tmp_path / "absent", "run": run_dir, "tmp": tmp_path}
    assert main([a.format(**names) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(message.format(**names))


def test_evaluate_over_a_setting_reports_each_value_and_the_mean(run_dir, tmp_path, capsys):
    scores = tmp_path / "over.json"
    args = ["evaluate", "--run", str(run_dir), "--data", "target", "--over", "eval.metric='cosine','euclidean'", "--json", str(scores)]
    assert main(args) == 0
    written = json.loads(scores.read_text())
    assert [entry["setting"] for entry in written["over"]] == ["eval.metric='cosine'", "eval.metric='euclidean'"]
    expected = _last_evaluations(run_dir)["target"]
    # unit-length features rank identically under both metrics
    assert written["mean_and_spread"]["target"]["mAP"] == {"mean": pytest.approx(expected["mAP"]), "std": pytest.approx(0.0)}
    assert "target over 2 values of eval.metric: mAP" in capsys.readouterr().out
