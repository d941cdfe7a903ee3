"""The graph of one best-first attempt: the tactic states it reached, for export and inspection.

Each node is a tactic state (Lean's goal list) with the tactic path that reached it; its
``status`` says what became of it. ``to_dict``/``from_dict`` are the ``bestfirst-graph/1``
format that ``search.export`` writes and reads.
"""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from .segments import goals_text

GRAPH_FORMAT = "bestfirst-graph/1"


class NodeStatus(str, enum.Enum):
    """What became of a node of a ``SearchGraph`` (the strings are the export format's)."""

    OPEN = "open"  # reached, never expanded (frontier, or at max_depth)
    EXPANDED = "expanded"
    PROVED = "proved"  # completed in tactic mode AND the command-mode re-check said proved
    UNVERIFIED = "unverified"  # completed in tactic mode, refused by the re-check
    STALE = "stale"  # its state could not be rebuilt after a lost session

    def __str__(self) -> str:
        return self.value


OPEN = NodeStatus.OPEN
EXPANDED = NodeStatus.EXPANDED
PROVED = NodeStatus.PROVED
UNVERIFIED = NodeStatus.UNVERIFIED
STALE = NodeStatus.STALE


@dataclass
class GraphNode:
    """One tactic state reached by the search.

    id: index in ``SearchGraph.nodes`` (the root is 0). parent: the parent's id (None for the
    root). tactic: the tactic that led here from the parent (None for the root). goals: Lean's
    goal list (``()`` once completed). logprob: cumulative log-probability of the tactic path
    (the priority). step_logprob: the last tactic's own (0.0 for the root). depth: tactics from
    the root. status: see the module constants. order: position in the expansion order (None
    if never expanded).
    """

    id: int
    parent: int | None
    tactic: str | None
    goals: tuple[str, ...]
    logprob: float
    step_logprob: float
    depth: int
    status: NodeStatus = OPEN
    order: int | None = None

    @property
    def goal_text(self) -> str:
        return goals_text(self.goals)


@dataclass
class SearchGraph:
    """The nodes of one best-first attempt, for export (``search.export``) and inspection."""

    problem: str
    attempt: int
    nodes: list[GraphNode] = field(default_factory=list)
    proof_node: int | None = None
    expansions: int = 0
    duplicates: int = 0

    def path_to(self, node: int) -> list[int]:
        """Node ids from the root to ``node``, both included."""
        path = [node]
        while self.nodes[path[-1]].parent is not None:
            path.append(self.nodes[path[-1]].parent)  # type: ignore[arg-type]
        return path[::-1]

    def tactics_to(self, node: int) -> list[str]:
        return [self.nodes[i].tactic for i in self.path_to(node)[1:]]  # type: ignore[misc]

    def proof_path(self) -> list[int] | None:
        return None if self.proof_node is None else self.path_to(self.proof_node)

    def stats(self) -> dict[str, Any]:
        return {
            "nodes": len(self.nodes),
            "max_depth": max((n.depth for n in self.nodes), default=0),
            "expansions": self.expansions,
            "duplicates": self.duplicates,
            "frontier": sum(n.status == OPEN for n in self.nodes),
            "unverified": sum(n.status == UNVERIFIED for n in self.nodes),
            "stale": sum(n.status == STALE for n in self.nodes),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"format": GRAPH_FORMAT, "problem": self.problem, "attempt": self.attempt,
                "proof_node": self.proof_node, "expansions": self.expansions,
                "duplicates": self.duplicates,
                "nodes": [dict(asdict(n), goals=list(n.goals)) for n in self.nodes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchGraph":
        if data.get("format") != GRAPH_FORMAT:
            raise ValueError(f"not a {GRAPH_FORMAT} graph: format={data.get('format')!r}")
        nodes = [GraphNode(**dict(n, goals=tuple(n["goals"]), status=NodeStatus(n["status"])))
                 for n in data["nodes"]]
        return cls(data["problem"], int(data["attempt"]), nodes, data["proof_node"],
                   int(data["expansions"]), int(data["duplicates"]))


__all__ = ["EXPANDED", "GRAPH_FORMAT", "GraphNode", "NodeStatus", "OPEN", "PROVED", "STALE",
           "SearchGraph", "UNVERIFIED"]
