"""Code that runs inside each rank of a 2-process gloo group spawned by the tests.

Spawned processes import this module by name, so it holds no test functions; each scenario saves
what its rank saw under ``out`` for the test process to compare.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from reidkit.adapters.data.batch import TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.encoders.sharded import ShardedEncoder
from reidkit.adapters.memory.cluster_memory import ClusterMemory
from reidkit.adapters.memory.global_update import GlobalMemoryUpdate
from reidkit.adapters.memory.hybrid_memory import HybridMemory
from reidkit.adapters.models.backbone import ReidNet
from reidkit.adapters.models.pooling import GlobalAveragePooling
from reidkit.adapters.runtime.collectives import ProcessGroup
from reidkit.adapters.runtime.distributed import RankZeroLabeler, RankZeroRefiner
from reidkit.adapters.runtime.replication import DistributedReplicas, Replicas
from reidkit.adapters.steps.base import StepRuntime
from reidkit.adapters.steps.memory_contrast import MemoryContrastStep
from reidkit.adapters.steps.supervised import SupervisedStep
from reidkit.domain.errors import PseudoLabelError
from reidkit.domain.types import FeatureMatrix, ImageRecord, PseudoLabels

WORLD = 2
DIM = 8


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spawn(worker: Callable[..., None], *args: object, world: int = WORLD) -> None:
    """Runs ``worker(rank, world, *args)`` in ``world`` fresh processes (rendezvous on a free
    loopback port, as torchrun's env:// would) and fails if any of them fails."""
    mp.spawn(_enter, args=(world, free_port(), worker, args), nprocs=world, join=True)


def _enter(rank: int, world: int, port: int, worker: Callable[..., None], args: tuple) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)  # two ranks share the test machine's cores
    worker(rank, world, *args)


# --- sharded extraction, rank-0 labels, global memory updates, DDP steps ------------------------


class IndexEncoder:
    """Row i of record ``r{i}.jpg`` is a function of i alone; remembers what it was asked for."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, records: Sequence[ImageRecord]) -> FeatureMatrix:
        self.seen.extend(r.path for r in records)
        index = np.array([float(Path(r.path).stem[1:]) for r in records], dtype=np.float32)
        return FeatureMatrix(np.stack([index, index**2, np.sin(index), np.full_like(index, 1.0)], axis=1))


class RankLabeler:
    """Labels that differ by rank, or a failure on rank 0: what the decorator must hide."""

    def __init__(self, rank: int, fail: bool = False) -> None:
        self.rank, self.fail = rank, fail

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        if self.fail:
            raise PseudoLabelError("rank 0 found 1 cluster")
        return PseudoLabels(np.arange(len(features)) % (2 + self.rank))


class RankRefiner:
    """Drops cluster ``rank`` to outliers (so each rank would refine differently), or fails on rank
    0; counts its calls, which only rank 0 should make."""

    def __init__(self, rank: int, fail: bool = False) -> None:
        self.rank, self.fail, self.calls = rank, fail, 0

    def refine(self, features: FeatureMatrix, labels: PseudoLabels) -> PseudoLabels:
        self.calls += 1
        if self.fail:
            raise PseudoLabelError("rank 0 could not refine")
        values = labels.labels
        return PseudoLabels(np.where(values == self.rank, -1, values - (values > self.rank)))


def records(count: int) -> tuple[ImageRecord, ...]:
    return tuple(ImageRecord(f"r{i}.jpg", i % 3, i % 2) for i in range(count))


def global_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """12 features and, for each, a cluster id and a hybrid-memory row, repeats within and across
    the ranks' halves (rank r gets rows 6r..6r+5)."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.nn.functional.normalize(torch.randn(12, DIM, generator=generator), dim=1)
    clusters = torch.tensor([0, 1, 1, 2, 0, 3, 1, 2, 2, 0, 3, 3])
    rows = torch.tensor([0, 5, 5, 2, 7, 1, 5, 2, 9, 0, 3, 4])
    return features, clusters, rows


def fresh_memories() -> tuple[ClusterMemory, HybridMemory]:
    rng = np.random.default_rng(1)
    cluster = ClusterMemory(DIM, momentum=0.3)
    cluster.reset(FeatureMatrix(rng.normal(size=(16, DIM))), PseudoLabels(np.arange(16) % 4))
    hybrid = HybridMemory(DIM, momentum=0.3)
    hybrid.initialize(FeatureMatrix(rng.normal(size=(10, DIM))))
    return cluster, hybrid


