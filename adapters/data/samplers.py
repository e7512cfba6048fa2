"""P x K identity sampler: every batch holds P distinct identities with K images each.

The order of an epoch is a pure function of (seed, epoch), drawn from the sampler's own numpy
Generator, so a resumed run replays exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


SINGLETONS = ("k", "once", "spcl")  # how IdentitySampler draws a label with a single image


class EpochSampler(Sampler[int]):
    """What the batch samplers share: ``num_batches`` batches of ``batch_size`` indices per epoch,
    the epoch set by ``set_epoch`` (and checkpointed), and under data parallelism each rank's
    slice of every global step of ``world_size`` batches."""

    num_batches: int
    world_size: int
    rank: int
    _epoch: int = 0

    @property
    def batch_size(self) -> int:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        self._epoch = int(epoch)

    def state_dict(self) -> dict:
        return {"epoch": self._epoch}

    def load_state_dict(self, state: dict) -> None:
        self._epoch = int(state["epoch"])

    def __len__(self) -> int:
        return self.num_batches * self.batch_size

    def _this_rank(self, order: list[int]) -> Iterator[int]:
        """This rank's share of an epoch drawn for all ranks (each global step: rank 0's batch,
        then rank 1's, ...)."""
        if self.world_size == 1:
            return iter(order)
        steps = np.asarray(order, dtype=np.int64).reshape(self.num_batches, self.world_size, self.batch_size)
        return iter(steps[:, self.rank].reshape(-1).tolist())


class IdentitySampler(EpochSampler):
    """Yields dataset indices, batch after batch of ``ids_per_batch`` x ``instances_per_id``.

    Labels < 0 (outliers) are never sampled. An identity with fewer than K images is drawn with
    replacement. Each identity's images are dealt out in shuffled chunks of K, so one epoch (by
    default about as many indices as there are labelled images) shows each image about once.

    With ``camids`` the deal is camera-aware, as the USL/UDA peers' RandomMultipleGallerySampler:
    an identity's images are interleaved camera by camera before chunking, so each chunk holds as
    many different cameras as the identity has. Pseudo-label clusters are camera-biased; drawing
    their positives across cameras is what makes training on them learn cross-camera identity.

    ``singletons`` says how a label with a single image (SpCL's un-clustered instance) is drawn:
    ``"k"`` as any identity with fewer than K images (K copies, in P x K batches); ``"once"``
    once per pass, the pass being every cluster's K-chunks (all of its images) and the singletons'
    single images, shuffled together and cut into batches of P x K images; ``"spcl"`` as SpCL's
    RandomMultipleGallerySampler draws a pass: every label once, a cluster as K images (a random
    anchor and K - 1 others from its other cameras when it has them), a singleton as its image.
    A large cluster thus gives all its images to a "once" pass and K to an "spcl" pass, so an
    "spcl" batch holds more singletons (about 57% of the images on the demo's first SpCL labels,
    against at most 43%). K copies of every singleton made three quarters of a batch instance terms
    there.

    Under data parallelism (``world_size`` > 1) every rank draws the same global step of
    ``world_size`` x P identities from the same generator and keeps its own P of them: the ranks'
    batches are disjoint, their union is what one process with ``world_size`` x P identities per
    batch would draw, and the default epoch shows each image about once across all the ranks.
    """

    def __init__(
        self,
        labels: Sequence[int],
        instances_per_id: int,
        ids_per_batch: int,
        *,
        seed: int,
        num_batches: int | None = None,
        camids: Sequence[int] | None = None,
        rank: int = 0,
        world_size: int = 1,
        singletons: str = "k",
    ) -> None:
        if singletons not in SINGLETONS:
            raise ValueError(f"singletons must be one of {', '.join(SINGLETONS)}, got {singletons!r}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got rank {rank} of {world_size}")
        if instances_per_id < 1:
            raise ValueError(f"instances_per_id must be >= 1, got {instances_per_id}")
        if ids_per_batch < 1:
            raise ValueError(f"ids_per_batch must be >= 1, got {ids_per_batch}")
        if num_batches is not None and num_batches < 1:
            raise ValueError(f"num_batches must be >= 1, got {num_batches}")
        self._groups = _group_by_label(labels)
        if camids is not None and len(camids) != len(labels):
            raise ValueError(f"{len(camids)} camera ids for {len(labels)} labels")
        self._camids = None if camids is None else np.asarray(camids, dtype=np.int64)
        if len(self._groups) < ids_per_batch * world_size:
            ranks = f" x {world_size} ranks" if world_size > 1 else ""
            raise ValueError(
                f"ids_per_batch={ids_per_batch}{ranks} but only {len(self._groups)} identities have labels >= 0"
            )
        self.instances_per_id = instances_per_id
        self.ids_per_batch = ids_per_batch
        self.seed = int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.singletons = singletons
        # Torchreid's epoch size: each identity contributes max(n, K) // K chunks of K.
        chunks = sum(max(len(group), instances_per_id) // instances_per_id for group in self._groups)
        global_ids = ids_per_batch * world_size
        self.num_batches = num_batches if num_batches is not None else max(1, chunks // global_ids)
        self._epoch = 0

    @property
    def batch_size(self) -> int:
        return self.ids_per_batch * self.instances_per_id

    @property
    def num_identities(self) -> int:
        return len(self._groups)

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self._epoch])
        global_ids = self.ids_per_batch * self.world_size
        global_images = self.batch_size * self.world_size
        if self.singletons == "once":
            order = _chunk_order(rng, self._groups, self.instances_per_id, global_images, self.num_batches, self._camids)
        elif self.singletons == "spcl":
            order = _spcl_order(rng, self._groups, self.instances_per_id, global_images, self.num_batches, self._camids)
        else:
            order = _epoch_order(rng, self._groups, global_ids, self.instances_per_id, self.num_batches, self._camids)
        return self._this_rank(order)


