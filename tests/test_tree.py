"""Tests for `search.tree`: goal-keyed path insertion, token cap, jobs, JSON checkpoints."""
from __future__ import annotations

import json
import random

import pytest

from search.segments import NO_GOALS, Probe, Segment, state_comment
from search.tree import FORMAT, Tree
from search.ucb import ArmStats

ROOT_GOAL = "x : ℕ\n⊢ P x"


def seg(text: str, state: str | None, indent: int = 2) -> Segment:
    probe = Probe(0, text.strip()) if state is None else None
    return Segment(text, state, 0, indent, probe)  # `end` plays no part in insertion


def test_insert_path_keys_edges_by_goal_and_shares_equal_goal_sequences():
    tree = Tree(ROOT_GOAL)
    added, leaf = tree.insert_path([seg("  intro h\n", "⊢ A"), seg("  simp\n", "⊢ B")],
                                   max_tokens=10_000)
    assert (added, leaf, len(tree)) == (2, 2, 3)
    assert tree.nodes[Tree.ROOT].children == {"⊢ A": 1}
    assert tree.nodes[1].children == {"⊢ B": 2}
    assert [tree.nodes[i].depth for i in (0, 1, 2)] == [0, 1, 2]
    # Other code, same goal sequence: no new node, both prefixes kept at each node.
    added, leaf = tree.insert_path([seg("  intros h\n", "⊢ A"), seg("  simp only\n", "⊢ B")],
                                   max_tokens=10_000)
    assert (added, leaf, len(tree)) == (0, 2, 3)
    assert list(tree.nodes[1].prefixes) == ["  intro h\n", "  intros h\n"]
    assert list(tree.nodes[2].prefixes) == ["  intro h\n  simp\n", "  intros h\n  simp only\n"]
    # The same prefix again is not duplicated.
    tree.insert_path([seg("  intro h\n", "⊢ A")], max_tokens=10_000)
    assert len(tree.nodes[1].prefixes) == 2
    # The same goal under another parent is another node (a tree, not a DAG).
    added, leaf = tree.insert_path([seg("  cases h\n", "⊢ B"), seg("  simp\n", "⊢ A")],
                                   max_tokens=10_000)
    assert added == 2 and tree.nodes[leaf].goal == "⊢ A" and leaf not in (1, 2)
    assert tree.nodes[Tree.ROOT].children == {"⊢ A": 1, "⊢ B": 3}
    tree.check()


def test_unchanged_goals_merge_into_the_next_node_and_unresolved_segments_stop():
    tree = Tree(ROOT_GOAL)
    added, leaf = tree.insert_path([
        seg("  -- nothing changes\n  skip\n", ROOT_GOAL),  # same as the root goal: merged
        seg("  intro h\n", "⊢ A"),
        seg("  have := h\n", "⊢ A"),  # same as its predecessor: merged
        seg("  exact h\n", NO_GOALS),
    ], max_tokens=10_000)
    assert (added, len(tree)) == (2, 3)
    assert list(tree.nodes[1].prefixes) == ["  -- nothing changes\n  skip\n  intro h\n"]
    assert list(tree.nodes[2].prefixes) == [
        "  -- nothing changes\n  skip\n  intro h\n  have := h\n  exact h\n"]
    assert tree.nodes[leaf].terminal and not tree.nodes[1].terminal
    # An unresolved state has no key: insertion stops there.
    added, leaf = tree.insert_path([seg("  rintro h\n", "⊢ C"), seg("  constructor\n", None),
                                    seg("  simp\n", "⊢ D")], max_tokens=10_000)
    assert added == 1 and tree.nodes[leaf].goal == "⊢ C" and not tree.nodes[leaf].children


def test_token_cap_skips_an_over_long_segment_and_keeps_going():
    segs = [seg("  intro h\n", "⊢ A"), seg("  simp\n", "⊢ B"), seg("  ring\n", "⊢ C")]
    # Default token count: code points of the prefix plus its state comment.
    sizes = [len("  intro h\n" + state_comment("⊢ A", 2)),
             len("  intro h\n  simp\n" + state_comment("⊢ B", 2)),
             len("  intro h\n  simp\n  ring\n" + state_comment("⊢ C", 2))]
    tree = Tree(ROOT_GOAL)
    added, leaf = tree.insert_path(segs, max_tokens=sizes[1])  # the second is not < cap
    assert (added, tree.nodes[leaf].goal) == (1, "⊢ A")
    assert tree.nodes[1].tokens == sizes[0]
    added, _ = tree.insert_path(segs, max_tokens=sizes[2] + 1)
    assert added == 2 and len(tree) == 4
    # Any counter can be passed (the policy's tokenizer); here whitespace words.
    words = Tree(ROOT_GOAL)
    added, _ = words.insert_path(segs, max_tokens=10, count_tokens=lambda s: len(s.split()))
    assert added == 2  # 2+6 and 3+6 words are under 10, 4+6 is not


