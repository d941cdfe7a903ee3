"""Exporting search trees: networkx graphs, GraphML and node-link JSON round trips, PNG drawings."""
from __future__ import annotations

import json

import networkx as nx
import pytest

from search.bestfirst import GraphNode, SearchGraph
from search.export import (
    PROOF_COLOR,
    draw_tree,
    export_graph,
    read_graphml,
    read_json,
    search_graph_to_networkx,
    to_networkx,
    tree_layout,
    tree_proof_path,
    tree_to_networkx,
    write_graphml,
    write_json,
)
from search.segments import NO_GOALS, Segment
from search.tree import Tree

ROOT_GOAL = "x : ℕ\n⊢ P x"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def seg(text: str, state: str | None, indent: int = 2) -> Segment:
    return Segment(text, state, 0, indent)


def small_tree() -> Tree:
    """root ─ A ─ B ─ no goals (the proof), root ─ C, A ─ D; with some visits and rewards."""
    tree = Tree(ROOT_GOAL)
    tree.insert_path([seg("  intro h\n", "⊢ A"), seg("  simp\n", "⊢ B"),
                      seg("  exact h\n", NO_GOALS)], max_tokens=10_000)
    tree.insert_path([seg("  cases x\n", "⊢ C")], max_tokens=10_000)
    tree.insert_path([seg("  intro h\n", "⊢ A"), seg("  omega\n", "⊢ D")], max_tokens=10_000)
    for node, reward in [(0, 1.0), (1, 1.0), (1, 0.0), (4, 1.0), (2, 1.0)]:
        tree.start_job(node)
        tree.finish_job(node, reward)
    tree.check()
    return tree


def small_graph() -> SearchGraph:
    """The best-first graph of `constructor; exact hp; exact hq`, one duplicate-free side branch."""
    nodes = [
        GraphNode(0, None, None, ("⊢ p ∧ q",), 0.0, 0.0, 0, "expanded", 0),
        GraphNode(1, 0, "constructor", ("⊢ p", "⊢ q"), -0.2, -0.2, 1, "expanded", 1),
        GraphNode(2, 0, "exact cheat", (), -0.05, -0.05, 1, "unverified"),
        GraphNode(3, 1, "exact hp", ("⊢ q",), -0.3, -0.1, 2, "expanded", 2),
        GraphNode(4, 3, "exact hq", (), -0.4, -0.1, 3, "proved"),
        GraphNode(5, 1, "simp", ("⊢ q ∧ True",), -1.5, -1.3, 2, "open"),
    ]
    return SearchGraph("w", 0, nodes, proof_node=4, expansions=3, duplicates=1)


def same_graph(a: nx.DiGraph, b: nx.DiGraph) -> None:
    assert sorted(a.nodes) == sorted(b.nodes)
    assert sorted(a.edges) == sorted(b.edges)
    for n in a.nodes:
        assert a.nodes[n] == b.nodes[n], n
    for u, v in a.edges:
        assert a.edges[u, v] == b.edges[u, v], (u, v)
    assert a.graph["kind"] == b.graph["kind"] and a.graph["proof_path"] == b.graph["proof_path"]


def test_rmaxts_tree_as_a_digraph():
    tree = small_tree()
    g = tree_to_networkx(tree)
    assert g.number_of_nodes() == len(tree) == 6 and nx.is_arborescence(g)
    assert g.graph["kind"] == "rmaxts"
    path = tree_proof_path(tree)
    assert path == [0, 1, 2, 3] and g.graph["proof_path"] == "0,1,2,3"
    marked = {(u, v) for u, v, on in g.edges(data="on_proof_path") if on}
    assert marked == {(0, 1), (1, 2), (2, 3)}
    assert g.nodes[3]["status"] == "terminal" and g.nodes[3]["goal"] == NO_GOALS
    assert g.nodes[1]["status"] == "expanded" and g.nodes[4]["status"] == "expanded"
    assert g.nodes[5]["status"] == "open"
    # Statistics are the edge arm's: node 1 saw 3 finished expansions in its subtree.
    sub = tree.nodes[1].stats.sub
    assert g.nodes[1]["visits"] == sub.n > 2 and g.nodes[1]["reward"] == sub.w
    assert g.nodes[1]["value"] == pytest.approx(sub.w / sub.n)
    assert g.nodes[5]["visits"] == 0.0 and g.nodes[5]["value"] == 0.0
    # Each edge carries the code its segment adds to the parent's prefix.
    assert g.edges[0, 1]["segment"] == "  intro h\n"
    assert g.edges[1, 2]["segment"] == "  simp\n" and g.edges[1, 5]["segment"] == "  omega\n"
    assert g.edges[2, 3]["segment"] == "  exact h\n"


