"""Tests for `search.ucb`: DUCB arithmetic, virtual loss, selection, reward and backup.

Expected numbers are computed by hand from deepseek-prover.md §7.1-7.5 and written out.
"""
from __future__ import annotations

import math
from functools import partial

import pytest

from search.ucb import (
    EXPAND_HERE,
    ArmStats,
    NodeStats,
    backup,
    discounted_ucb,
    discounted_update,
    discounted_value,
    exploration_bonus,
    rmax_reward,
    select_child,
    start_job,
    with_virtual_loss,
)


def test_worked_example_of_the_reference():
    # §7.2: W=2.5, N=5, γ=0.99, k=2 ⇒ value = 2.4503/(4.9005+1.99) ≈ 0.356 (0.5 with k=0).
    w_eff, n_eff = with_virtual_loss(2.5, 5.0, 2, gamma=0.99)
    assert w_eff == pytest.approx(2.45025, abs=1e-12)
    assert n_eff == pytest.approx(4.9005 + 1.99, abs=1e-12)
    value = discounted_value(w_eff, n_eff)
    assert value == pytest.approx(0.355598, abs=1e-6)
    assert round(value, 3) == 0.356
    assert discounted_value(*with_virtual_loss(2.5, 5.0, 0, gamma=0.99)) == 0.5


def test_virtual_loss_equals_k_zero_reward_updates():
    stats = ArmStats(w=1.7, n=3.2)
    for _ in range(5):
        stats = discounted_update(stats, 0.0, gamma=0.99)
    w_eff, n_eff = with_virtual_loss(1.7, 3.2, 5, gamma=0.99)
    assert (w_eff, n_eff) == pytest.approx((stats.w, stats.n), abs=1e-12)
    assert with_virtual_loss(2.0, 4.0, 3, gamma=1.0) == (2.0, 7.0)  # the γ → 1 limit
    with pytest.raises(ValueError):
        with_virtual_loss(1.0, 1.0, -1)


def test_discounted_ucb_formula_by_hand():
    # value 1/2 plus sqrt(2 · ln 10 / 2)
    assert discounted_ucb(1.0, 2.0, 10.0, gamma=0.99) == pytest.approx(
        0.5 + math.sqrt(math.log(10.0)), abs=1e-12)
    # floors: an unvisited arm has value 0 and bonus sqrt(2 · ln 2 / 0.01) below N_tot = 2
    assert discounted_ucb(0.0, 0.0, 0.5) == pytest.approx(math.sqrt(200 * math.log(2)))
    assert exploration_bonus(0.0, 100.0) == pytest.approx(math.sqrt(200 * math.log(100)))
    # c is the constant inside the square root
    assert discounted_ucb(1.0, 2.0, 10.0, c=8.0) == pytest.approx(
        0.5 + 2 * math.sqrt(math.log(10.0)))
    # with running jobs the arm is scored on its virtual-loss statistics
    w_eff, n_eff = with_virtual_loss(1.0, 2.0, 3, gamma=0.99)
    assert discounted_ucb(1.0, 2.0, 10.0, running=3) == pytest.approx(
        w_eff / n_eff + math.sqrt(2 * math.log(10.0) / n_eff))


def test_virtual_loss_lowers_the_score_while_jobs_run():
    score = partial(discounted_ucb, 4.0, 5.0, 20.0, gamma=0.99)
    running = [score(running=k) for k in range(4)]
    assert running == sorted(running, reverse=True) and running[0] > running[1]
    # Two identical children: a job running under the first sends the next pick elsewhere,
    # and once it is finished (no reward) the tie goes back to the first child.
    here = ArmStats(w=0.5, n=4.0)
    child = ArmStats(w=2.0, n=3.0)
    assert select_child(here, [child, child]) == 0
    assert select_child(here, [ArmStats(2.0, 3.0, running=1), child]) == 1


def test_ties_go_to_expand_here_then_to_the_first_child():
    fresh = ArmStats()
    assert select_child(fresh, []) == EXPAND_HERE  # a leaf always expands itself
    assert select_child(fresh, [fresh, fresh]) == EXPAND_HERE  # ⊘ and unvisited children tie
    same = ArmStats(w=1.0, n=2.0)
    assert select_child(same, [same]) == EXPAND_HERE
    # an unvisited child beats a visited ⊘; among equal children the first one wins
    assert select_child(ArmStats(1.0, 1.0), [fresh, fresh]) == 0
    assert select_child(ArmStats(0.0, 9.0), [ArmStats(0.0, 3.0), ArmStats(1.0, 3.0)]) == 1


def test_rmax_reward():
    assert rmax_reward(0) == 0.0
    assert rmax_reward(1) == 1.0
    assert rmax_reward(7) == 1.0
    with pytest.raises(ValueError):
        rmax_reward(-1)


def test_backup_arithmetic_by_hand():
    path = (NodeStats(), NodeStats(), NodeStats())  # root → a → selected node
    for reward in (1.0, 0.0, 1.0):
        path = backup(start_job(path), reward, gamma=0.99)
    # W = (1·γ + 0)·γ + 1 = 1.9801, N = 1 + γ + γ² = 2.9701
    selected = path[-1]
    assert selected.here.w == pytest.approx(1.9801, abs=1e-12)
    assert selected.here.n == pytest.approx(2.9701, abs=1e-12)
    for node in path:
        assert node.sub.w == pytest.approx(1.9801, abs=1e-12)
        assert node.sub.n == pytest.approx(2.9701, abs=1e-12)
        assert node.sub.running == node.here.running == 0
    assert path[0].here == path[1].here == ArmStats()  # ancestors' ⊘ arms untouched


def test_backup_is_pure_and_tracks_running_jobs():
    path = (NodeStats(), NodeStats(here=ArmStats(0.5, 1.0)))
    started = start_job(path)
    assert path == (NodeStats(), NodeStats(here=ArmStats(0.5, 1.0)))  # inputs unchanged
    assert [s.sub.running for s in started] == [1, 1]
    assert [s.here.running for s in started] == [0, 1]
    twice = start_job(started)
    once_done = backup(twice, 1.0, gamma=0.5)
    assert [s.sub.running for s in once_done] == [1, 1]
    assert once_done[1].here == ArmStats(w=0.5 * 0.5 + 1.0, n=0.5 * 1.0 + 1.0, running=1)
    # Without a running job there is nothing to finish: a lost or doubled job is an error.
    with pytest.raises(ValueError):
        backup(path, 1.0)
    no_finish = backup(path, 1.0, finish_job=False)
    assert no_finish[0].sub == ArmStats(1.0, 1.0, 0)
    with pytest.raises(ValueError):
        start_job(())


def test_discounting_weights_recent_rewards_more():
    # the closed form W = Σ γ^(t-i) R_i over the arm's own update history
    rewards = [1.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    stats = ArmStats()
    for r in rewards:
        stats = discounted_update(stats, r, gamma=0.9)
    t = len(rewards)
    assert stats.w == pytest.approx(sum(0.9 ** (t - 1 - i) * r for i, r in enumerate(rewards)))
    assert stats.n == pytest.approx(sum(0.9 ** i for i in range(t)))
    assert NodeStats.from_dict(NodeStats(stats, stats).to_dict()) == NodeStats(stats, stats)