def collectives(rank: int, world: int, out: Path) -> None:
    """Every scenario in one group: spawning ranks costs more than running them."""
    dist.init_process_group("gloo", rank=rank, world_size=world)
    group = ProcessGroup(rank=rank, world_size=world)
    saved: dict[str, object] = train_steps(DistributedReplicas(group), rank, group)
    for count in (7, 8, 1):  # padded, even, fewer records than ranks
        inner = IndexEncoder()
        saved[f"encoded_{count}"] = ShardedEncoder(inner, group).encode(records(count)).values
        saved[f"shard_{count}"] = inner.seen
    saved["labels"] = RankZeroLabeler(RankLabeler(rank), group).assign(FeatureMatrix(np.zeros((6, 2)))).labels
    try:
        RankZeroLabeler(RankLabeler(rank, fail=rank == 0), group).assign(FeatureMatrix(np.zeros((6, 2))))
    except PseudoLabelError as error:
        saved["error"] = str(error)
    features, clusters, rows = global_batch()
    local = slice(6 * rank, 6 * rank + 6)
    cluster, hybrid = fresh_memories()
    GlobalMemoryUpdate(cluster, group).update(features[local], clusters[local])
    GlobalMemoryUpdate(hybrid, group).update(features[local], rows[local])
    saved["cluster_memory"], saved["hybrid_memory"] = cluster.features.clone(), hybrid.features.clone()
    torch.save(saved, out / f"rank{rank}.pt")
    dist.destroy_process_group()


def rank_zero_refiner(rank: int, world: int, out: Path) -> None:
    """RankZeroRefiner on its own (no training steps, so it runs in a fraction of ``collectives``):
    a fake refiner's result or error, and DBSCAN then SpCL's criterion, counting Jaccard graphs."""
    import reidkit.adapters.clustering.dbscan as dbscan
    from reidkit.adapters.clustering.dbscan import DbscanLabeler
    from reidkit.adapters.clustering.self_paced import SelfPacedReliability

    dist.init_process_group("gloo", rank=rank, world_size=world)
    group = ProcessGroup(rank=rank, world_size=world)
    saved: dict[str, object] = {}
    refiner = RankRefiner(rank)
    given = PseudoLabels(np.arange(6) % 3)
    saved["refined"] = RankZeroRefiner(refiner, group).refine(FeatureMatrix(np.zeros((6, 2))), given).labels
    saved["refiner_calls"] = refiner.calls
    try:
        RankZeroRefiner(RankRefiner(rank, fail=rank == 0), group).refine(FeatureMatrix(np.zeros((6, 2))), given)
    except PseudoLabelError as error:
        saved["refine_error"] = str(error)

    graphs: list[float] = []
    real = dbscan.jaccard_graph

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - this process only, never restored
        graphs.append(kwargs["max_distance"])
        return real(*args, **kwargs)

    dbscan.jaccard_graph = counting
    labeler = DbscanLabeler(k1=10, k2=4, eps=0.5, min_samples=3, use_outliers=True)
    reliability = SelfPacedReliability(labeler)
    features = self_paced_features()
    labels = RankZeroLabeler(labeler, group).assign(features)
    saved["self_paced"] = RankZeroRefiner(reliability, group).refine(features, labels).labels
    saved["threshold"] = reliability.independence_threshold  # rank 0's only: the others never refine
    saved["graphs"] = graphs
    torch.save(saved, out / f"refiner_rank{rank}.pt")
    dist.destroy_process_group()