def _group_by_label(labels: Sequence[int]) -> tuple[np.ndarray, ...]:
    values = np.asarray(labels, dtype=np.int64).reshape(-1)
    kept = np.flatnonzero(values >= 0)
    order = np.argsort(values[kept], kind="stable")
    sorted_idx = kept[order]
    _, starts = np.unique(values[sorted_idx], return_index=True)
    return tuple(np.split(sorted_idx, starts[1:])) if sorted_idx.size else ()


def _epoch_order(
    rng: np.random.Generator,
    groups: tuple[np.ndarray, ...],
    p: int,
    k: int,
    num_batches: int,
    camids: np.ndarray | None = None,
) -> list[int]:
    pools = [_deal(rng, group, k, camids) for group in groups]
    order: list[int] = []
    for _ in range(num_batches):
        remaining = np.array([len(pool) for pool in pools], dtype=np.float64)
        if np.count_nonzero(remaining) < p:
            # Deal the exhausted identities again, so the promised length never runs short.
            for identity in np.flatnonzero(remaining == 0):
                pools[identity] = _deal(rng, groups[identity], k, camids)
                remaining[identity] = len(pools[identity])
        # Identities with more chunks left are drawn more often, so big ones are not starved.
        chosen = rng.choice(len(groups), size=p, replace=False, p=remaining / remaining.sum())
        for identity in chosen:
            order.extend(int(i) for i in pools[identity].pop())
    return order


def _chunk_order(
    rng: np.random.Generator,
    groups: tuple[np.ndarray, ...],
    k: int,
    batch_images: int,
    num_batches: int,
    camids: np.ndarray | None = None,
) -> list[int]:
    """Every group's K-chunks (a single-image group: that image alone), shuffled together, pass
    after pass until ``num_batches`` batches of ``batch_images`` are filled."""
    total = num_batches * batch_images
    order: list[int] = []
    while len(order) < total:
        chunks = [chunk for group in groups for chunk in (_deal(rng, group, k, camids) if len(group) > 1 else [group])]
        for position in rng.permutation(len(chunks)):
            order.extend(int(i) for i in chunks[position])
    return order[:total]


def _spcl_order(
    rng: np.random.Generator,
    groups: tuple[np.ndarray, ...],
    k: int,
    batch_images: int,
    num_batches: int,
    camids: np.ndarray | None = None,
) -> list[int]:
    """SpCL's passes: every group once in random order, a group of one image as that image, a
    larger one as a random anchor and K - 1 of its images from other cameras than the anchor's
    (of any other image when all share its camera), without repeats when there are enough; pass
    after pass until ``num_batches`` batches of ``batch_images`` are filled. (Upstream draws with
    repeats when exactly K - 1 images qualify; here they are drawn once each.)"""
    total = num_batches * batch_images
    order: list[int] = []
    while len(order) < total:
        for position in rng.permutation(len(groups)):
            group = groups[position]
            anchor = group[rng.integers(len(group))]
            order.append(int(anchor))
            if len(group) == 1:
                continue
            others = group[group != anchor]
            if camids is not None and (camids[others] != camids[anchor]).any():
                others = others[camids[others] != camids[anchor]]
            picks = rng.choice(others, size=k - 1, replace=len(others) < k - 1)
            order.extend(int(i) for i in picks)
    return order[:total]


