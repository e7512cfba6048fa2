"""The tiny preset as the tests run it: settings that make any profile train in seconds, the
`--set` form of them, and random starting models with the tiny profiles' architecture."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def tiny_overrides(data_dir: Path, *extra: str) -> list[str]:
    """--set overrides that make a profile run in seconds on the tiny preset cached in ``data_dir``."""
    return [
        "data.preset='tiny'",
        f"data.cache_dir='{data_dir}'",
        "input.height=64",
        "input.width=32",
        "train.ids_per_batch=4",
        "train.instances_per_id=2",
        "train.iters_per_epoch=2",
        "train.epochs=2",
        "eval.batch_size=64",
        *extra,
    ]


def adapt_overrides(data_dir: Path, *extra: str) -> list[str]:
    """tiny_overrides for an adaptation profile: the target unlabelled, scored on itself."""
    return tiny_overrides(data_dir, "train.domain='target'", "eval.domains=['target']", *extra)


# GLC's correction at epochs 2, 3, ... with a restart after epoch 2's. On the tiny preset's random
# features the network finds no confident link, so every scored pair is kept (link threshold 0)
# and the shared-neighbour filter on a 3-neighbour graph makes the components.
GLC_OVERRIDES = (
    "correct.kind='glc'", "correct.first_epoch=2", "correct.every=1", "correct.restart_epochs=[2]",
    "correct.k=4", "correct.link_threshold=0.0", "correct.shared_threshold=0.0", "correct.optimizer='adam'",
    "correct.lr=0.001", "correct.subgraphs_per_epoch=1", "correct.edge_chunks=2",
)  # fmt: skip


def as_sets(items: Iterable[str]) -> list[str]:
    """``--set`` arguments of the command line."""
    return [arg for item in items for arg in ("--set", item)]


def fabricated_translation(data_dir: Path, folder: Path) -> Path:
    """The tiny preset's source dataset copied as if a translate run had rendered it (a
    translated/ folder with its manifest), standing in for a translation run."""
    import json
    import shutil

    from reidkit.adapters.data.synth import ensure_synthetic

    roots = ensure_synthetic("tiny", 0, data_dir)
    shutil.copytree(roots["source"], folder, dirs_exist_ok=True)
    manifest = {"made_by": "tests.support.tiny", "source_domain": "source", "style_of": "target", "splits": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def starting_models(folder: Path, data_dir: Path | None = None) -> dict[str, Path]:
    """Random ResNet-18 starting models (last stride 2, as the embedded scale builds them), standing
    in for pre-training runs: a whole model (UDA's source model, MMT's peer) and its trunk in
    torchvision naming (USL's backbone); with ``data_dir`` (the tiny preset's cache) also a
    fabricated translation of its source (``translated``)."""
    from reidkit.adapters.models.backbone import build_reid_model
    from reidkit.adapters.runtime.checkpoint import export_model

    folder.mkdir(parents=True, exist_ok=True)
    model = build_reid_model("resnet18", num_classes=16, last_stride=2)
    paths = {"source": folder / "source.pt", "trunk": folder / "trunk.pt"}
    export_model(paths["source"], model)
    export_model(paths["trunk"], model.trunk)
    if data_dir is not None:
        paths["translated"] = fabricated_translation(data_dir, folder / "translated")
    return paths


def starting_overrides(profile_name: str, models: dict[str, Path]) -> list[str]:
    """What ``profile_name`` needs to start from ``models`` instead of pre-training them."""
    from reidkit.entrypoints.app import starting_models as needed
    from reidkit.entrypoints.settings import load_profile

    files = {"adapt.source_model": models["source"], "model.pretrained": models["trunk"]}
    profile = load_profile(profile_name)
    translated = [f"translated.root='{models['translated']}'"] if profile.translated.domain and "translated" in models else []
    return [*(f"{start.setting}='{files.get(start.setting, models['source'])}'" for start in needed(profile)), *translated]


def tiny_app(name: str, data_dir: Path, models: dict[str, Path], work_dir: Path, *extra: str):  # noqa: ANN201 - an App
    """The App of adaptation profile ``name`` on the tiny preset, started from ``models`` instead of
    pre-training them, in ``work_dir``."""
    from reidkit.entrypoints.app import build_app
    from reidkit.entrypoints.settings import load_profile

    profile = load_profile(name, adapt_overrides(data_dir, *starting_overrides(name, models), *extra))
    return build_app(profile, work_dir=str(work_dir))