def test_bestfirst_graph_as_a_digraph():
    g = search_graph_to_networkx(small_graph())
    assert g.graph["kind"] == "bestfirst" and nx.is_arborescence(g)
    assert g.graph["proof_path"] == "0,1,3,4"
    assert {(u, v) for u, v, on in g.edges(data="on_proof_path") if on} == {(0, 1), (1, 3), (3, 4)}
    assert g.edges[1, 3] == {"tactic": "exact hp", "logprob": -0.1, "on_proof_path": True}
    assert g.nodes[1]["goal"] == "⊢ p\n\n⊢ q" and g.nodes[4]["goal"] == NO_GOALS
    assert g.nodes[4]["reward"] == 1.0 and g.nodes[2]["reward"] == 0.0
    assert g.nodes[3]["value"] == -0.3 and g.nodes[3]["order"] == 2 and g.nodes[5]["order"] == -1
    assert [g.nodes[n]["visits"] for n in range(6)] == [1, 1, 0, 1, 0, 0]
    # An explicit proof path replaces the default marking; a non-path is refused.
    other = to_networkx(small_graph(), proof_path=[0, 1, 5])
    assert {(u, v) for u, v, on in other.edges(data="on_proof_path") if on} == {(0, 1), (1, 5)}
    with pytest.raises(ValueError, match="not a path"):
        to_networkx(small_graph(), proof_path=[0, 3])


@pytest.mark.parametrize("source", ["tree", "bestfirst"])
def test_graphml_and_json_round_trip(tmp_path, source):
    g = to_networkx(small_tree() if source == "tree" else small_graph())
    graphml = write_graphml(g, tmp_path / "g.graphml")
    js = write_json(g, tmp_path / "g.json")
    assert graphml.stat().st_size > 0 and js.stat().st_size > 0
    same_graph(g, read_graphml(graphml))
    back = read_json(js)
    assert back.is_directed()
    same_graph(g, back)
    # Plain networkx readers work too: the files are standard.
    assert nx.read_graphml(graphml).number_of_edges() == g.number_of_edges()
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["directed"] is True and len(data["edges"]) == g.number_of_edges()
    # Unicode goal texts survive both formats.
    assert any("⊢" in d["goal"] for d in data["nodes"])


def _red_pixels(png) -> int:
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(png)[..., :3]
    target = np.array([int(PROOF_COLOR[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(img - target).max(axis=-1) < 0.08).sum())


@pytest.mark.parametrize("source", ["tree", "bestfirst"])
def test_png_drawing_highlights_the_proof_path(tmp_path, source):
    pytest.importorskip("matplotlib")
    obj = small_tree() if source == "tree" else small_graph()
    png = draw_tree(obj, tmp_path / "tree.png")
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1024
    with_path = _red_pixels(png)
    # The same graph with no proof path marked has (almost) no proof-red pixels.
    g = to_networkx(obj)
    for u, v in g.edges:
        g.edges[u, v]["on_proof_path"] = False
    plain = draw_tree(g, tmp_path / "plain.png", labels=False)
    assert plain.read_bytes()[:8] == PNG_MAGIC
    assert with_path > 200 and with_path > 10 * max(_red_pixels(plain), 1)


def test_export_graph_writes_all_three_files(tmp_path):
    pytest.importorskip("matplotlib")
    out = export_graph(small_graph(), tmp_path / "out", "w-attempt0")
    assert sorted(out) == ["graphml", "json", "png"]
    assert all(p.exists() and p.stat().st_size > 0 for p in out.values())
    same_graph(read_graphml(out["graphml"]), read_json(out["json"]))


def test_layout_places_parents_over_children_and_levels_by_depth():
    g = tree_to_networkx(small_tree())
    pos = tree_layout(g)
    assert set(pos) == set(g.nodes)
    for n in g.nodes:
        assert pos[n][1] == -g.nodes[n]["depth"]
    xs = [pos[k][0] for k in g.successors(1)]
    assert pos[1][0] == (min(xs) + max(xs)) / 2
    leaves = sorted(pos[n][0] for n in g.nodes if g.out_degree(n) == 0)
    assert leaves == [0.0, 1.0, 2.0]
