"""Two-stage recommendation, baselines and the Table-1 evaluation against hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from sandwichlab.data import AppCategorySet, AppSplit, make_app_categories
from sandwichlab.metrics import top_k
from sandwichlab.recommend import (REPORT_CLAIMS, SandwichRun, article_scores, derive_parent, evaluate,
                                   implied_l1, make_catalogue, make_task, popularity_predictions,
                                   recommend_articles, ridge_predictions, two_stage_scores)


@pytest.fixture(scope="module")
def small_task():
    return make_task(make_app_categories(n_users=400, seed=1), n_articles=300, article_keep=100)


def test_derive_parent_hand_example():
    # L1: 0 = sport, 1 = news (popular).  L2: 0 = football (under sport), 1 = politics (under news),
    # 2 = never read.  News is present for everyone, so P(news | football) = 1 too: lift breaks the tie.
    l1 = np.array([[0.5, 0.5], [0.0, 1.0], [0.3, 0.7], [0.0, 0.2]])
    l2 = np.array([[0.4, 0.1, 0], [0.0, 0.9, 0], [0.2, 0.0, 0], [0.0, 0.2, 0]])
    np.testing.assert_array_equal(derive_parent(l1, l2), [0, 1, -1])


def test_derive_parent_recovers_the_synthetic_taxonomy():
    d = make_app_categories(seed=0)
    tr = d["train"]
    used = tr.l2.sum(axis=0) > 0
    parent = derive_parent(tr.l1, tr.l2)
    assert (parent[used] == d.parent[used]).mean() > 0.97
    assert (parent[~used] == -1).all()


def test_implied_l1_sums_children():
    parent = np.array([1, 0, 1, -1])
    l2 = np.array([[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_allclose(implied_l1(l2, parent, 3), [[2.0, 4.0, 0.0]])


def test_two_stage_filters_by_l1_then_ranks_by_l2():
    parent = np.array([0, 0, 1, 1, 2])
    l1 = np.array([[0.1, 0.9, 0.5]])         # L1 order: 1, 2, 0
    l2 = np.array([[0.9, 0.8, 0.1, 0.3, 0.2]])
    # n_l1 = 1 keeps children of L1 1 (L2 2, 3), by L2: 3, 2; then the rest by L2: 0, 1, 4.
    np.testing.assert_array_equal(top_k(two_stage_scores(l1, l2, parent, n_l1=1), 5), [[3, 2, 0, 1, 4]])
    # n_l1 = 2 keeps L1 1 and 2: L2 3, 4, 2 then 0, 1.
    np.testing.assert_array_equal(top_k(two_stage_scores(l1, l2, parent, n_l1=2), 5), [[3, 4, 2, 0, 1]])
    # Keeping every L1 category is ranking by L2 alone.
    np.testing.assert_array_equal(top_k(two_stage_scores(l1, l2, parent, n_l1=3), 5), top_k(l2, 5))
    with pytest.raises(ValueError, match="n_l1"):
        two_stage_scores(l1, l2, parent, n_l1=4)
    with pytest.raises(ValueError, match="parent"):
        two_stage_scores(l1, l2, np.array([0, 1]), n_l1=1)


def test_article_level_keeps_the_closest_by_l1_then_ranks_by_l2():
    # Three articles; L1 vectors (2 categories) and L2 vectors (2 categories).
    from sandwichlab.recommend import Catalogue
    cat = Catalogue(l1=np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]),
                    l2=np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]), category=np.array([0, 1, 0]))
    l1_hat = np.array([[2.0, 0.0]])  # scaled to (1, 0): distances 0, 2, 0.5 -> nearest two are 0 and 2
    l2_hat = np.array([[0.0, 1.0]])  # L2 scores 0, 1, 0.5
    np.testing.assert_array_equal(recommend_articles(l1_hat, l2_hat, cat, keep=2, n=3), [[2, 0, 1]])
    np.testing.assert_array_equal(recommend_articles(l1_hat, l2_hat, cat, keep=3, n=3), [[1, 2, 0]])
    np.testing.assert_allclose(article_scores(l1_hat, l2_hat, cat, keep=3), [[0.0, 1.0, 0.5]])
    np.testing.assert_allclose(cat.relevance(np.array([[0.0, 0.3]])), [[0.0, 0.3, 0.0]])


def test_catalogue_is_consistent_with_the_taxonomy():
    d = make_app_categories(n_users=200, seed=0)
    cat = make_catalogue(d.parent, n_articles=400, seed=3)
    np.testing.assert_allclose(cat.l2.sum(axis=1), 1.0)
    np.testing.assert_allclose(cat.l1.sum(axis=1), 1.0)
    expected_l1 = np.zeros_like(cat.l1)
    for j, p in enumerate(d.parent):
        expected_l1[:, p] += cat.l2[:, j]
    np.testing.assert_allclose(cat.l1, expected_l1)
    assert (cat.l2[np.arange(400), cat.category] >= 0.7).all()


def test_task_roles_on_published_like_data():
    syn = make_app_categories(n_users=300, seed=0)
    published_like = AppCategorySet({"train": AppSplit(syn["train"].app, syn["train"].l1, None),
                                     "val": syn["val"], "test": syn["test"]}, "published-like")
    task = make_task(published_like)
    assert task.l2_fit["app"] is syn["val"].app and "l2" not in task.l1_fit
    assert task.catalogue is None and not task.synthetic
    assert "val users" in task.roles and "co-occurrence" in task.parent_source
    np.testing.assert_array_equal(task.parent, derive_parent(syn["val"].l1, syn["val"].l2))
    syn_task = make_task(syn)
    assert syn_task.l2_fit["l2"] is syn["train"].l2 and syn_task.catalogue is not None
    with pytest.raises(ValueError, match="AppCategorySet"):
        make_task({"train": 1})


def test_popularity_and_ridge_baselines(small_task):
    t = small_task
    l1, l2 = popularity_predictions(t)
    np.testing.assert_allclose(l2[0], t.l2_fit["l2"].mean(axis=0))
    assert l2.shape == t.eval["l2"].shape and np.ptp(l2, axis=0).max() == 0
    # Ridge with one fixed penalty against the closed form on centred data.
    r1, r2 = ridge_predictions(t, alphas=(0.5,))
    X, Y = t.l2_fit["app"], t.l2_fit["l2"]
    xm, ym = X.mean(0), Y.mean(0)
    W = np.linalg.solve((X - xm).T @ (X - xm) + 0.5 * np.eye(X.shape[1]), (X - xm).T @ (Y - ym))
    np.testing.assert_allclose(r2, (t.eval["app"] - xm) @ W + ym, atol=1e-8)


def test_evaluate_popularity_by_hand(small_task):
    t = small_task
    l1, l2 = popularity_predictions(t)
    m = evaluate(l1, l2, t)
    y2 = t.eval["l2"]
    users = y2.max(axis=1) > 0
    best = int(np.argmax(l2[0]))
    assert m["category_accuracy"] == pytest.approx((y2[users, best] == y2[users].max(axis=1)).mean())
    top5 = np.argsort(-l2[0], kind="stable")[:5]
    assert m["precision@5"] == pytest.approx((y2[users][:, top5] > 0).sum(axis=1).mean() / 5)
    expected = {"category_accuracy", "precision@5", "map@5", "ndcg@5", "two_stage_precision@5", "l1_accuracy",
                "article_precision@5", "article_ndcg@5", "article_l2_only_precision@5"}
    assert expected <= set(m) and all(0 <= v <= 1 for v in m.values())
    no_l1 = evaluate(None, l2, t)
    assert np.isnan(no_l1["l1_accuracy"]) and no_l1["precision@5"] == m["precision@5"]
    with pytest.raises(ValueError, match="l2_hat must have shape"):
        evaluate(l1, l2[:3], t)


def test_run_trains_tracks_and_is_reproducible(small_task):
    a = SandwichRun("bidirectional", "mse", small_task, preset="fast", seed=3)
    res = a.run()
    assert a.trainer.state == "done"
    h = a.trainer.history
    assert len(h) == sum(s.epochs for s in a.stages)
    assert all(0 <= v <= 1 for v in h.series("eval_precision@5"))
    assert set(h.series("stage")) == {s.name for s in a.stages}
    b = SandwichRun("bidirectional", "mse", small_task, preset="fast", seed=3, track=False)
    assert b.run() == res  # same seed, same numbers (CPU); tracking does not disturb training
    c = SandwichRun("bidirectional", "mse", small_task, preset="fast", seed=4, track=False)
    assert c.run() != res


def test_run_bad_arguments(small_task):
    with pytest.raises(ValueError, match="model must be one of"):
        SandwichRun("transformer", "mse", small_task)
    with pytest.raises(ValueError, match="unknown loss"):
        SandwichRun("baseline", "hinge", small_task)
    with pytest.raises(ValueError, match="preset"):
        SandwichRun("baseline", "mse", small_task, preset="tiny")


def test_report_claims_are_the_papers_table():
    assert sorted(REPORT_CLAIMS.values()) == [0.18, 0.20, 0.22, 0.35, 0.40]


def test_table1_runs_and_summary(small_task):
    import threading

    from sandwichlab.recommend import summarise, table1_runs

    seen = []
    recs = table1_runs(small_task, models=["direct", "baseline"], losses=["mse"], seeds=[0, 1], preset="fast",
                       progress=lambda i, n, r: seen.append((i, n)))
    assert [r["model"] for r in recs] == ["popularity", "ridge"] + ["direct"] * 2 + ["baseline"] * 2
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    rows = summarise(recs)
    base = next(r for r in rows if r["model"] == "baseline")
    accs = [r["category_accuracy"] for r in recs if r["model"] == "baseline"]
    assert base["n_seeds"] == 2 and base["category_accuracy"] == pytest.approx(np.mean(accs))
    assert base["category_accuracy_std"] == pytest.approx(np.std(accs, ddof=1))
    assert base["claim"] == 0.20 and np.isnan(rows[0]["claim"])
    # a stopped run is not a result: it leaves its group's mean and seed count alone
    partial = dict(recs[-1], seed=2, state="stopped", category_accuracy=0.0)
    again = next(r for r in summarise(recs + [partial]) if r["model"] == "baseline")
    assert again["n_seeds"] == 2 and again["category_accuracy"] == pytest.approx(np.mean(accs))
    stop = threading.Event()
    stop.set()
    assert len(table1_runs(small_task, models=["direct"], losses=["mse"], seeds=[0], preset="fast", stop=stop)) == 2
    assert table1_runs(small_task, models=["direct"], losses=["mse"], seeds=[0], preset="fast", stop=stop,
                       baselines=False) == []