def test_an_over_long_segment_is_skipped_and_a_later_one_that_fits_is_inserted():
    # Upstream `_tree_update`: a segment over the cap is skipped (its code stays in the
    # prefix, the walk stays put), and a later one that fits (a shorter state comment)
    # is inserted under the last node inserted.
    long_goal = "⊢ " + " ∧ ".join(f"P{i}" for i in range(200))
    segs = [seg("  intro h\n", "⊢ A"), seg("  constructor\n", long_goal),
            seg("  all_goals simp\n", NO_GOALS)]
    cap = len("  intro h\n  constructor\n  all_goals simp\n" + state_comment(NO_GOALS, 2)) + 1
    assert len("  intro h\n  constructor\n" + state_comment(long_goal, 2)) >= cap
    tree = Tree(ROOT_GOAL)
    added, leaf = tree.insert_path(segs, max_tokens=cap)
    assert added == 2 and long_goal not in [n.goal for n in tree.nodes]
    assert tree.nodes[leaf].goal == NO_GOALS and tree.nodes[leaf].parent == 1
    assert list(tree.nodes[leaf].prefixes) == ["  intro h\n  constructor\n  all_goals simp\n"]
    tree.check()


def test_the_comment_given_to_a_prompt_is_the_counted_text_at_the_segments_indent():
    # After a nested block the segment's indent (§6.2: where the earliest tactic ending in
    # it starts, the outer `have`) is 2, though its last line is indented 4.
    nested = seg("  have h : P := by\n    simp\n    exact hp\n", "h : P\n⊢ G", indent=2)
    counted: list[str] = []
    tree = Tree(ROOT_GOAL)
    tree.insert_path([nested], max_tokens=10_000,
                     count_tokens=lambda s: counted.append(s) or len(s))
    code, comment = tree.sample_prefix(1, random.Random(0))
    assert comment == "  /- tactic state:\n    h : P\n    ⊢ G\n  -/\n"
    assert counted == [code + comment]
    assert tree.sample_prefix(Tree.ROOT, random.Random(0)) == ("", "")
    # Switched off: no comment is sent, and only the prefix is counted.
    off: list[str] = []
    bare = Tree(ROOT_GOAL)
    bare.insert_path([nested], max_tokens=10_000, count_tokens=lambda s: off.append(s) or 1,
                     comment=False)
    assert bare.sample_prefix(1, random.Random(0), comment=False) == (nested.text, "")
    assert off == [nested.text]


def test_a_prefix_that_ends_without_a_newline_is_stored_with_one():
    tree = Tree(ROOT_GOAL)
    tree.insert_path([seg("  intro h", "⊢ A")], max_tokens=10_000)
    assert list(tree.nodes[1].prefixes) == ["  intro h\n"]


def test_to_dict_from_dict_round_trip_is_exact():
    tree = Tree(ROOT_GOAL)
    tree.insert_path([seg("  intro h\n", "⊢ A"), seg("  simp\n", "⊢ B", 4)], max_tokens=10_000)
    tree.insert_path([seg("  cases h\n", "⊢ Ω ∧ ℝ")], max_tokens=10_000)
    node = tree.select()
    tree.start_job(node)
    tree.finish_job(node, 1.0, gamma=0.99)
    tree.start_job(tree.select())  # leave one job in flight
    data = json.loads(json.dumps(tree.to_dict(), ensure_ascii=False))
    again = Tree.from_dict(data)
    assert again == tree and again.to_dict() == tree.to_dict()
    assert again.nodes[2].prefixes == {"  intro h\n  simp\n": 4}
    # A tampered checkpoint fails its invariant check instead of loading quietly.
    data["nodes"][2]["parent"] = 0
    with pytest.raises(ValueError):
        Tree.from_dict(data)
    with pytest.raises(ValueError):
        Tree.from_dict({"format": "pickle", "nodes": []})


def test_golden_tree_after_two_rollouts():
    tree = Tree("⊢ P")
    _, leaf = tree.insert_path([seg("  a\n", "⊢ Q")], max_tokens=100)
    assert tree.select() == Tree.ROOT  # ⊘ and the fresh child tie: ⊘ wins
    tree.start_job(Tree.ROOT)
    tree.finish_job(Tree.ROOT, 1.0, gamma=0.5)
    assert tree.select() == leaf  # the unvisited child's bonus now dominates
    tree.start_job(leaf)
    tree.finish_job(leaf, 0.0, gamma=0.5)
    assert tree.to_dict() == {"format": FORMAT, "nodes": [
        {"parent": -1, "goal": "⊢ P", "depth": 0, "prefixes": [["", 0]],
         "children": [["⊢ Q", 1]], "tokens": 0, "expanded": True, "terminal": False,
         "stats": {"here": {"w": 1.0, "n": 1.0, "running": 0},
                   "sub": {"w": 0.5, "n": 1.5, "running": 0}}},
        {"parent": 0, "goal": "⊢ Q", "depth": 1, "prefixes": [["  a\n", 2]],
         "children": [], "tokens": 36, "expanded": True, "terminal": False,
         "stats": {"here": {"w": 0.0, "n": 1.0, "running": 0},
                   "sub": {"w": 0.0, "n": 1.0, "running": 0}}},
    ]}


