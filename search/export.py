"""Search trees as graphs: networkx ``DiGraph``, GraphML, JSON (node-link) and PNG drawings.

Two sources, one shape (node ids are ints, edges go parent → child):

* the RMaxTS ``search.tree.Tree`` (``tree_to_networkx``). Node attributes: ``goal`` (the
  edge key, a tactic-state text), ``depth``, ``visits`` (discounted visit count N of the edge
  arm into the node, ``stats.sub.n``; the root's is its subtree's), ``reward`` (discounted
  reward sum W, ``stats.sub.w``), ``value`` (W/N, 0 when unvisited), ``status``
  (``"terminal"`` | ``"expanded"`` | ``"open"``), ``prefixes`` (distinct code prefixes),
  ``tokens``. Edge attribute ``segment``: the code the child's first prefix adds to the
  parent's longest prefix that it extends (the whole prefix when none does).
* the best-first ``search.bestfirst.SearchGraph`` (``search_graph_to_networkx``). Node
  attributes: ``goal`` (``"\\n\\n"``-joined goals, ``"no goals"`` once completed), ``depth``,
  ``visits`` (1 if expanded, else 0), ``value`` (cumulative log-probability), ``reward`` (1.0
  on the proved node, else 0.0), ``status`` (``bestfirst`` node statuses), ``order``
  (expansion order, -1 if never expanded). Edge attributes: ``tactic``, ``logprob`` (the
  tactic's own).

Both mark the proof path: ``on_proof_path`` (bool) on every node and edge, from the
``proof_path`` argument (node ids, root first) or, by default, the path to the first terminal
node (tree) / the proved node (best-first). Every attribute is a str, int, float or bool, never
None, so GraphML holds them as they are; ``graph.graph`` carries ``kind`` (``"rmaxts"`` |
``"bestfirst"``) and ``proof_path`` (node ids joined by commas, ``""`` when none).

Drawing (``draw_tree``) uses matplotlib's Agg canvas directly (no pyplot, no display, the
global backend untouched): a top-down tree layout, nodes coloured by ``visits`` (RMaxTS) or
``value`` (best-first) or any numeric attribute, proof-path edges thick and red, node ids and
edge texts as labels when the tree is small. matplotlib is an optional dependency:
``pip install 'lean-prover[plot]'``.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Sequence

import networkx as nx

if TYPE_CHECKING:  # matplotlib is optional (the `plot` extra): imported when drawing
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

from .bestfirst import PROVED, SearchGraph
from .segments import NO_GOALS
from .tree import Tree

PLOT_HINT = "pip install 'lean-prover[plot]'   (or: pip install matplotlib)"
PROOF_COLOR = "#d62728"  # proof-path edges
PROOF_NODE_COLOR = "#7a0000"  # outline of proof-path nodes (darker, so edges stay distinct)
EDGE_COLOR = "#9a9a9a"


# -- to networkx --------------------------------------------------------------------------------

def _mark_path(g: nx.DiGraph, path: Sequence[int] | None) -> None:
    on_nodes = set(path or ())
    on_edges = set(zip(path or (), (path or ())[1:], strict=False))
    missing = [e for e in on_edges if not g.has_edge(*e)]
    if missing:
        raise ValueError(f"proof path is not a path of this graph: missing edges {missing}")
    for n in g.nodes:
        g.nodes[n]["on_proof_path"] = n in on_nodes
    for u, v in g.edges:
        g.edges[u, v]["on_proof_path"] = (u, v) in on_edges
    g.graph["proof_path"] = ",".join(str(n) for n in path or ())


def tree_proof_path(tree: Tree) -> list[int] | None:
    """Root-to-node path to the first terminal (``"no goals"``) node, if any."""
    terminal = next((i for i, n in enumerate(tree.nodes) if n.terminal), None)
    return None if terminal is None else tree.path_to(terminal)


def _segment(parent_prefixes: Sequence[str], child_prefix: str) -> str:
    base = max((p for p in parent_prefixes if child_prefix.startswith(p)), key=len, default="")
    return child_prefix[len(base):]


def tree_to_networkx(tree: Tree, *, proof_path: Sequence[int] | None = None,
                     name: str = "") -> nx.DiGraph:
    """The RMaxTS tree as a DiGraph (module docstring for the attributes)."""
    g = nx.DiGraph(kind="rmaxts", name=name)
    for i, node in enumerate(tree.nodes):
        sub = node.stats.sub
        status = "terminal" if node.terminal else "expanded" if node.expanded else "open"
        g.add_node(i, goal=node.goal, depth=int(node.depth), visits=float(sub.n),
                   reward=float(sub.w), value=float(sub.w / sub.n) if sub.n > 0 else 0.0,
                   status=status, prefixes=len(node.prefixes), tokens=int(node.tokens))
        if node.parent != Tree.NO_PARENT:
            first = next(iter(node.prefixes), "")
            g.add_edge(node.parent, i,
                       segment=_segment(list(tree.nodes[node.parent].prefixes), first))
    _mark_path(g, tree_proof_path(tree) if proof_path is None else list(proof_path))
    return g


def search_graph_to_networkx(graph: SearchGraph, *, proof_path: Sequence[int] | None = None
                             ) -> nx.DiGraph:
    """A best-first attempt's graph as a DiGraph (module docstring for the attributes)."""
    g = nx.DiGraph(kind="bestfirst", name=graph.problem, attempt=graph.attempt)
    for node in graph.nodes:
        g.add_node(node.id, goal=node.goal_text if node.goals else NO_GOALS,
                   depth=int(node.depth), visits=int(node.order is not None),
                   value=float(node.logprob), reward=1.0 if node.status == PROVED else 0.0,
                   status=node.status, order=-1 if node.order is None else int(node.order))
        if node.parent is not None:
            g.add_edge(node.parent, node.id, tactic=node.tactic or "",
                       logprob=float(node.step_logprob))
    _mark_path(g, graph.proof_path() if proof_path is None else list(proof_path))
    return g


