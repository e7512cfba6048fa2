"""GLC's pseudo-label correction (Yan et al., "Plug-and-Play Pseudo Label Correction Network for
Unsupervised Person Re-identification"), as a ``LabelRefiner``.

``GcnLinkRefiner.refine(features, labels)`` trains a small graph network, afresh at every call, to
tell which k-nearest neighbours share a pseudo label, then rebuilds the clusters from the links it
predicts:

    graph      cosine kNN (k) of the L2-normalised features, symmetrised (max), self-loops,
               row-normalised: sparse, N x k entries, never N x N
    network    one graph convolution  h = ReLU([x || A x] W + b)  (2d -> hidden), and an edge head
               MLP([h_i || h_j]) -> (no link, link), trained with the focal loss (gamma 2)
    training   on the clustered samples only: each sub-graph is a random seed cluster and its
               ``cluster_num`` nearest clusters (by centroid), ``member_fraction`` of each
               cluster's members, its own kNN graph; per sub-graph two shuffled passes over the
               graph's edges in ``edge_chunks`` steps each; SGD (lr 0.1, momentum 0.9) or Adam,
               the rate /10 after the first epoch
    inference  the graph of every sample; keep the kNN pairs with P(link) > ``link_threshold``;
               keep a kept edge i -> j when i and j share kept neighbours: max(c / |L_i|, c / |L_j|)
               > ``shared_threshold`` with c = |L_i & L_j|; connected components; components
               smaller than ``min_cluster_size`` become outliers (-1)

Every random draw comes from ``seed`` (``at_epoch`` derives a refiner for one epoch): the global
random generators of Python, numpy and torch are never reseeded or advanced (upstream reseeds all
of them with 42 in the middle of training).

Deliberate differences from the published code (hongyan-an/GLC_ReID, ``star/``):

- Nothing goes through files, any feature size works (upstream is fixed to 384-d), and it runs on
  the training device (upstream calls ``.cuda()`` unconditionally).
- Inference scores every kNN pair: upstream splits the pairs into 65 chunks of
  ``int(pairs / 65)`` and never scores the remainder.
- The shared-neighbour count is ``|L_i & L_j|``, the kept neighbours both ends have; upstream's
  ``(L L)[i, j]`` counts the two-step paths i -> m -> j, the same thing only where the kept links are
  symmetric. ``docs/adaptation.md`` (GLC) has the comparison.
- ``optimizer = "adam"`` is ours. Upstream's SGD at 0.1 learns over its 32k steps; at the few
  thousand a CPU run affords (2,400 measured), SGD leaves the edge head at the link prior (every
  pair alike), where Adam at 1e-3 separates the pairs (docs/adaptation.md, GLC). The embedded
  profiles use Adam.
- The number of sub-graphs per epoch scales with the clustered samples (``subgraphs_for``); upstream
  draws one per cluster, capped at 203, which on a few hundred clusters of the embedded data would
  train for the same number of steps on sets 10x smaller.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
import structlog
import torch
from attrs import define, field, validators
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components
from torch import nn

from reidkit.adapters.clustering.knn import KnnSearch
from reidkit.adapters.clustering.labels import finish, renumber_by_first_appearance
from reidkit.adapters.runtime.seeding import derive_seed
from reidkit.domain.types import FeatureMatrix, PseudoLabels

_log = structlog.get_logger(__name__)

# What upstream's schedule was sized for: Market-1501's training set, 203 sub-graphs per epoch.
REFERENCE_SAMPLES = 12_936
REFERENCE_SUBGRAPHS = 203


def subgraphs_for(clustered: int, cap: int = REFERENCE_SUBGRAPHS) -> int:
    """Sub-graphs per epoch for ``clustered`` samples: upstream's 203 at Market's 12,936 images,
    proportionally fewer below (at least 1), never more than ``cap``."""
    return max(1, min(cap, math.ceil(cap * clustered / REFERENCE_SAMPLES)))


# -- the graph -----------------------------------------------------------------------------------


def knn_graph(features: np.ndarray, k: int, knn: KnnSearch) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest neighbours of each L2-normalised row (itself included, capped at N) and
    their cosine similarities; an approximate search's empty slot is index -1."""
    k = min(k, features.shape[0])
    distances, indices = knn.search(features, k)
    similarities = 1.0 - np.where(np.isfinite(distances), distances, 4.0) / 2.0  # |a-b|^2 = 2 - 2cos
    return indices, similarities.astype(np.float32)