def test_jobs_add_and_remove_virtual_loss_along_the_path():
    tree = Tree(ROOT_GOAL)
    _, leaf = tree.insert_path([seg("  a\n", "⊢ A"), seg("  b\n", "⊢ B")], max_tokens=1000)
    tree.start_job(leaf)
    assert [tree.nodes[i].stats.sub.running for i in tree.path_to(leaf)] == [1, 1, 1]
    assert [tree.nodes[i].stats.here.running for i in tree.path_to(leaf)] == [0, 0, 1]
    assert tree.stats()["running"] == 1
    tree.finish_job(leaf, 1.0)
    assert all(n.stats.sub.running == 0 and n.stats.here.running == 0 for n in tree.nodes)
    assert [tree.nodes[i].stats.sub.w for i in (0, 1, 2)] == [1.0, 1.0, 1.0]
    assert tree.nodes[1].stats.here == ArmStats()  # an ancestor's ⊘ arm is not credited
    with pytest.raises(ValueError):
        tree.finish_job(leaf, 1.0)  # no job in flight there


def test_sample_prefix_is_uniform_and_seeded():
    tree = Tree(ROOT_GOAL)
    for code in ("  a\n", "  b\n", "  c\n"):
        tree.insert_path([seg(code, "⊢ A", 4)], max_tokens=1000)
    draws = [tree.sample_prefix(1, random.Random(7)) for _ in range(3)]
    assert len(set(draws)) == 1  # same seed, same draw
    rng = random.Random(0)
    seen = {tree.sample_prefix(1, rng)[0] for _ in range(60)}
    assert seen == {"  a\n", "  b\n", "  c\n"}
    assert tree.sample_prefix(1, rng)[1] == state_comment("⊢ A", 4)
    assert tree.sample_prefix(Tree.ROOT, rng) == ("", "")  # the root prompt has no comment


def test_stats_and_bytes_per_node():
    tree = Tree(ROOT_GOAL)
    tree.insert_path([seg("  a\n", "⊢ A"), seg("  b\n", "⊢ B"), seg("  c\n", NO_GOALS)],
                     max_tokens=1000)
    tree.insert_path([seg("  d\n", "⊢ D")], max_tokens=1000)
    stats = tree.stats()
    assert {k: stats[k] for k in ("nodes", "max_depth", "leaves", "terminal", "prefixes")} == \
        {"nodes": 5, "max_depth": 3, "leaves": 2, "terminal": 1, "prefixes": 5}
    assert stats["mean_branching"] == pytest.approx(5 / 3 - 1 / 3)  # (2 + 1 + 1) / 3
    small = tree.bytes_per_node()
    assert 100 < small < 10_000
    tree.insert_path([seg("  a\n" + "-- long comment\n" * 200, "⊢ A")], max_tokens=10 ** 6)
    assert tree.bytes_per_node() > small + 3000 / len(tree)


def test_wide_nodes_select_exactly_like_the_scalar_rule():
    """Nodes with many children select through per-node arrays kept in step with backups;
    the choice must be the one ucb.select_child makes from the nodes' own statistics, with
    and without virtual loss in flight, and after a JSON round trip."""
    import random as _random

    from benchmarks.system import grow_tree
    from search.tree import _WIDE
    from search.ucb import EXPAND_HERE, select_child

    tree, _, _ = grow_tree(3000, seed=4)
    rng = _random.Random(1)
    for leaf in rng.sample(range(len(tree)), 40):  # jobs in flight: virtual loss
        tree.start_job(leaf)
    for candidate in (tree, Tree.from_dict(tree.to_dict())):
        wide = [i for i, n in enumerate(candidate.nodes) if len(n.children) >= _WIDE]
        assert wide, "the grown tree should have wide nodes"
        for i in wide:
            node = candidate.nodes[i]
            kids = list(node.children.values())
            expected = select_child(node.stats.here, [candidate.nodes[k].stats.sub for k in kids])
            got = candidate._wide[i].select(node.stats.here, gamma=0.99, c=2.0)
            assert got == (None if expected == EXPAND_HERE else kids[expected]), i


def test_a_large_trees_bytes_per_node_is_estimated_from_a_sample(monkeypatch):
    import search.tree as tree_module

    tree = Tree(ROOT_GOAL)
    for i in range(3000):
        tree.insert_path([seg(f"  step {i % 40}\n", f"⊢ A {i % 40}"),
                          seg(f"  tactic {i}\n" + "-- note\n" * (i % 7), f"⊢ B {i}")],
                         max_tokens=10 ** 6)
    assert len(tree) > 2 * tree_module._SAMPLE
    sampled = tree.bytes_per_node()
    monkeypatch.setattr(tree_module, "_SAMPLE", 10 ** 9)  # every node
    full = tree.bytes_per_node()
    assert sampled == pytest.approx(full, rel=0.05) and sampled != full
