"""sandwichlab.metrics against hand-worked examples, a per-user loop, scikit-learn and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import label_ranking_average_precision_score, ndcg_score, top_k_accuracy_score

from sandwichlab.metrics import category_accuracy, map_at_k, ndcg_at_k, precision_at_k, ranking_metrics, top_k

LOG2_3 = math.log2(3)


# ----------------------------------------------------------------- hand-worked examples

# One user, six items.  Relevant: items 0, 2, 4 (target 0.5, 0.2, 0.3).
# Ranking by score: item 1 (0.9), 2 (0.8), 4 (0.7), 3 (0.3), 5 (0.2), 0 (0.1).
TARGET_A = [[0.5, 0.0, 0.2, 0.0, 0.3, 0.0]]
SCORES_A = [[0.1, 0.9, 0.8, 0.3, 0.7, 0.2]]


def test_hand_worked_precision_map_ndcg():
    # top 3 = items 1, 2, 4 -> hits [no, yes, yes]
    assert precision_at_k(SCORES_A, TARGET_A, k=3) == pytest.approx(2 / 3)
    # AP@3: hits at rank 2 (precision 1/2) and rank 3 (precision 2/3); divided by min(3, 3 relevant)
    assert map_at_k(SCORES_A, TARGET_A, k=3) == pytest.approx((1 / 2 + 2 / 3) / 3)  # = 7/18
    # graded DCG@3 = 0/log2(2) + 0.2/log2(3) + 0.3/log2(4); ideal order 0.5, 0.3, 0.2
    dcg = 0.2 / LOG2_3 + 0.3 / 2
    ideal = 0.5 + 0.3 / LOG2_3 + 0.2 / 2
    assert ndcg_at_k(SCORES_A, TARGET_A, k=3) == pytest.approx(dcg / ideal)  # = 0.3499
    # binary: DCG = 1/log2(3) + 1/2, ideal = 1 + 1/log2(3) + 1/2
    assert ndcg_at_k(SCORES_A, TARGET_A, k=3, gains="binary") == pytest.approx(
        (1 / LOG2_3 + 1 / 2) / (1 + 1 / LOG2_3 + 1 / 2))  # = 0.5307
    # k = 1: item 1 is not relevant
    assert precision_at_k(SCORES_A, TARGET_A, k=1) == 0.0
    assert map_at_k(SCORES_A, TARGET_A, k=1) == 0.0
    # top-1 predicted = item 1, top-1 true = item 0
    assert category_accuracy(SCORES_A, TARGET_A) == 0.0
    # k = 6: hits at ranks 2, 3, 6 -> (1/2 + 2/3 + 3/6) / 3
    assert map_at_k(SCORES_A, TARGET_A, k=6) == pytest.approx((1 / 2 + 2 / 3 + 1 / 2) / 3)


def test_map_divides_by_min_k_and_n_relevant():
    # One relevant item (index 3) ranked first: AP@5 = (1/1) / min(5, 1) = 1, precision@5 = 1/5.
    target = [[0, 0, 0, 0.7, 0, 0]]
    scores = [[0.1, 0.2, 0.3, 0.9, 0.0, 0.0]]
    assert map_at_k(scores, target, k=5) == 1.0
    assert precision_at_k(scores, target, k=5) == pytest.approx(1 / 5)
    assert ndcg_at_k(scores, target, k=5) == 1.0


def test_ties_in_scores_go_to_the_lower_index():
    # Three items tie at 0.5: ranked 0, 1, 2, then item 3.  Only item 2 is relevant.
    scores = [[0.5, 0.5, 0.5, 0.1]]
    target = [[0.0, 0.0, 1.0, 0.0]]
    np.testing.assert_array_equal(top_k(scores, 4), [[0, 1, 2, 3]])
    assert precision_at_k(scores, target, k=2) == 0.0          # items 0, 1
    assert precision_at_k(scores, target, k=3) == pytest.approx(1 / 3)
    assert map_at_k(scores, target, k=3) == pytest.approx(1 / 3)  # hit at rank 3: (1/3) / 1
    assert ndcg_at_k(scores, target, k=3) == pytest.approx(1 / 2)  # 1/log2(4) over ideal 1
    assert category_accuracy(scores, target) == 0.0              # predicted item 0


def test_category_accuracy_counts_any_tied_true_favourite():
    # Items 0 and 2 tie for the true favourite (0.4); predicting item 2 is right
    # although argmax(target) = 0.
    assert category_accuracy([[0.0, 0.1, 0.9]], [[0.4, 0.0, 0.4]]) == 1.0
    assert category_accuracy([[0.0, 0.9, 0.1]], [[0.4, 0.0, 0.4]]) == 0.0


def test_users_without_relevant_items_are_left_out():
    # user 0 = example A (precision@3 2/3), user 1 has no relevant item, user 2 is perfect (3/3)
    target = np.array([TARGET_A[0], [0.0] * 6, [0.0, 0.1, 0.0, 0.2, 0.0, 0.3]])
    scores = np.array([SCORES_A[0], [1, 2, 3, 4, 5, 6], [0, 0.1, 0, 0.2, 0, 0.3]])
    assert precision_at_k(scores, target, k=3) == pytest.approx((2 / 3 + 1) / 2)
    assert map_at_k(scores, target, k=3) == pytest.approx((7 / 18 + 1) / 2)
    assert category_accuracy(scores, target) == pytest.approx((0 + 1) / 2)
    assert ranking_metrics(scores, target, k=3)["n_users"] == 2


def test_exclude_is_the_same_as_deleting_the_columns():
    rng = np.random.default_rng(0)
    target = np.where(rng.random((50, 12)) < 0.3, rng.random((50, 12)), 0.0)
    target[:, 0] = 0.0
    target[np.arange(50), rng.integers(1, 12, 50)] = 0.5
    scores = rng.random((50, 12))
    scores[:, [0, 5]] += 10  # the excluded columns would otherwise win every ranking
    exclude = np.zeros(12, dtype=bool)
    exclude[[0, 5]] = True
    keep = ~exclude
    for k in (1, 3, 10):
        got = ranking_metrics(scores, target, k=k, exclude=exclude)
        want = ranking_metrics(scores[:, keep], target[:, keep], k=k)
        assert got == pytest.approx(want)
    per_user = np.broadcast_to(exclude, scores.shape).copy()
    assert ranking_metrics(scores, target, k=3, exclude=per_user) == ranking_metrics(scores, target, k=3,
                                                                                     exclude=exclude)


def test_torch_tensors_are_accepted():
    rng = np.random.default_rng(1)
    target = np.where(rng.random((20, 9)) < 0.4, rng.random((20, 9)), 0.0)
    target[:, 0] += 0.1
    scores = rng.random((20, 9))
    want = ranking_metrics(scores, target, k=4)
    got = ranking_metrics(torch.tensor(scores, dtype=torch.float32, requires_grad=True),
                          torch.tensor(target, dtype=torch.float64), k=4)
    assert got == pytest.approx(want, rel=1e-6)


def test_ten_thousand_users_in_one_call():
    rng = np.random.default_rng(2)
    target = np.where(rng.random((10_000, 164)) < 0.04, rng.random((10_000, 164)), 0.0)
    result = ranking_metrics(target, target, k=5)  # a perfect ranking
    assert result["map@5"] == 1.0 and result["ndcg@5"] == pytest.approx(1.0)
    assert result["n_users"] == int((target > 0).any(axis=1).sum())


# ----------------------------------------------------------------- independent per-user loop

def loop_metrics(scores, target, k):
    """Textbook definitions, one user at a time, ranking by sorted((-score, index))."""
    out = {"acc": [], "p": [], "ap": [], "ndcg": [], "ndcg_bin": []}
    for s, t in zip(np.asarray(scores, float), np.asarray(target, float)):
        relevant = [j for j in range(len(t)) if t[j] > 0]
        if not relevant:
            continue
        ranked = sorted(range(len(s)), key=lambda j: (-s[j], j))[:k]
        out["acc"].append(float(t[ranked[0]] == max(t)))
        hits = [t[j] > 0 for j in ranked]
        out["p"].append(sum(hits) / k)
        ap = sum(sum(hits[:i + 1]) / (i + 1) for i in range(k) if hits[i])
        out["ap"].append(ap / min(k, len(relevant)))
        for key, gain in (("ndcg", list(t)), ("ndcg_bin", [float(x > 0) for x in t])):
            dcg = sum(gain[j] / math.log2(i + 2) for i, j in enumerate(ranked))
            ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(gain, reverse=True)[:k]))
            out[key].append(dcg / ideal)
    return {key: float(np.mean(v)) for key, v in out.items()}


@st.composite
def problems(draw, ties=True):
    """(scores, target, k): small matrices, every user with at least one relevant item."""
    n = draw(st.integers(1, 8))
    m = draw(st.integers(3, 12))
    levels = draw(st.lists(st.lists(st.integers(0, 3), min_size=m, max_size=m), min_size=n, max_size=n))
    target = np.array(levels, dtype=float) / 4
    favourite = draw(st.lists(st.integers(0, m - 1), min_size=n, max_size=n))
    target[np.arange(n), favourite] = np.maximum(target[np.arange(n), favourite], 0.25)
    if ties:  # few distinct values: many ties
        scores = np.array(draw(st.lists(st.lists(st.integers(-2, 2), min_size=m, max_size=m),
                                        min_size=n, max_size=n)), dtype=float)
    else:  # each row a permutation: no ties
        scores = np.array([draw(st.permutations(range(m))) for _ in range(n)], dtype=float) / m
    k = draw(st.integers(1, m))
    return scores, target, k


@settings(max_examples=150, deadline=None)
@given(problems())
def test_matches_the_per_user_loop_including_ties(problem):
    scores, target, k = problem
    want = loop_metrics(scores, target, k)
    got = ranking_metrics(scores, target, k=k)
    assert got["category_accuracy"] == pytest.approx(want["acc"])
    assert got[f"precision@{k}"] == pytest.approx(want["p"])
    assert got[f"map@{k}"] == pytest.approx(want["ap"])
    assert got[f"ndcg@{k}"] == pytest.approx(want["ndcg"])
    assert ndcg_at_k(scores, target, k, gains="binary") == pytest.approx(want["ndcg_bin"])


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 6), st.integers(1, 40), st.integers(1, 40), st.data())
def test_top_k_equals_a_full_stable_sort(n, m, k, data):
    k = min(k, m)
    scores = np.array(data.draw(st.lists(st.lists(st.sampled_from([-np.inf, -1.0, -0.0, 0.0, 1.0, 2.0]),
                                                      min_size=m, max_size=m), min_size=n, max_size=n)))
    want = np.array([sorted(range(m), key=lambda j: (-row[j], j))[:k] for row in scores])
    np.testing.assert_array_equal(top_k(scores, k), want)


# ----------------------------------------------------------------- scikit-learn

@settings(max_examples=100, deadline=None)
@given(problems(ties=False))
def test_ndcg_matches_sklearn_on_tie_free_scores(problem):
    scores, target, k = problem
    assert ndcg_at_k(scores, target, k) == pytest.approx(ndcg_score(target, scores, k=k))
    binary = (target > 0).astype(float)
    assert ndcg_at_k(scores, target, k, gains="binary") == pytest.approx(ndcg_score(binary, scores, k=k))


@settings(max_examples=100, deadline=None)
@given(problems(ties=False))
def test_map_at_n_items_is_sklearn_label_ranking_average_precision(problem):
    # LRAP averages, over each relevant item, the precision at its rank: AP over the full
    # ranking with denominator n_relevant, i.e. our AP@k with k = n_items.
    scores, target, _ = problem
    m = target.shape[1]
    assert map_at_k(scores, target, k=m) == pytest.approx(label_ranking_average_precision_score(target > 0, scores))


@settings(max_examples=100, deadline=None)
@given(problems(ties=False))
def test_category_accuracy_is_sklearn_top_1_accuracy_on_tie_free_targets(problem):
    scores, target, _ = problem
    rng = np.random.default_rng(0)
    target = target + rng.uniform(0.001, 0.01, target.shape) * (target > 0)  # break ties in target
    m = target.shape[1]
    want = top_k_accuracy_score(target.argmax(axis=1), scores, k=1, labels=np.arange(m))
    assert category_accuracy(scores, target) == pytest.approx(want)


# ----------------------------------------------------------------- properties

@settings(max_examples=100, deadline=None)
@given(problems())
def test_bounds_and_perfect_scores(problem):
    scores, target, k = problem
    for value in ranking_metrics(scores, target, k=k).values():
        if isinstance(value, float):
            assert 0.0 <= value <= 1.0 + 1e-12
    perfect = ranking_metrics(target, target, k=k)
    assert perfect["category_accuracy"] == 1.0
    assert perfect[f"map@{k}"] == 1.0
    assert perfect[f"ndcg@{k}"] == pytest.approx(1.0)
    assert ndcg_at_k(target, target, k, gains="binary") == pytest.approx(1.0)
    # precision@k of a perfect ranking is min(k, n_relevant) / k
    assert perfect[f"precision@{k}"] == pytest.approx(np.mean(np.minimum(k, (target > 0).sum(axis=1)) / k))


@settings(max_examples=100, deadline=None)
@given(problems(), st.randoms(use_true_random=False))
def test_invariant_to_user_order_and_to_monotone_rescaling(problem, rnd):
    scores, target, k = problem
    order = list(range(len(scores)))
    rnd.shuffle(order)
    base = ranking_metrics(scores, target, k=k)
    assert ranking_metrics(scores[order], target[order], k=k) == pytest.approx(base)
    assert ranking_metrics(3 * scores + 1, target, k=k) == pytest.approx(base)


@settings(max_examples=100, deadline=None)
@given(problems(ties=False), st.randoms(use_true_random=False))
def test_invariant_to_item_order_without_ties(problem, rnd):
    scores, target, k = problem
    cols = list(range(scores.shape[1]))
    rnd.shuffle(cols)
    base = ranking_metrics(scores, target, k=k)
    shuffled = ranking_metrics(scores[:, cols], target[:, cols], k=k)
    assert shuffled == pytest.approx(base)


# ----------------------------------------------------------------- errors

@pytest.mark.parametrize("fn", [precision_at_k, map_at_k, ndcg_at_k])
def test_k_errors(fn):
    with pytest.raises(ValueError, match="k must be between 1 and n_items=6, got 0"):
        fn(SCORES_A, TARGET_A, k=0)
    with pytest.raises(ValueError, match="k must be between 1 and n_items=6, got 7"):
        fn(SCORES_A, TARGET_A, k=7)
    with pytest.raises(ValueError, match="k must be an integer"):
        fn(SCORES_A, TARGET_A, k=2.5)
    with pytest.raises(ValueError, match="k must be an integer"):
        fn(SCORES_A, TARGET_A, k=True)


@pytest.mark.parametrize("fn", [category_accuracy, precision_at_k, map_at_k, ndcg_at_k, ranking_metrics])
def test_input_errors_name_the_argument(fn):
    with pytest.raises(ValueError, match=r"scores and target must have the same shape.*\(1, 5\).*\(1, 6\)"):
        fn([SCORES_A[0][:5]], TARGET_A)
    with pytest.raises(ValueError, match="scores must be a non-empty 2-D array"):
        fn(SCORES_A[0], TARGET_A)
    with pytest.raises(ValueError, match="target: expected a 2-D array"):
        fn(SCORES_A, TARGET_A[0])
    nan_scores = np.array(SCORES_A)
    nan_scores[0, 4] = np.nan
    with pytest.raises(ValueError, match=r"scores contains NaN \(first at user 0, item 4"):
        fn(nan_scores, TARGET_A)
    with pytest.raises(ValueError, match="target: contains NaN or inf"):
        fn(SCORES_A, [[np.nan, 0, 0, 0, 0, 1]])
    with pytest.raises(ValueError, match="target: contains negative values"):
        fn(SCORES_A, [[-0.1, 0, 0, 0, 0, 1]])
    with pytest.raises(ValueError, match="target has no user with a relevant item"):
        fn(SCORES_A, [[0.0] * 6])
    with pytest.raises(ValueError, match="scores cannot be read as a numeric array"):
        fn([["a"] * 6], TARGET_A)
    with pytest.raises(ValueError, match=r"exclude must have shape \(n_items,\)"):
        fn(SCORES_A, TARGET_A, exclude=np.zeros(5, dtype=bool))
    with pytest.raises(ValueError, match="exclude must be a boolean mask"):
        fn(SCORES_A, TARGET_A, exclude=np.zeros(6))


def test_infinite_scores_are_allowed_and_gains_must_be_known():
    scores = [[-np.inf, np.inf, 0.0, 1.0, -np.inf, 0.5]]
    np.testing.assert_array_equal(top_k(scores, 6), [[1, 3, 5, 2, 0, 4]])
    with pytest.raises(ValueError, match=r"scores contains NaN \(first at user 0, item 1"):
        top_k([[0.0, np.nan]], 1)
    with pytest.raises(ValueError, match="k must be between 1 and n_items=2, got 3"):
        top_k([[0.0, 1.0]], 3)
    with pytest.raises(ValueError, match="gains='exponential' is not supported"):
        ndcg_at_k(SCORES_A, TARGET_A, 3, gains="exponential")
    with pytest.raises(ValueError, match="gains="):
        ranking_metrics(SCORES_A, TARGET_A, 3, gains="exp")
