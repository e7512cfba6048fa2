"""The data every method composes: the domains, their transforms, the training split and the
evaluator."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import structlog
from dependency_injector import containers, providers

from reidkit.adapters.data.boxes import BoxedTrainTransform
from reidkit.adapters.data.frames import FrameSampling
from reidkit.adapters.data.market import read_market
from reidkit.adapters.data.readers import dataset_reader
from reidkit.adapters.data.scan import screen_training_images
from reidkit.adapters.data.synth import ensure_synthetic
from reidkit.adapters.data.synth_baggage import BAGGAGE_PRESETS, ensure_synthetic_baggage
from reidkit.adapters.data.synth_video import VIDEO_PRESETS, ensure_synthetic_video
from reidkit.adapters.data.transforms import build_test_transform, build_train_transform
from reidkit.adapters.evaluation.evaluator import RankingEvaluator
from reidkit.adapters.evaluation.rerank import KReciprocalReranker
from reidkit.adapters.runtime.observers import progress_callback
from reidkit.adapters.translation.render import read_manifest
from reidkit.application.evaluate import pick_domain
from reidkit.domain.combine import combined_all, combined_training_split
from reidkit.domain.errors import DatasetError
from reidkit.domain.types import ReidDataset
from reidkit.entrypoints.parts.keys import switch
from reidkit.entrypoints.settings import (
    DataSettings,
    Profile,
    data_form,
    dataset_options,
    make_converter,
    unstructure_profile,
)


def default_data_dir() -> Path:
    """Where the synthetic data is cached: $REIDKIT_DATA_DIR, else ~/.cache/reidkit/synthetic."""
    return Path(os.environ.get("REIDKIT_DATA_DIR") or Path.home() / ".cache" / "reidkit" / "synthetic")


def synthetic_domains(preset: str, seed: int, cache_dir: str, quiet: bool = False) -> dict[str, ReidDataset]:
    progress = progress_callback(f"generating synthetic data ({preset}, seed {seed})", enabled=not quiet)
    cache = Path(cache_dir) if cache_dir else default_data_dir()
    if preset in VIDEO_PRESETS:  # tracklets, in the DukeMTMC-VideoReID layout
        video = dataset_reader("dukemtmc_video")
        roots = ensure_synthetic_video(preset, seed, cache, progress=progress)
        return {name: video.read(root, domain=name) for name, root in roots.items()}
    if preset in BAGGAGE_PRESETS:  # bags, in the MVB layout: one domain, gallery and probe sides
        root = ensure_synthetic_baggage(preset, seed, cache, progress=progress)
        return {"mvb": dataset_reader("mvb").read(root, domain="mvb")}
    roots = ensure_synthetic(preset, seed, cache, progress=progress)
    return {name: read_market(root, domain=name) for name, root in roots.items()}


def market_domains(roots: Mapping[str, str]) -> dict[str, ReidDataset]:
    return {name: read_market(root, domain=name) for name, root in roots.items()}


def dataset_domains(sets: Mapping[str, Mapping[str, Any]]) -> dict[str, ReidDataset]:
    """``[data.sets]``: each domain read by its reader from its root, with its options."""
    domains = {}
    for name, table in sets.items():
        kind, root, options, combineall = dataset_options(name, table)
        reader = dataset_reader(kind)
        domains[name] = reader.read(Path(root), domain=name, options=options)
        if combineall:
            domains[name] = combined_all(domains[name], reader.junk_pids)
    return domains


def training_split(
    domains: Mapping[str, ReidDataset], names: str | Sequence[str], unreadable: str, run_dir: str, quiet: bool = False
) -> ReidDataset:
    """The training split of ``train.domain``, its images checked under ``data.unreadable``; a
    list of domains is one split with their identities and cameras side by side."""
    checked = []
    for name in [names] if isinstance(names, str) else names:
        progress = progress_callback(f"checking the training images of '{name}'", enabled=not quiet)
        checked.append(screen_training_images(pick_domain(domains, name), unreadable, run_dir, progress=progress))  # type: ignore[arg-type]
    return combined_training_split(checked)


def translated_domains(
    domains: Mapping[str, ReidDataset], name: str, root: str, keep_original: bool = False
) -> dict[str, ReidDataset]:
    """``domains`` with ``name`` (when given) read from its rendering at ``root`` instead: a
    translate run's translated/ folder, whose manifest must say it renders ``name``. With
    ``keep_original`` the domain trains on its real and its rendered images together."""
    if not name:
        return dict(domains)
    if name not in domains:
        raise DatasetError(f"translated.domain names '{name}', but the data has only {sorted(domains)}")
    manifest = read_manifest(root)
    rendered = manifest.get("source_domain", "")
    if rendered != name:
        raise DatasetError(f"translated.root {root} renders the domain '{rendered}', not translated.domain '{name}'")
    structlog.get_logger("reidkit").info(
        "domain read as its translation", domain=name, style_of=manifest.get("style_of", ""), root=root,
        made_by=manifest.get("made_by", ""),
    )
    rendering = read_market(root, domain=name)
    return {**domains, name: with_original_images(domains[name], rendering, root) if keep_original else rendering}


def with_original_images(original: ReidDataset, rendering: ReidDataset, root: str) -> ReidDataset:
    """``original``'s real test splits and a training split of its real images followed by their
    renderings, each rendering under the identity of the real image of the same name."""
    pid_of = {Path(r.path).name: r.pid for r in original.train}
    for record in rendering.train:
        known = pid_of.get(Path(record.path).name)
        if known != record.pid:
            raise DatasetError(
                f"translated.keep_original: {record.path} in {root} "
                + ("has no real image of that name" if known is None else "is not the identity of the real image of that name")
                + f" in domain '{original.name}'; the rendering was made from other data"
            )
    return attrs.evolve(original, train=(*original.train, *rendering.train))


class Data(containers.DeclarativeContainer):
    """``domains`` by ``data.kind`` (one of them replaced by its translation when
    ``translated.domain`` names it); ``train_set`` is ``train.domain``'s training split."""

    config = providers.Configuration(strict=True)

    read_domains = providers.Selector(
        config.data.kind,
        synthetic=providers.Singleton(
            synthetic_domains,
            preset=config.data.preset,
            seed=config.data.seed,
            cache_dir=config.data.cache_dir,
            quiet=config.runtime.quiet,
        ),
        market=providers.Singleton(market_domains, roots=config.data.roots),
        datasets=providers.Singleton(dataset_domains, sets=config.data.sets),
    )
    domains = providers.Singleton(
        translated_domains, read_domains, config.translated.domain, config.translated.root, config.translated.keep_original
    )
    train_set = providers.Singleton(
        training_split, domains, config.train.domain, config.data.unreadable, config.runtime.work_dir, config.runtime.quiet
    )
    # with a mask head, the training images' true boxes move with them (BoxedTrainTransform)
    train_transform = providers.Selector(
        providers.Callable(switch, config.model.mask_head),
        off=providers.Singleton(
            build_train_transform,
            config.input.height,
            config.input.width,
            flip_p=config.input.flip_p,
            pad=config.input.pad,
            erasing_p=config.input.erasing_p,
        ),
        on=providers.Singleton(
            BoxedTrainTransform,
            config.input.height,
            config.input.width,
            flip_p=config.input.flip_p,
            pad=config.input.pad,
            erasing_p=config.input.erasing_p,
        ),
    )
    test_transform = providers.Singleton(build_test_transform, config.input.height, config.input.width)
    # video data (``data_form``: a tracklet reader or video preset): the frames a training tracklet
    # gives (``[video] sample``) and those a test tracklet's feature pools (``test_sample``); None
    # for image data, whose batches and encoder are what they were before video existed
    form = providers.Callable(data_form, config.data)
    frames = providers.Selector(
        form,
        image=providers.Object(None),
        video=providers.Singleton(FrameSampling, seq_len=config.video.seq_len, sample=config.video.sample),
    )
    test_frames = providers.Selector(
        form,
        image=providers.Object(None),
        video=providers.Singleton(FrameSampling, seq_len=config.video.seq_len, sample=config.video.test_sample),
    )

    evaluator = providers.Selector(
        providers.Callable(switch, config.rerank.enabled),
        off=providers.Singleton(
            RankingEvaluator,
            metric=config.eval.metric,
            normalize=config.eval.normalize,
            max_rank=config.eval.max_rank,
            single_gallery_shot=config.eval.single_gallery_shot,
        ),
        on=providers.Singleton(
            RankingEvaluator,
            metric=config.eval.metric,
            normalize=config.eval.normalize,
            max_rank=config.eval.max_rank,
            single_gallery_shot=config.eval.single_gallery_shot,
            reranker=providers.Singleton(
                KReciprocalReranker, config.rerank.k1, config.rerank.k2, config.rerank.lambda_value
            ),
        ),
    )


def profile_data(profile: Profile) -> Data:
    """The Data container of ``profile`` alone (its domains, transforms and evaluator), for the
    commands that read data without training."""
    data = Data()
    data.config.from_dict(unstructure_profile(profile))
    return data


def settings_domains(data: DataSettings, *, quiet: bool = False) -> dict[str, ReidDataset]:
    """The domains of ``[data]`` settings alone (``reidkit data stats``)."""
    container = Data()
    container.config.from_dict({"data": make_converter().unstructure(data), "runtime": {"quiet": quiet}})
    return container.read_domains()