def adjacency(indices: np.ndarray, similarities: np.ndarray) -> csr_matrix:
    """Row-normalised max(A, A^T) + I of the kNN graph, A[i, j] = cos(i, j) for j a neighbour of i
    with a positive similarity (the self entries become the identity)."""
    n = indices.shape[0]
    rows = np.repeat(np.arange(n), indices.shape[1])
    cols, values = indices.ravel(), similarities.ravel()
    keep = (cols >= 0) & (cols != rows) & (values > 0)
    a = coo_matrix((values[keep], (rows[keep], cols[keep])), shape=(n, n)).tocsr()
    a = a.maximum(a.T).tolil()
    a.setdiag(1.0)
    a = a.tocsr()
    degree = np.asarray(a.sum(axis=1)).ravel()
    return csr_matrix(a.multiply(1.0 / degree[:, None]))


def to_torch(matrix: csr_matrix, device: torch.device) -> torch.Tensor:
    coo = matrix.tocoo()
    index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(index, values, coo.shape, check_invariants=False).coalesce().to(device)


# -- the network ---------------------------------------------------------------------------------


class GraphConv(nn.Module):
    """h = ReLU([x || A x] W + b): each node with the mean of its neighbours."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(2 * in_dim, out_dim)

    @staticmethod
    def inputs(x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """[x || A x]: fixed for a graph, so training computes it once per sub-graph, not per step."""
        return torch.cat([x, torch.sparse.mm(adj, x)], dim=1)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(inputs))

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return self.embed(self.inputs(x, adj))


class EdgeHead(nn.Module):
    """Logits of (no link, link) for node pairs: Linear(2h, h), PReLU, Linear(h, 2) on
    [h_i || h_j]. The first layer is applied as W_a h_i + W_b h_j + b, each half once per node
    rather than once per edge: the same function, and a graph has k times more edges than nodes."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.pair = nn.Linear(2 * hidden, hidden)
        self.act = nn.PReLU(hidden)
        self.out = nn.Linear(hidden, 2)

    def project(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every node's share of the first layer as the first and as the second end of a pair."""
        hidden = h.shape[1]
        return h @ self.pair.weight[:, :hidden].T, h @ self.pair.weight[:, hidden:].T

    def pairs(self, projected: tuple[torch.Tensor, torch.Tensor], first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        as_first, as_second = projected
        return self.out(self.act(as_first[first] + as_second[second] + self.pair.bias))

    def forward(self, h: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return self.pairs(self.project(h), first, second)


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Mean of -(1 - p_t)^gamma log p_t over the rows, p_t the softmax probability of the target
    class (Lin et al.; alpha 1, as GLC)."""
    log_p = torch.log_softmax(logits, dim=1).gather(1, targets.view(-1, 1)).squeeze(1)
    return (-((1.0 - log_p.exp()) ** gamma) * log_p).mean()


# -- the refiner ---------------------------------------------------------------------------------


def _positive(_instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be an int >= 1, got {value!r}")


def _fraction(_instance: Any, attribute: Any, value: Any) -> None:
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{attribute.name} must be in (0, 1], got {value!r}")


def _probability(_instance: Any, attribute: Any, value: Any) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{attribute.name} must be in [0, 1), got {value!r}")


@define(kw_only=True)
class GcnLinkRefiner:
    """GLC's correction network (module docstring). ``subgraphs_per_epoch`` 0 means
    ``subgraphs_for(clustered samples)``; a sub-graph with fewer than
    ``min(min_subgraph_size, clustered samples // 2)`` samples is skipped (upstream: 100)."""

    knn: KnnSearch
    k: int = field(default=50, validator=_positive)
    hidden: int = field(default=512, validator=_positive)
    cluster_num: int = field(default=350, validator=_positive)
    member_fraction: float = field(default=0.9, validator=_fraction)
    epochs: int = field(default=2, validator=_positive)
    subgraphs_per_epoch: int = field(default=0, validator=validators.ge(0))
    edge_chunks: int = field(default=40, validator=_positive)
    passes: int = field(default=2, validator=_positive)
    min_subgraph_size: int = field(default=100, validator=_positive)
    optimizer: str = field(default="sgd", validator=validators.in_(("sgd", "adam")))
    lr: float = field(default=0.1, validator=validators.gt(0))
    momentum: float = field(default=0.9, validator=validators.ge(0))
    weight_decay: float = field(default=1e-5, validator=validators.ge(0))
    gamma: float = field(default=2.0, validator=validators.ge(0))
    link_threshold: float = field(default=0.6, validator=_probability)
    shared_threshold: float = field(default=0.6, validator=_probability)
    min_cluster_size: int = field(default=5, validator=_positive)
    seed: int = field(default=0, validator=validators.ge(0))
    device: torch.device = field(default=torch.device("cpu"), converter=torch.device)

    def at_epoch(self, epoch: int) -> GcnLinkRefiner:
        """This refiner with its draws for ``epoch`` (a correction's are a function of seed and
        epoch, so a resumed run corrects exactly as an uninterrupted one)."""
        return attrs.evolve(self, seed=derive_seed(self.seed, "glc", epoch))

    def refine(self, features: FeatureMatrix, labels: PseudoLabels) -> PseudoLabels:
        if len(labels) != len(features):
            raise ValueError(f"{len(labels)} labels for {len(features)} samples")
        values = labels.labels
        clustered = np.flatnonzero(values >= 0)
        if labels.num_clusters < 2:
            _log.warning("glc: fewer than two clusters, labels kept", clusters=labels.num_clusters)
            return labels
        x = features.normalized().values
        gcn, head, trained = self.train(x[clustered], values[clustered])
        if trained == 0:
            _log.warning("glc: no sub-graph was large enough to train on, labels kept", clustered=len(clustered))
            return labels
        links = self.predict_links(x, gcn, head)
        corrected = clusters_from_links(links, len(x), self.shared_threshold, self.min_cluster_size)
        return finish(corrected, "glc", subgraphs=trained)

    # -- training --------------------------------------------------------------------------------

    def _fresh_network(self, dim: int) -> tuple[GraphConv, EdgeHead]:
        # nn.Linear draws from torch's global generator: draw under a fork of it, restored after
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.seed, "glc-init"))
            gcn, head = GraphConv(dim, self.hidden), EdgeHead(self.hidden)
        return gcn.to(self.device), head.to(self.device)

    def train(self, x: np.ndarray, labels: np.ndarray) -> tuple[GraphConv, EdgeHead, int]:
        """A fresh network trained on ``x`` (normalised, clustered samples) and ``labels``; the
        number of sub-graphs it trained on."""
        rng = np.random.default_rng(derive_seed(self.seed, "glc-subgraphs"))
        generator = torch.Generator().manual_seed(derive_seed(self.seed, "glc-edges"))
        gcn, head = self._fresh_network(x.shape[1])
        parameters = [*gcn.parameters(), *head.parameters()]
        if self.optimizer == "sgd":
            optimizer: torch.optim.Optimizer = torch.optim.SGD(
                parameters, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
            )
        else:
            optimizer = torch.optim.Adam(parameters, lr=self.lr, weight_decay=self.weight_decay)
        _, labels = np.unique(labels, return_inverse=True)
        members = [np.flatnonzero(labels == c) for c in range(labels.max() + 1)]
        centroids = np.stack([x[m].mean(axis=0) for m in members])
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
        nearest = self.knn.search(centroids, min(self.cluster_num, len(members)))[1]
        subgraphs = self.subgraphs_per_epoch or subgraphs_for(len(x))
        smallest = min(self.min_subgraph_size, max(1, len(x) // 2))
        target = torch.from_numpy(labels).to(self.device)
        trained = 0
        total = self.epochs * subgraphs
        report_every = max(1, total // 10)  # a correction takes minutes on a CPU: say where it is
        gcn.train()
        head.train()
        for epoch in range(self.epochs):
            for group in optimizer.param_groups:  # /10 after the first epoch, as upstream
                group["lr"] = self.lr * (0.1 if epoch >= 1 else 1.0)
            for _ in range(subgraphs):
                clusters = nearest[int(rng.integers(len(members)))]
                picked = np.concatenate([
                    rng.choice(members[c], int(len(members[c]) * self.member_fraction), replace=False)
                    for c in clusters if c >= 0
                ])  # fmt: skip
                if len(picked) < smallest:
                    continue
                trained += 1
                loss = self._train_subgraph(gcn, head, optimizer, x[picked], target[torch.from_numpy(picked).to(self.device)], generator)
                if trained % report_every == 0:
                    _log.info("glc: training the link network", subgraphs=f"{trained}/{total}", nodes=len(picked), focal_loss=float(f"{loss:.4g}"))
        return gcn, head, trained

    def _train_subgraph(
        self,
        gcn: GraphConv,
        head: EdgeHead,
        optimizer: torch.optim.Optimizer,
        x: np.ndarray,
        labels: torch.Tensor,
        generator: torch.Generator,
    ) -> float:
        """Trains on one sub-graph; the last chunk's loss."""
        adj = to_torch(adjacency(*knn_graph(x, self.k, self.knn)), self.device)
        first, second = adj.indices()  # the graph's edges, self-loops included (as upstream)
        same = (labels[first] == labels[second]).long()
        inputs = gcn.inputs(torch.tensor(x, device=self.device), adj)
        chunk = max(1, first.numel() // self.edge_chunks)
        for _ in range(self.passes):
            order = torch.randperm(first.numel(), generator=generator).to(self.device)
            for start in range(0, chunk * self.edge_chunks, chunk):
                edges = order[start : start + chunk]
                if edges.numel() == 0:
                    break
                loss = focal_loss(head(gcn.embed(inputs), first[edges], second[edges]), same[edges], self.gamma)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        return float(loss.detach())

    # -- inference -------------------------------------------------------------------------------

    @torch.no_grad()
    def predict_links(self, x: np.ndarray, gcn: GraphConv, head: EdgeHead, block: int = 65_536) -> np.ndarray:
        """(E, 2) kNN pairs (i, j), i != j, whose link probability exceeds ``link_threshold``."""
        gcn.eval()
        head.eval()
        indices, similarities = knn_graph(x, self.k, self.knn)
        h = gcn(torch.tensor(x, device=self.device), to_torch(adjacency(indices, similarities), self.device))
        projected = head.project(h)  # once for every block of pairs
        del h
        rows = np.repeat(np.arange(len(x)), indices.shape[1])
        cols = indices.ravel()
        pairs = np.flatnonzero((cols >= 0) & (cols != rows))
        kept = []
        for start in range(0, len(pairs), block):
            chosen = pairs[start : start + block]
            first = torch.from_numpy(rows[chosen]).to(self.device)
            second = torch.from_numpy(cols[chosen]).to(self.device)
            link = torch.softmax(head.pairs(projected, first, second), dim=1)[:, 1]
            kept.append(chosen[(link > self.link_threshold).cpu().numpy()])
        kept = np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)
        return np.stack([rows[kept], cols[kept]], axis=1)


def shared_neighbours(kept: csr_matrix, links: np.ndarray, block: int = 100_000) -> np.ndarray:
    """|L_i & L_j| for each link (i, j), ``block`` links at a time: the product L L^T would hold
    up to k^2 entries per row (hundreds of millions at N = 200,000)."""
    shared = np.empty(len(links), dtype=np.float64)
    for start in range(0, len(links), block):
        part = links[start : start + block]
        shared[start : start + block] = np.asarray(kept[part[:, 0]].multiply(kept[part[:, 1]]).sum(axis=1)).ravel()
    return shared


def clusters_from_links(links: np.ndarray, n: int, shared_threshold: float, min_cluster_size: int) -> np.ndarray:
    """Labels from kept directed links: an edge i -> j survives when max(c / |L_i|, c / |L_j|) >
    ``shared_threshold``, c the number of kept neighbours i and j share; then connected
    components, and components smaller than ``min_cluster_size`` become -1."""
    if len(links) == 0:
        return np.full(n, -1, dtype=np.int64)
    kept = csr_matrix((np.ones(len(links)), (links[:, 0], links[:, 1])), shape=(n, n))
    kept.data[:] = 1.0  # a pair listed twice is one link
    degree = np.asarray(kept.sum(axis=1)).ravel()
    shared = shared_neighbours(kept, links)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum(shared / degree[links[:, 0]], shared / degree[links[:, 1]])
    survive = links[np.nan_to_num(ratio, nan=0.0) > shared_threshold]
    graph = csr_matrix((np.ones(len(survive)), (survive[:, 0], survive[:, 1])), shape=(n, n))
    _, components = connected_components(graph, directed=True, connection="weak")
    sizes = np.bincount(components)
    return renumber_by_first_appearance(np.where(sizes[components] >= min_cluster_size, components, -1))
