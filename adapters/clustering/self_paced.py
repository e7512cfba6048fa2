"""SpCL's self-paced cluster reliability criterion, as a LabelRefiner of a DbscanLabeler's labels.

``SelfPacedReliability(labeler).refine(features, labeler.assign(features))`` takes the labeler's
clusters at eps and runs DBSCAN again at eps - gap (tight) and eps + gap (loose) on the same
Jaccard radius graph: on construction it asks the labeler (``DbscanLabeler.reach``) to build its
graphs up to eps + gap, so the graph ``assign`` built is the one ``refine`` reuses, and the
Jaccard distances are computed once per epoch. Writing C(i) for i's cluster at eps, and T(i),
L(i) for its cluster in the tight and loose runs:

- compactness  R_comp(i)  = 1 - |C(i) ∩ T(i)| / |C(i) ∪ T(i)|
- independence R_indep(i) = 1 - |C(i) ∩ L(i)| / |C(i) ∪ L(i)|

(intersections are contingency counts, so everything is O(N)). Per cluster the minimum of each is
taken; the independence threshold is the 90th percentile of the clusters' minima (clusters with
more than one member; upstream's index ``min(n - 1, round(0.9 n))`` into the sorted values),
fixed on the first call that has such a cluster and kept afterwards, as SpCL does for the whole
run (``state_dict`` carries it across resumes). A sample leaves its cluster when the cluster's
independence exceeds the threshold or its own compactness exceeds the cluster's minimum, except
that a cluster never loses its last member (when all fail, the last one in index order stays, as
upstream's counter has it).

The labels are expected to be the labeler's own for these features (with or without
``use_outliers``); the labeler's outlier policy decides how expelled samples are named.
``SelfPacedRefiner`` is the older PseudoLabeler form of the same thing (``assign`` then
``refine``), kept while the composition root still builds it.

Deliberate differences from OpenUnReID/SpCL:

- Everything is keyed by the cluster label itself. Upstream keeps the per-cluster minima in a list
  ordered by sorted label and indexes it with the label; with outliers (-1) present that list
  starts at -1 and every lookup is off by one (399 of 2,000 golden samples relabelled wrongly).
- Outliers count as clusters of their own for the IoUs (upstream's ``use_outliers=False`` path
  lumps all -1 samples into one giant "cluster"). With ``use_outliers`` they end as singletons,
  which is exactly upstream's (golden-checked) behaviour.
- Expelled samples follow the labeler's outlier policy: their own new label after all others,
  in index order, with ``use_outliers`` (as upstream); -1 without it (upstream gives them new
  labels in both cases).
"""

from __future__ import annotations

import numpy as np

from reidkit.adapters.clustering.dbscan import DbscanLabeler
from reidkit.adapters.clustering.labels import finish, outliers_to_singletons
from reidkit.domain.types import FeatureMatrix, PseudoLabels

_PERCENTILE = 0.9


