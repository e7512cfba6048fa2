"""Ranked-result pictures: the protocol's ranking and the frames' colours."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from reidkit.adapters.evaluation.visrank import CORRECT, QUERY, WRONG, ranked_matches, ranked_row, stacked


def test_same_identity_under_the_query_camera_is_no_candidate_and_ties_keep_gallery_order():
    distances = np.array([0.1, 0.5, 0.5, 0.2, 0.9], dtype=np.float32)
    g_pids = np.array([7, 7, 3, 3, 7])
    g_camids = np.array([0, 1, 1, 2, 0])
    order, correct = ranked_matches(distances, 7, 0, g_pids, g_camids, top=3)
    assert order.tolist() == [3, 1, 2]  # 0 and 4 are identity 7 under camera 0
    assert correct.tolist() == [False, True, False]


def test_top_larger_than_the_candidates_gives_them_all_and_zero_is_refused():
    order, _ = ranked_matches(np.zeros(3), 1, 0, np.array([1, 2, 3]), np.array([1, 1, 1]), top=10)
    assert order.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="top must be at least 1, got 0"):
        ranked_matches(np.zeros(3), 1, 0, np.array([1, 2, 3]), np.array([1, 1, 1]), top=0)


def test_frames_are_dark_for_the_query_then_green_and_red():
    image = Image.new("RGB", (10, 20), (128, 128, 128))
    picture = ranked_row(image, [image, image], [True, False], cell=(20, 10), border=3, gap=5)
    framed = 10 + 2 * 3
    # the top-left pixel of each frame (after the gap; the query is followed by a wider one)
    xs = [5, 5 + framed + 15, 5 + framed + 15 + framed + 5]
    assert [picture.getpixel((x, 5)) for x in xs] == [QUERY, CORRECT, WRONG]
    assert picture.getpixel((xs[1] + 3, 5 + 3)) == (128, 128, 128)  # the image inside its frame
    assert picture.size == (xs[2] + framed + 5, 20 + 2 * 3 + 2 * 5)  # a gap round the row


def test_mismatched_flags_are_refused_and_rows_stack():
    image = Image.new("RGB", (4, 8))
    with pytest.raises(ValueError, match="2 matches but 1 correctness flags"):
        ranked_row(image, [image, image], [True])
    rows = [Image.new("RGB", (30, 10)), Image.new("RGB", (20, 15))]
    assert stacked(rows).size == (30, 25)