def _deal(rng: np.random.Generator, group: np.ndarray, k: int, camids: np.ndarray | None = None) -> list[np.ndarray]:
    """The group shuffled into chunks of K; a short last chunk is topped up with images from the
    full chunks (repeats within a chunk only when the group has fewer than K images). With
    ``camids``, the shuffled images are interleaved one camera at a time before chunking."""
    shuffled = rng.permutation(group)
    if camids is not None:
        shuffled = _interleave_cameras(shuffled, camids[shuffled])
    short = -len(shuffled) % k
    if short:
        full = shuffled[: len(shuffled) - (k - short)]
        donors = full if len(full) >= short else group
        extra = rng.choice(donors, size=short, replace=short > len(donors))
        shuffled = np.concatenate([shuffled, extra])
    return list(shuffled.reshape(-1, k))


def _interleave_cameras(indices: np.ndarray, cameras: np.ndarray) -> np.ndarray:
    """Round-robin over cameras, keeping each camera's (shuffled) order: the n-th image of every
    camera before any camera's (n+1)-th, cameras in order of first appearance."""
    order = np.argsort(cameras, kind="stable")
    sorted_cams = cameras[order]
    starts = np.searchsorted(sorted_cams, sorted_cams, side="left")
    rank = np.empty(len(indices), dtype=np.int64)
    rank[order] = np.arange(len(indices)) - starts
    _, first_seen = np.unique(cameras, return_index=True)
    camera_position = np.empty(len(indices), dtype=np.int64)
    camera_position[:] = np.argsort(np.argsort(first_seen))[np.searchsorted(np.unique(cameras), cameras)]
    return indices[np.lexsort((camera_position, rank))]


class GroupSampler(EpochSampler):
    """Yields dataset indices, batch after batch of ``groups_per_batch`` groups with
    ``batch_size // groups_per_batch`` images each: the groups are the records' cameras for
    Torchreid's RandomDomainSampler, their datasets for its RandomDatasetSampler.

    Each batch draws its groups at random among those with enough images left, and their images
    without replacement; when fewer than ``groups_per_batch`` groups have enough left, every
    group's pool is dealt again. So an epoch (``num_batches``, by default about one pass over the
    images) always has the same length. Torchreid ends an epoch as soon as one selected group runs
    low, which with groups of unequal sizes shows the larger ones only in part, and its length
    changes with the draw. The order is a pure function of (seed, epoch), as IdentitySampler's;
    under data parallelism every rank draws the same global steps and keeps its own slice.
    """

    def __init__(
        self,
        groups: Sequence[int],
        batch_size: int,
        groups_per_batch: int,
        *,
        seed: int,
        num_batches: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got rank {rank} of {world_size}")
        if groups_per_batch < 1:
            raise ValueError(f"groups_per_batch must be >= 1, got {groups_per_batch}")
        if batch_size < groups_per_batch or batch_size % groups_per_batch:
            raise ValueError(f"batch_size {batch_size} must be a multiple of groups_per_batch {groups_per_batch}")
        if num_batches is not None and num_batches < 1:
            raise ValueError(f"num_batches must be >= 1, got {num_batches}")
        self._groups = _group_by_label(groups)
        self.per_group = batch_size // groups_per_batch
        usable = sum(len(g) >= self.per_group for g in self._groups)
        if usable < groups_per_batch:
            raise ValueError(
                f"groups_per_batch={groups_per_batch} but only {usable} of {len(self._groups)} groups hold "
                f"{self.per_group} images (batch_size {batch_size} / {groups_per_batch})"
            )
        self._batch_size, self.groups_per_batch = int(batch_size), int(groups_per_batch)
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        images = sum(len(g) for g in self._groups)
        self.num_batches = num_batches if num_batches is not None else max(1, images // (batch_size * world_size))
        self._epoch = 0

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self._epoch])
        pools: list[list[int]] = []
        order: list[int] = []
        for _ in range(self.num_batches * self.world_size):
            ready = [i for i, pool in enumerate(pools) if len(pool) >= self.per_group]
            if len(ready) < self.groups_per_batch:
                pools = [rng.permutation(g).tolist() for g in self._groups]
                ready = [i for i, pool in enumerate(pools) if len(pool) >= self.per_group]
            for group in rng.choice(ready, size=self.groups_per_batch, replace=False):
                order += pools[group][: self.per_group]
                del pools[group][: self.per_group]
        return self._this_rank(order)
