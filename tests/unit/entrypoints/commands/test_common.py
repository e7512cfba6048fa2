"""``--over`` (evaluate, train): the values of a setting, spelled as --set items."""

from __future__ import annotations

import pytest

from reidkit.domain.errors import ReidkitError
from reidkit.entrypoints.commands.common import over_values


def test_lists_and_integer_ranges_become_set_items():
    assert over_values("data.sets.v.trial=0..2") == ["data.sets.v.trial=0", "data.sets.v.trial=1", "data.sets.v.trial=2"]
    assert over_values("eval.metric='cosine', 'euclidean'") == ["eval.metric='cosine'", "eval.metric='euclidean'"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trial", "--over expects KEY=V1,V2,... or KEY=a..b, got 'trial'"),
        ("x=", "--over expects KEY=V1,V2,... or KEY=a..b, got 'x='"),
        ("x=a..b", "--over x=a..b: a range a..b takes integers"),
        ("x=3..1", "--over x=3..1: the range is empty"),
    ],
)
def test_malformed_values_are_one_line(text, message):
    with pytest.raises(ReidkitError) as error:
        over_values(text)
    assert str(error.value) == message