def to_networkx(source: Tree | SearchGraph | nx.DiGraph, *,
                proof_path: Sequence[int] | None = None) -> nx.DiGraph:
    """Any supported search structure as a DiGraph (a DiGraph passes through, re-marked only
    when ``proof_path`` is given)."""
    if isinstance(source, Tree):
        return tree_to_networkx(source, proof_path=proof_path)
    if isinstance(source, SearchGraph):
        return search_graph_to_networkx(source, proof_path=proof_path)
    if isinstance(source, nx.DiGraph):
        if proof_path is not None:
            source = source.copy()
            _mark_path(source, list(proof_path))
        return source
    raise TypeError(f"cannot export a {type(source).__name__}")


# -- files --------------------------------------------------------------------------------------

def write_graphml(graph: nx.DiGraph, path: str | Path) -> Path:
    path = Path(path)
    nx.write_graphml(graph, path, encoding="utf-8")
    return path


def read_graphml(path: str | Path) -> nx.DiGraph:
    """A GraphML file written by ``write_graphml``, with int node ids again."""
    return nx.read_graphml(Path(path), node_type=int)


def _node_link_data(graph: nx.DiGraph) -> dict[str, Any]:
    try:
        data: dict[str, Any] = nx.node_link_data(graph, edges="edges")
    except TypeError:  # networkx < 3.4 names the key argument `link`
        data = nx.node_link_data(graph, link="edges")
    return data


def write_json(graph: nx.DiGraph, path: str | Path) -> Path:
    """networkx node-link JSON (edges under ``"edges"``)."""
    path = Path(path)
    path.write_text(json.dumps(_node_link_data(graph), ensure_ascii=False, indent=1) + "\n",
                    encoding="utf-8")
    return path


def read_json(path: str | Path) -> nx.DiGraph:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    try:
        return nx.node_link_graph(data, edges="edges")
    except TypeError:
        return nx.node_link_graph(data, link="edges")


