"""Evaluate: embed a query and a gallery set, then rank and score."""

from __future__ import annotations

from attrs import field, frozen

from reidkit.domain.ports import Evaluator, FeatureEncoder
from reidkit.domain.types import EmbeddedSet, ImageRecord, RetrievalMetrics


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
