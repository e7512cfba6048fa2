"""Evaluate: embed a query and a gallery set, then rank and score."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import field, frozen

from reidkit.domain.errors import DatasetError
from reidkit.domain.ports import Evaluator, FeatureEncoder
from reidkit.domain.types import EmbeddedSet, ImageRecord, ReidDataset, RetrievalMetrics


@frozen
class Evaluate:
    """Scores ``encoder`` on one domain's query/gallery split."""

    encoder: FeatureEncoder
    evaluator: Evaluator
    query: tuple[ImageRecord, ...] = field(converter=tuple)
    gallery: tuple[ImageRecord, ...] = field(converter=tuple)

    def __attrs_post_init__(self) -> None:
        if not self.query or not self.gallery:
            raise ValueError(
                f"evaluation needs a non-empty query and gallery, got {len(self.query)} query "
                f"and {len(self.gallery)} gallery images"
            )

    def run(self) -> RetrievalMetrics:
        query = EmbeddedSet.of(self.encoder.encode(self.query), self.query)
        gallery = EmbeddedSet.of(self.encoder.encode(self.gallery), self.gallery)
        return self.evaluator.evaluate(query, gallery)


def pick_domain(domains: Mapping[str, ReidDataset], name: str) -> ReidDataset:
    """The data set named ``name``, or one line saying which ones exist."""
    if name not in domains:
        raise DatasetError(f"no domain named {name!r}; the data has {sorted(domains)}")
    return domains[name]


def evaluations(
    encoder: FeatureEncoder, evaluator: Evaluator, domains: Mapping[str, ReidDataset], names: Sequence[str]
) -> dict[str, Evaluate]:
    """One Evaluate per domain in ``names``, in that order (the first one selects the best model)."""
    return {name: Evaluate(encoder, evaluator, pick_domain(domains, name).query, pick_domain(domains, name).gallery) for name in names}