def self_paced_features() -> FeatureMatrix:
    """Eight overlapping blobs of 15: enough noise for SpCL's criterion to expel someone."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, DIM))
    x = centres[np.repeat(np.arange(8), 15)] + rng.normal(scale=0.6, size=(120, DIM))
    return FeatureMatrix(x / np.linalg.norm(x, axis=1, keepdims=True))


def tiny_model(num_classes: int) -> ReidNet:
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Conv2d(3, DIM, 3, padding=1), nn.BatchNorm2d(DIM), nn.ReLU())
    return ReidNet(trunk, DIM, num_classes=num_classes, pooling=GlobalAveragePooling())


def batch(rank: int, step: int, classes: int) -> TrainingBatch:
    generator = torch.Generator().manual_seed(1000 * rank + step)  # every rank its own data
    images = torch.randn(8, 3, 8, 4, generator=generator)
    return TrainingBatch.of_domain(images, torch.arange(8) % classes, torch.arange(8) + 8 * rank, TARGET_DOMAIN)


def train_steps(replicas: Replicas, rank: int, group: ProcessGroup) -> dict[str, object]:
    """Two epochs of a supervised step (the head resized between them, as a pseudo-label method
    does) and of a memory step with a learnt temperature and a head the loss never uses."""
    from reidkit.adapters.losses.cross_entropy import CrossEntropyLoss
    from reidkit.adapters.losses.weighted import WeightedLoss

    runtime = StepRuntime(replicas=replicas)
    model = tiny_model(num_classes=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # stateless: the head resizes
    ce = WeightedLoss("ce", CrossEntropyLoss(), 1.0, reads="logits")
    step = SupervisedStep(model, optimizer, [ce], runtime=runtime)
    for epoch, classes in enumerate((3, 5)):
        if epoch:
            model.resize_classifier(classes)
        step.begin_epoch(epoch)
        for index in range(2):
            step.run(batch(rank, 10 * epoch + index, classes))

    contrast_model = tiny_model(num_classes=1)
    memory = ClusterMemory(DIM, learn_temperature=True)
    memory.reset(FeatureMatrix(np.random.default_rng(3).normal(size=(8, DIM))), PseudoLabels(np.arange(8) % 4))
    optimizer = torch.optim.SGD([*contrast_model.parameters(), *memory.parameters()], lr=0.1)
    contrast = MemoryContrastStep(contrast_model, optimizer, GlobalMemoryUpdate(memory, group), runtime=runtime)
    for epoch in range(2):
        contrast.begin_epoch(epoch)
        for index in range(2):
            contrast.run(batch(rank, 100 + 10 * epoch + index, 4))
    return {
        "supervised": {k: v.clone() for k, v in model.state_dict().items()},
        "contrast": {k: v.clone() for k, v in contrast_model.state_dict().items()},
        "memory": {k: v.clone() for k, v in memory.state_dict().items()},
    }


# --- whole runs: a profile's use-case on every rank, as `reidkit train` runs it under torchrun ---


class LabelRecorder:
    """An observer keeping the pseudo labels of every epoch (on every rank: it is not wrapped in
    the rank-0 observer)."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def on_pseudo_labels(self, epoch: int, labels: PseudoLabels, quality: object) -> None:
        self.seen.append(np.array(labels.labels))

    def on_run_start(self, *, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        return None

    def on_epoch_start(self, epoch: int) -> None:
        return None

    def on_step(self, epoch: int, step: int, report: object) -> None:
        return None

    def on_epoch_end(self, epoch: int) -> None:
        return None

    def on_evaluation(self, epoch: int, name: str, metrics: object) -> None:
        return None

    def on_run_end(self, progress: object) -> None:
        return None


def run_recording(profile: str, overrides: Sequence[str], work_dir: Path) -> dict[str, object]:
    """Runs the profile's use-case and returns the pseudo labels each epoch trained on (as the
    epoch's consumers received them) and the final model's state."""
    from dependency_injector import providers

    from reidkit.adapters.runtime.observers import CompositeObserver
    from reidkit.entrypoints.app import build_app
    from reidkit.entrypoints.settings import load_profile

    recorder = LabelRecorder()
    app = build_app(load_profile(profile, list(overrides)), work_dir=str(work_dir))
    observer = CompositeObserver([app.container.training.observer(), recorder])
    with app.container.training.observer.override(providers.Object(observer)), app:
        app.run()
        model = {k: v.detach().cpu().clone() for k, v in app.container.network.model().state_dict().items()}
    return {"labels": recorder.seen, "model": model}


def runs(rank: int, world: int, jobs: Sequence[tuple[str, Sequence[str], Path]], ports: Sequence[int], out: Path) -> None:
    """Each job in turn on every rank. The runtime starts and ends the process group per run; each
    run rendezvouses on its own port, so no rank can reach the previous run's store while rank 0
    is still releasing it."""
    results = []
    for (profile, overrides, work_dir), port in zip(jobs, ports):
        os.environ["MASTER_PORT"] = str(port)
        results.append(run_recording(profile, overrides, work_dir))
    torch.save(results, out / f"runs_rank{rank}.pt")


# --- a whole translation run (CycleGAN, SPGAN): rank 0 renders, every rank trains ---------------


class CountingTranslator:
    """Passes each split on to the run's translator, counting the calls (one per split on the rank
    that renders, none on the others)."""

    def __init__(self, inner: object) -> None:
        self.inner, self.calls = inner, 0

    def translate(self, records: Sequence[ImageRecord], out_dir: str) -> tuple[ImageRecord, ...]:
        self.calls += 1
        return self.inner.translate(records, out_dir)  # type: ignore[attr-defined]


def translation_run(rank: int, world: int, profile: str, overrides: Sequence[str], work_dir: Path, out: Path) -> None:
    """Runs a translate profile's use-case on this rank; saves its progress, how often it rendered
    and the final weights of every network."""
    from dependency_injector import providers

    from reidkit.entrypoints.app import build_app
    from reidkit.entrypoints.settings import load_profile

    app = build_app(load_profile(profile, list(overrides)), work_dir=str(work_dir))
    with app:
        translator = CountingTranslator(app.container.translator())
        app.container.translator.override(providers.Object(translator))
        progress = app.run()
        step = app.container.step()
        networks = {"generators": step.generators, "discriminators": step.discriminators}
        networks.update({"metric_net": module for module in step.metric.modules()})
        saved = {name: {k: v.detach().cpu().clone() for k, v in net.state_dict().items()} for name, net in networks.items()}
    torch.save({"epochs_done": progress.epochs_done, "translate_calls": translator.calls, **saved}, out / f"translate_rank{rank}.pt")


def supervised_run(rank: int, world: int, profile: str, overrides: Sequence[str], work_dir: Path, out: Path) -> None:
    """Runs a supervised profile's use-case on this rank; saves its progress and the final
    weights of its model (a mask head's included)."""
    from reidkit.entrypoints.app import build_app
    from reidkit.entrypoints.settings import load_profile

    app = build_app(load_profile(profile, list(overrides)), work_dir=str(work_dir))
    with app:
        model = app.container.step().model
        initial = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        progress = app.run()
        saved = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save({"epochs_done": progress.epochs_done, "initial": initial, "model": saved}, out / f"supervised_rank{rank}.pt")
