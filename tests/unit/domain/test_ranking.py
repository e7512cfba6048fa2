"""rank_metrics: hand-worked cases, the protocol's edge cases, and agreement of its strategies
(chunks, threads, and row blocks fed one at a time)."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.domain.errors import EvaluationError
from reidkit.domain.ranking import BlockedRanking, rank_metrics, rank_metrics_in_blocks, valid_queries

# Query 0 (pid 1, cam 0) against six gallery items. Sorted by distance:
#   g0 pid1 cam0 0.1  junk (same pid, same camera): removed
#   g1 pid2 cam1 0.2  miss                     -> filtered position 1
#   g2 pid1 cam1 0.3  match                    -> 2
#   g3 pid3 cam0 0.4  miss                     -> 3
#   g4 pid1 cam2 0.5  match                    -> 4
#   g5 pid2 cam2 0.6  miss                     -> 5
# AP = (1/2 + 2/4) / 2 = 0.5, INP = 2/4 = 0.5, first hit at rank 2.
# Query 1 (pid 2, cam 1): g1 (0.05) is junk, g5 (0.1) is its only match, at rank 1: AP = INP = 1.
G_PIDS = np.array([1, 2, 1, 3, 1, 2])
G_CAMS = np.array([0, 1, 1, 0, 2, 2])
ROW_Q0 = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
ROW_Q1 = [0.5, 0.05, 0.4, 0.3, 0.2, 0.1]


def reference(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=50):
    """The protocol written the obvious way: one stable sort and one Python pass per query."""
    aps, inps, cmcs = [], [], []
    for i in range(distmat.shape[0]):
        order = np.argsort(distmat[i], kind="stable")
        keep = ~((g_pids[order] == q_pids[i]) & (g_cams[order] == q_cams[i]))
        hits = np.flatnonzero((g_pids[order] == q_pids[i])[keep])
        if hits.size == 0:
            continue
        aps.append(np.mean(np.arange(1, hits.size + 1) / (hits + 1)))
        inps.append(hits.size / (hits[-1] + 1))
        cmcs.append(np.arange(max_rank) >= hits[0])
    return np.mean(aps), np.mean(inps), np.mean(cmcs, axis=0), len(aps)


def test_hand_computed_single_query():
    m = rank_metrics(np.array([ROW_Q0]), [1], G_PIDS, [0], G_CAMS, max_rank=5)
    assert m.mAP == pytest.approx(0.5)
    assert m.mINP == pytest.approx(0.5)
    assert m.cmc == (0.0, 1.0, 1.0, 1.0, 1.0)
    assert (m.num_queries, m.num_valid_queries) == (1, 1)


def test_hand_computed_two_queries_are_averaged():
    m = rank_metrics(np.array([ROW_Q0, ROW_Q1]), [1, 2], G_PIDS, [0, 1], G_CAMS, max_rank=3)
    assert m.mAP == pytest.approx(0.75)
    assert m.mINP == pytest.approx(0.75)
    assert m.cmc == (0.5, 1.0, 1.0)


def test_same_pid_same_camera_items_are_removed_not_just_ignored():
    # With the junk g0 kept as a miss, the matches would sit at ranks 3 and 5.
    m = rank_metrics(np.array([ROW_Q0]), [1], G_PIDS, [0], G_CAMS, max_rank=5)
    assert m.rank(1) == 0.0 and m.rank(2) == 1.0
    # A query from another camera (cam 5) sees g0 as a true match at rank 1: AP = (1 + 2/3 + 3/5)/3.
    m = rank_metrics(np.array([ROW_Q0]), [1], G_PIDS, [5], G_CAMS, max_rank=5)
    assert m.mAP == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert m.mINP == pytest.approx(3 / 5)


def test_queries_without_a_valid_match_are_counted_but_not_averaged():
    # Query 2 has an identity absent from the gallery; query 3's only gallery item is junk (g3 pid 3 cam 0).
    distmat = np.array([ROW_Q0, ROW_Q1, ROW_Q0, ROW_Q0])
    m = rank_metrics(distmat, [1, 2, 9, 3], G_PIDS, [0, 1, 0, 0], G_CAMS, max_rank=3)
    assert (m.num_queries, m.num_valid_queries) == (4, 2)
    assert m.mAP == pytest.approx(0.75) and m.cmc == (0.5, 1.0, 1.0)


def test_no_valid_query_raises_one_line_error():
    with pytest.raises(EvaluationError, match="none of the 2 queries has a match") as info:
        rank_metrics(np.array([ROW_Q0, ROW_Q0]), [9, 3], G_PIDS, [0, 0], G_CAMS)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError) and info.value.exit_code == 2  # one line at the command line


def test_valid_queries_are_those_with_their_identity_under_another_camera():
    # q0: pid 1 also on camera 1; q1: pid 2 only on its own camera 0; q2: pid 9 not in the gallery
    valid = valid_queries([1, 2, 9], [0, 0, 0], np.array([1, 1, 2, 2]), np.array([0, 1, 0, 0]))
    assert valid.tolist() == [True, False, False]


def test_ties_go_to_the_lower_gallery_index():
    distmat = np.array([[1.0, 1.0]])
    miss_first = rank_metrics(distmat, [1], [2, 1], [0], [1, 1], max_rank=2)
    match_first = rank_metrics(distmat, [1], [1, 2], [0], [1, 1], max_rank=2)
    assert miss_first.mAP == 0.5 and miss_first.cmc == (0.0, 1.0)
    assert match_first.mAP == 1.0 and match_first.cmc == (1.0, 1.0)


def test_ties_with_junk_and_among_matches_follow_the_stable_order():
    # All four at the same distance: order g0 junk, g1 match, g2 miss, g3 match -> filtered 1, 3.
    m = rank_metrics(np.zeros((1, 4)), [1], [1, 1, 2, 1], [0], [0, 1, 1, 2], max_rank=3)
    assert m.mAP == pytest.approx((1 + 2 / 3) / 2)
    assert m.mINP == pytest.approx(2 / 3)


def test_cmc_is_padded_with_its_last_value_past_the_gallery_size():
    m = rank_metrics(np.array([ROW_Q0]), [1], G_PIDS, [0], G_CAMS, max_rank=50)
    assert len(m.cmc) == 50
    assert m.cmc[1:] == (1.0,) * 49
    assert m.rank(100) == 1.0


def test_match_beyond_max_rank_leaves_cmc_at_zero():
    distmat = np.arange(10, dtype=np.float64)[None, :]
    m = rank_metrics(distmat, [1], [0] * 9 + [1], [0], [1] * 10, max_rank=3)
    assert m.cmc == (0.0, 0.0, 0.0)
    assert m.mAP == pytest.approx(0.1) and m.mINP == pytest.approx(0.1)


@pytest.mark.parametrize("seed", range(6))
def test_matches_the_per_query_reference_on_random_tie_heavy_data(seed):
    rng = np.random.default_rng(seed)
    num_q, num_g = 37, 211
    q_pids, g_pids = rng.integers(0, 9, num_q), rng.integers(0, 12, num_g)
    q_cams, g_cams = rng.integers(0, 3, num_q), rng.integers(0, 3, num_g)
    # Few distinct values: ties everywhere, between matches, misses and junk alike.
    distmat = rng.integers(0, 7, (num_q, num_g)).astype(np.float32) if seed % 2 else rng.random((num_q, num_g))
    want_ap, want_inp, want_cmc, want_valid = reference(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    m = rank_metrics(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=20, chunk_rows=8)
    assert m.mAP == pytest.approx(want_ap, abs=1e-12)
    assert m.mINP == pytest.approx(want_inp, abs=1e-12)
    np.testing.assert_allclose(m.cmc, want_cmc, atol=1e-12)
    assert m.num_valid_queries == want_valid


def test_chunking_and_threads_do_not_change_the_result():
    rng = np.random.default_rng(7)
    distmat = rng.integers(0, 50, (101, 300)).astype(np.float64)
    labels = (rng.integers(0, 20, 101), rng.integers(0, 20, 300), rng.integers(0, 4, 101), rng.integers(0, 4, 300))
    whole = rank_metrics(distmat, *labels, chunk_rows=1000, workers=1)
    for chunk_rows, workers in ((1, 1), (7, 2), (33, 3), (101, 4)):
        part = rank_metrics(distmat, *labels, chunk_rows=chunk_rows, workers=workers)
        assert part.as_dict() == whole.as_dict()


def test_uninformative_ranking_where_every_item_is_compared():
    # The last match sits near the end of most rows, so nearly the whole row is searched; some
    # identities have many matches (a deep binary search).
    rng = np.random.default_rng(3)
    distmat = rng.random((40, 3000))
    labels = (rng.integers(0, 5, 40), rng.integers(0, 5, 3000), rng.integers(0, 2, 40), rng.integers(0, 2, 3000))
    want_ap, want_inp, want_cmc, want_valid = reference(distmat, *labels)
    m = rank_metrics(distmat, *labels)
    assert m.mAP == pytest.approx(want_ap, abs=1e-12) and m.mINP == pytest.approx(want_inp, abs=1e-12)
    np.testing.assert_allclose(m.cmc, want_cmc, atol=1e-12)


def test_infinite_distances_rank_last_and_tie_by_index():
    inf = np.inf
    distmat = np.array([[inf, 0.5, inf, inf], [-inf, inf, 0.0, -inf]])
    q_pids, g_pids = [1, 1], [1, 2, 2, 1]
    m = rank_metrics(distmat, q_pids, g_pids, [0, 0], [1, 1, 1, 1], max_rank=4)
    want_ap, want_inp, want_cmc, _ = reference(distmat, np.array(q_pids), np.array(g_pids), np.zeros(2, int), np.ones(4, int), 4)
    assert m.mAP == pytest.approx(want_ap) and m.mINP == pytest.approx(want_inp)
    np.testing.assert_allclose(m.cmc, want_cmc)


def test_float32_and_float64_rank_alike_and_inputs_are_not_modified():
    rng = np.random.default_rng(5)
    distmat = rng.random((20, 50)).astype(np.float32)
    before = distmat.copy()
    labels = (rng.integers(0, 4, 20), rng.integers(0, 4, 50), rng.integers(0, 2, 20), rng.integers(0, 2, 50))
    m32 = rank_metrics(distmat, *labels)
    m64 = rank_metrics(distmat.astype(np.float64), *labels)
    assert m32.as_dict() == m64.as_dict()
    np.testing.assert_array_equal(distmat, before)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"distmat": np.zeros(6)}, ValueError, "distmat must be 2-D"),
        ({"distmat": np.zeros((1, 6), dtype=np.int64)}, TypeError, "floating-point"),
        ({"distmat": [ROW_Q0]}, TypeError, "numpy array"),
        ({"distmat": np.zeros((0, 6))}, ValueError, "empty"),
        ({"g_pids": G_PIDS[:5]}, ValueError, r"g_pids must have shape \(6,\)"),
        ({"q_camids": [0.0]}, TypeError, "q_camids must hold integers"),
        ({"max_rank": 0}, ValueError, "max_rank"),
        ({"chunk_rows": 0}, ValueError, "chunk_rows"),
        ({"workers": 0}, ValueError, "workers"),
        ({"distmat": np.array([[0.1, np.nan, 0.3, 0.4, 0.5, 0.6]])}, ValueError, "NaN"),
    ],
)
def test_bad_inputs_raise_naming_the_culprit(kwargs, error, message):
    args = {
        "distmat": np.array([ROW_Q0]),
        "q_pids": [1],
        "g_pids": G_PIDS,
        "q_camids": [0],
        "g_camids": G_CAMS,
    }
    args.update(kwargs)
    positional = [args.pop(k) for k in ("distmat", "q_pids", "g_pids", "q_camids", "g_camids")]
    with pytest.raises(error, match=message):
        rank_metrics(*positional, **args)


def _tie_heavy(seed, num_q=53, num_g=240):
    rng = np.random.default_rng(seed)
    distmat = rng.integers(0, 6, (num_q, num_g)).astype(np.float32)  # ties everywhere
    labels = (rng.integers(0, 10, num_q), rng.integers(0, 10, num_g), rng.integers(0, 3, num_q), rng.integers(0, 3, num_g))
    return distmat, labels


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("sizes", [[53], [1] * 53, [7] * 7 + [4], [20, 20, 13], [5, 1, 40, 2, 5]])
def test_row_blocks_give_the_stacked_result_to_the_bit(seed, sizes):
    """Blocks of any sizes (none of 7, 20 or 40 divides the 53 queries) score exactly as the
    whole matrix does: same CMC, mAP and mINP bits."""
    distmat, labels = _tie_heavy(seed)
    whole = rank_metrics(distmat, *labels, max_rank=30)
    starts = np.cumsum([0, *sizes[:-1]])
    blocks = [(int(s), distmat[s : s + n].copy()) for s, n in zip(starts, sizes, strict=True)]
    got = rank_metrics_in_blocks(iter(blocks), *labels, max_rank=30, chunk_rows=3, workers=2)
    assert got.as_dict() == whole.as_dict()
    assert got.mAP == whole.mAP and got.mINP == whole.mINP and got.cmc == whole.cmc


def test_blocks_must_come_in_row_order_and_cover_every_query():
    distmat, labels = _tie_heavy(0, num_q=10, num_g=30)
    ranking = BlockedRanking(*labels)
    with pytest.raises(ValueError, match="expected row 0, got 4"):
        ranking.add(4, distmat[4:])
    ranking.add(0, distmat[:4])
    with pytest.raises(ValueError, match="covered 4 of the 10"):
        ranking.result()
    with pytest.raises(ValueError, match="run past the 10 queries"):
        ranking.add(4, np.concatenate([distmat[4:], distmat[:1]]))
    with pytest.raises(ValueError, match="5 columns but g_pids has 30"):
        ranking.add(4, distmat[4:, :5])
    with pytest.raises(ValueError, match="NaN"):
        ranking.add(4, np.full((6, 30), np.nan, dtype=np.float32))
    ranking = BlockedRanking(*labels)
    ranking.add(0, distmat[:4])
    ranking.add(4, distmat[4:])
    assert ranking.rows_done == 10
    assert ranking.result().as_dict() == rank_metrics(distmat, *labels).as_dict()


def test_blocked_ranking_checks_its_labels():
    with pytest.raises(ValueError, match="g_camids must have shape"):
        BlockedRanking([1], [1, 2], [0], [0])
    with pytest.raises(TypeError, match="q_pids must hold integers"):
        BlockedRanking([1.5], [1, 2], [0], [0, 1])
    with pytest.raises(ValueError, match="need queries and a gallery"):
        BlockedRanking(np.array([], dtype=int), [1], np.array([], dtype=int), [0])
    with pytest.raises(ValueError, match="max_rank"):
        BlockedRanking([1], [1], [0], [1], max_rank=0)


# --- CUHK03's single-gallery-shot CMC ---------------------------------------------------------


def _single_shot(distances, q_pids, g_pids, q_cams, g_cams, *, repeats=10, max_rank=4, blocks=None):
    from reidkit.domain.ranking import SingleGalleryShotCmc

    cmc = SingleGalleryShotCmc(np.asarray(q_pids), np.asarray(g_pids), np.asarray(q_cams), np.asarray(g_cams),
                               max_rank=max_rank, repeats=repeats)  # fmt: skip
    distances = np.asarray(distances, dtype=np.float32)
    rows = blocks or [len(distances)]
    start = 0
    for size in rows:
        cmc.add(start, distances[start : start + size])
        start += size
    return cmc.result()


def test_with_one_gallery_image_per_identity_it_is_the_market_cmc():
    rng = np.random.default_rng(0)
    distances = rng.random((5, 6))
    q_pids, g_pids = [0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5]
    q_cams, g_cams = [0] * 5, [1] * 6
    market = rank_metrics(distances.astype(np.float32), np.array(q_pids), np.array(g_pids), np.array(q_cams), np.array(g_cams), max_rank=4)
    single = _single_shot(distances, q_pids, g_pids, q_cams, g_cams)
    np.testing.assert_allclose(single, market.cmc, atol=1e-12)


def test_two_images_of_each_identity_average_the_draws_as_computed_by_hand():
    # ranked gallery B1 A1 B2 A2 for a query of A: a draw keeps one B and one A; rank 1 is a hit
    # only when it keeps B2 and A1 (a quarter of the draws), rank 2 always
    distances = [[0.1, 0.2, 0.3, 0.4]]
    single = _single_shot(distances, [7], [8, 7, 8, 7], [0], [1, 1, 1, 1], repeats=4000)
    assert abs(single[0] - 0.25) < 0.03
    np.testing.assert_array_equal(single[1:], [1.0, 1.0, 1.0])


def test_the_same_camera_is_filtered_and_blocks_do_not_change_the_draws():
    rng = np.random.default_rng(1)
    distances = rng.random((7, 12))
    q_pids = rng.integers(0, 4, 7)
    g_pids = rng.integers(0, 4, 12)
    q_cams, g_cams = rng.integers(0, 2, 7), rng.integers(0, 2, 12)
    whole = _single_shot(distances, q_pids, g_pids, q_cams, g_cams)
    blocked = _single_shot(distances, q_pids, g_pids, q_cams, g_cams, blocks=[3, 1, 3])
    np.testing.assert_array_equal(whole, blocked)
    # a query whose only match is under its own camera is not counted
    alone = _single_shot([[0.1, 0.2]], [5], [5, 6], [0], [0, 1])
    np.testing.assert_array_equal(alone, np.zeros(4))