def iou_with(labels: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Per sample |C ∩ O| / |C ∪ O| of its cluster in ``labels`` and in ``other`` (no -1 here)."""
    _, a = np.unique(labels, return_inverse=True)
    _, b = np.unique(other, return_inverse=True)
    size_a = np.bincount(a)[a]
    size_b = np.bincount(b)[b]
    _, pair = np.unique(a * (b.max() + 1) + b, return_inverse=True)
    both = np.bincount(pair)[pair]
    return both / (size_a + size_b - both)


def cluster_minimum(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per cluster id (labels are 0..C-1) the minimum of ``values`` over its members."""
    out = np.full(labels.max() + 1, np.inf)
    np.minimum.at(out, labels, values)
    return out


def independence_threshold(indep_min: np.ndarray, sizes: np.ndarray) -> float | None:
    """Upstream's 90th percentile of multi-member clusters' independence; None if there is none."""
    scores = np.sort(indep_min[sizes > 1])
    if scores.size == 0:
        return None
    return float(scores[min(scores.size - 1, int(np.round(scores.size * _PERCENTILE)))])


def expelled(labels: np.ndarray, fails: np.ndarray) -> np.ndarray:
    """Mask of samples that leave their cluster: the failing ones, except a cluster whose every
    member fails keeps its last member (index order)."""
    sizes = np.bincount(labels)
    failing = np.bincount(labels, weights=fails).astype(np.int64)
    all_fail = failing == sizes
    last = np.zeros(len(sizes), dtype=np.int64)
    np.maximum.at(last, labels, np.arange(len(labels)))
    keep_last = np.zeros(len(labels), dtype=bool)
    keep_last[last[all_fail]] = True
    return fails & ~keep_last


class SelfPacedReliability:
    """LabelRefiner: SpCL's reliability criterion on the clusters ``labeler.assign`` returned.

    ``independence_threshold`` fixes the threshold up front (e.g. restored from a checkpoint);
    None computes it on the first call. ``state_dict``/``load_state_dict`` carry it across
    resumes, so a resumed run keeps the first epoch's value as an uninterrupted one does.
    Construction widens ``labeler``'s graphs to eps + eps_gap (``DbscanLabeler.reach``), which
    its ``assign`` then builds for this refiner to reuse.
    """

    def __init__(
        self, labeler: DbscanLabeler, eps_gap: float = 0.02, independence_threshold: float | None = None
    ) -> None:
        if not isinstance(labeler, DbscanLabeler):
            raise ValueError(f"labeler must be a DbscanLabeler, got {type(labeler).__name__}")
        if not 0.0 < eps_gap < labeler.eps:
            raise ValueError(f"eps_gap must be in (0, eps={labeler.eps}), got {eps_gap}")
        if labeler.eps + eps_gap >= 1.0:
            raise ValueError(f"eps_gap must keep eps + eps_gap < 1, got {labeler.eps} + {eps_gap}")
        self.labeler = labeler
        self.eps_gap = eps_gap
        self.independence_threshold = independence_threshold
        labeler.reach(labeler.eps + eps_gap)

    def refine(self, features: FeatureMatrix, labels: PseudoLabels) -> PseudoLabels:
        if len(labels) != len(features):
            raise ValueError(f"{len(labels)} labels for {len(features)} samples")
        eps = self.labeler.eps
        tight, loose = eps - self.eps_gap, eps + self.eps_gap
        if len(features) == 0:
            return finish(np.empty(0, np.int64), "self_paced_dbscan", eps=eps)
        graph = self.labeler.distance_graph(features, loose)  # the one assign built, if it ran on these
        given = labels.labels
        # Outliers become singletons for the IoUs: an outlier's "cluster" is itself (with
        # use_outliers the labeler has done this already, and it changes nothing).
        normal = outliers_to_singletons(given)
        comp = 1.0 - iou_with(normal, outliers_to_singletons(self.labeler.cluster(graph, tight)))
        indep = 1.0 - iou_with(normal, outliers_to_singletons(self.labeler.cluster(graph, loose)))
        comp_min, indep_min = cluster_minimum(normal, comp), cluster_minimum(normal, indep)
        sizes = np.bincount(normal)
        if self.independence_threshold is None:
            self.independence_threshold = independence_threshold(indep_min, sizes)
        threshold = self.independence_threshold
        if threshold is None:
            # No cluster of two or more yet (upstream crashes here): there is nobody to expel,
            # and the threshold waits for the first call that has such a cluster.
            fails = np.zeros(len(normal), dtype=bool)
        else:
            fails = (indep_min[normal] > threshold) | (comp > comp_min[normal])
        out = expelled(normal, fails)
        if self.labeler.use_outliers:
            refined = normal.copy()
            refined[out] = len(sizes) + np.arange(int(out.sum()))
        else:
            # DBSCAN's clusters keep their ids (each keeps a member, so they stay contiguous);
            # expelled samples join its outliers at -1.
            refined = np.where(out, -1, given)
        return finish(
            refined,
            "self_paced_dbscan",
            eps=(tight, eps, loose),
            independence_threshold=threshold,
            expelled=int(out.sum()),
        )

    def state_dict(self) -> dict:
        return {"independence_threshold": self.independence_threshold}

    def load_state_dict(self, state: dict) -> None:
        self.independence_threshold = state["independence_threshold"]


class SelfPacedRefiner:
    """PseudoLabeler form of the criterion: ``labeler.assign`` then ``SelfPacedReliability.refine``
    (one Jaccard graph for both). Kept while the composition root still builds it; new code wires
    the labeler and a ``SelfPacedReliability`` refiner instead. Same arguments, validation and
    ``state_dict`` as the refiner."""

    def __init__(
        self, labeler: DbscanLabeler, eps_gap: float = 0.02, independence_threshold: float | None = None
    ) -> None:
        self.reliability = SelfPacedReliability(labeler, eps_gap, independence_threshold)
        self.labeler = labeler
        self.eps_gap = eps_gap

    @property
    def independence_threshold(self) -> float | None:
        return self.reliability.independence_threshold

    @independence_threshold.setter
    def independence_threshold(self, value: float | None) -> None:
        self.reliability.independence_threshold = value

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        return self.reliability.refine(features, self.labeler.assign(features))

    def state_dict(self) -> dict:
        return self.reliability.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.reliability.load_state_dict(state)