def export_graph(source: Tree | SearchGraph | nx.DiGraph, directory: str | Path, stem: str, *,
                 proof_path: Sequence[int] | None = None, png: bool = True) -> dict[str, Path]:
    """Write ``stem.graphml``, ``stem.json`` and (``png=True``) ``stem.png`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    g = to_networkx(source, proof_path=proof_path)
    out = {"graphml": write_graphml(g, directory / f"{stem}.graphml"),
           "json": write_json(g, directory / f"{stem}.json")}
    if png:
        out["png"] = draw_tree(g, directory / f"{stem}.png")
    return out


# -- drawing ------------------------------------------------------------------------------------

def tree_layout(graph: nx.DiGraph) -> dict[int, tuple[float, float]]:
    """Top-down positions: leaves at consecutive x in depth-first order (children by id), a
    parent centred over its children, y = -level. Roots are the nodes of in-degree 0 (then any
    node not yet reached, so a cycle cannot hide nodes)."""
    pos: dict[int, tuple[float, float]] = {}
    visited: set[int] = set()
    next_x = 0.0
    for root in sorted(n for n in graph.nodes if graph.in_degree(n) == 0) + sorted(graph.nodes):
        if root in visited:
            continue
        visited.add(root)
        kids_of: dict[int, list[int]] = {root: []}
        stack = [(root, 0, iter(sorted(graph.successors(root))))]
        while stack:
            node, level, kids = stack[-1]
            for k in kids:
                if k not in visited:
                    visited.add(k)
                    kids_of[node].append(k)
                    kids_of[k] = []
                    stack.append((k, level + 1, iter(sorted(graph.successors(k)))))
                    break
            else:
                stack.pop()
                xs = [pos[k][0] for k in kids_of[node]]
                if xs:
                    x = (min(xs) + max(xs)) / 2
                else:
                    x, next_x = next_x, next_x + 1.0
                pos[node] = (x, -float(level))
    return pos


def _import_matplotlib() -> tuple[ModuleType, type[Figure], type[FigureCanvasAgg],
                                  type[LineCollection], ModuleType, ModuleType]:
    try:
        import matplotlib
        from matplotlib import cm, colors
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"drawing a search tree needs matplotlib: {PLOT_HINT}") from exc
    return matplotlib, Figure, FigureCanvasAgg, LineCollection, cm, colors


def draw_tree(graph: Tree | SearchGraph | nx.DiGraph, path: str | Path, *,
              proof_path: Sequence[int] | None = None, color_by: str | None = None,
              labels: bool | None = None, title: str | None = None, dpi: int = 100) -> Path:
    """Draw a search tree to a PNG at ``path``; returns ``path``.

    ``proof_path`` (node ids, root first) is highlighted with thick red edges; by default the
    edges marked ``on_proof_path``. ``color_by``: a numeric node attribute (default ``visits``
    for RMaxTS trees, ``value`` for best-first graphs). ``labels``: node ids and edge texts;
    default on for trees of at most 40 nodes.
    """
    matplotlib, Figure, FigureCanvasAgg, LineCollection, cm, colors = _import_matplotlib()
    g = to_networkx(graph, proof_path=proof_path)
    path = Path(path)
    if proof_path is not None:
        highlighted = set(zip(proof_path, proof_path[1:], strict=False))
    else:
        highlighted = {(u, v) for u, v, on in g.edges(data="on_proof_path") if on}
    color_by = color_by or ("visits" if g.graph.get("kind") == "rmaxts" else "value")
    pos = tree_layout(g)
    nodes = sorted(g.nodes)
    labels = len(nodes) <= 40 if labels is None else labels
    width = max(pos[n][0] for n in nodes) + 1 if nodes else 1
    depth = -min(pos[n][1] for n in nodes) + 1 if nodes else 1
    fig = Figure(figsize=(min(max(6.0, 0.6 * width + 2), 40.0), min(max(4.0, 1.0 * depth + 1), 30.0)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    plain = [(pos[u], pos[v]) for u, v in g.edges if (u, v) not in highlighted]
    bold = [(pos[u], pos[v]) for u, v in g.edges if (u, v) in highlighted]
    ax.add_collection(LineCollection(plain, colors=EDGE_COLOR, linewidths=1.0, zorder=1))
    ax.add_collection(LineCollection(bold, colors=PROOF_COLOR, linewidths=3.5, zorder=2))
    values = [float(g.nodes[n].get(color_by, 0.0) or 0.0) for n in nodes]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    norm = colors.Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1.0)
    cmap = matplotlib.colormaps["viridis"]
    on_path = {n for e in highlighted for n in e}
    if nodes:
        xs = [pos[n][0] for n in nodes]
        ys = [pos[n][1] for n in nodes]
        ax.scatter(xs, ys, c=values, cmap=cmap, norm=norm, s=160, zorder=3,
                   edgecolors=[PROOF_NODE_COLOR if n in on_path else "black" for n in nodes],
                   linewidths=[2.0 if n in on_path else 0.5 for n in nodes])
    mappable = cm.ScalarMappable(norm=norm, cmap=cmap)
    mappable.set_array(values)
    fig.colorbar(mappable, ax=ax, label=color_by, shrink=0.8)
    if labels:
        for n, value in zip(nodes, values, strict=True):
            ax.annotate(str(n), pos[n], ha="center", va="center", fontsize=7, zorder=4,
                        color="black" if norm(value) > 0.6 else "white")
        for u, v, data in g.edges(data=True):
            text = (data.get("tactic") or data.get("segment") or "").strip().split("\n")[0]
            if text:
                text = text if len(text) <= 24 else text[:23] + "…"
                (x1, y1), (x2, y2) = pos[u], pos[v]
                ax.annotate(text, ((x1 + x2) / 2, (y1 + y2) / 2), fontsize=6, ha="center",
                            va="center", zorder=4, color="#333333",
                            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none",
                                  "alpha": 0.7})
    ax.set_xlim(-0.75, width - 0.25)
    ax.set_ylim(-depth + 0.5, 0.75)
    ax.set_axis_off()
    kind = g.graph.get("kind", "search")
    ax.set_title(title or f"{kind} tree: {len(nodes)} nodes" +
                 (f", proof path of {len(bold)} edges" if bold else ""), fontsize=9)
    fig.savefig(path, format="png", dpi=dpi)
    return path


__all__ = [
    "draw_tree", "export_graph", "read_graphml", "read_json",
    "search_graph_to_networkx", "to_networkx", "tree_layout", "tree_proof_path",
    "tree_to_networkx", "write_graphml", "write_json",
]
