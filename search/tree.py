"""The RMaxTS search tree: goal-keyed paths of tactic states, with DUCB statistics.

Reference: ``shared/reference/deepseek-prover.md`` §6.3 (resume: inserting a verified proof
as a path from the root), §7.1-7.3 (per-node statistics, virtual loss, selection) and
§7.6 (checkpoints; here JSON through ``to_dict``/``from_dict``, never pickle).

Contract. A node is a *sequence of distinct tactic states reached from the root*: the
edge into a node is keyed by the goal text (``Segment.state_after``) of the segment that
reached it, so the same state reached along different goal sequences gives different nodes
(a tree, not a DAG), and different code giving the same state sequence shares a node. A
node keeps ALL distinct code prefixes that reach it (a set, insertion-ordered, §6.3); an
expansion samples one uniformly with the caller's ``random.Random``. The tree mutates in
place; the arithmetic (selection, virtual loss, backup) is ``search.ucb``'s pure functions.
"""
from __future__ import annotations

import functools
import math
import random
import sys
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Iterable, Sequence

import numpy as np

from .segments import NO_GOALS, Segment, state_comment, tactic_state_comment_length
from .ucb import (
    EXPAND_HERE,
    EXPLORATION,
    FLOOR,
    GAMMA,
    ArmStats,
    NodeStats,
    backup,
    select_child,
    start_job,
    with_virtual_loss,
)

FORMAT = "rmaxts-tree/1"
_NO_CHILDREN: Any = MappingProxyType({})
# Every rollout re-walks its path from the root, formatting the same few state comments again.
_comment = functools.lru_cache(maxsize=64)(state_comment)


def _prompt_tail(code: str, goal: str, indent: int, comment: bool) -> str:
    """What follows the statement in an expansion's prompt: the prefix, then its comment."""
    return code + _comment(goal, indent) if comment else code


# Nodes a large tree's ``bytes_per_node`` looks at.
_SAMPLE = 1024
# From this many children on, a node keeps its children's DUCB terms in arrays.
_WIDE = 16


class _WideNode:
    """Selection at a node with many children, in one vectorised pass.

    The DUCB score of a child (ucb.select_child) is ``w/n + sqrt(C·ln N / n)`` with n floored:
    that is ``a + L·b`` with ``a = w/n``, ``b = 1/sqrt(n)`` per child and ``L = sqrt(C·ln N)``
    shared. A backup changes one child per node, so ``a``, ``b`` and the effective visit counts
    are kept in arrays and updated for that child only; the root of a 10⁴-node tree has
    ~100 children, and scoring them one by one in Python dominated the search's overhead.
    Only for the default γ (the arrays hold virtual loss computed with it).
    """

    __slots__ = ("kids", "slot", "a", "b", "n", "size")

    def __init__(self, capacity: int) -> None:
        self.kids = np.zeros(capacity, dtype=np.int64)
        self.slot: dict[int, int] = {}
        self.a = np.zeros(capacity)
        self.b = np.zeros(capacity)
        self.n = np.zeros(capacity)
        self.size = 0

    @classmethod
    def of(cls, kids: list[int], arms: list[ArmStats]) -> "_WideNode":
        wide = cls(max(2 * len(kids), 32))
        for k, arm in zip(kids, arms, strict=True):
            wide.append(k, arm)
        return wide

    @staticmethod
    def _terms(arm: ArmStats) -> tuple[float, float, float]:
        w, n = (arm.w, arm.n) if not arm.running else with_virtual_loss(arm.w, arm.n, arm.running)
        floored = n if n > FLOOR else FLOOR
        return w / floored, 1.0 / math.sqrt(floored), n

    def append(self, kid: int, arm: ArmStats) -> None:
        if self.size == len(self.a):
            for name in ("kids", "a", "b", "n"):
                old = getattr(self, name)
                grown = np.zeros(2 * len(old), dtype=old.dtype)
                grown[: len(old)] = old
                setattr(self, name, grown)
        self.kids[self.size] = kid
        self.slot[kid] = self.size
        self.size += 1
        self.update(kid, arm)

    def update(self, kid: int, arm: ArmStats) -> None:
        i = self.slot[kid]
        self.a[i], self.b[i], self.n[i] = self._terms(arm)

    def select(self, here: ArmStats, *, gamma: float, c: float) -> int | None:
        """The child to descend into, or None for "expand here" (which wins ties)."""
        del gamma  # the arrays were built with the default γ (see the class docstring)
        here_a, here_b, here_n = self._terms(here)
        size = self.size
        total = here_n + float(self.n[:size].sum())
        spread = math.sqrt(c * math.log(max(total, 2.0)))
        scores = self.a[:size] + spread * self.b[:size]
        best = int(np.argmax(scores))  # the first maximum: ties go to the earlier child
        return int(self.kids[best]) if scores[best] > here_a + spread * here_b else None


@dataclass(slots=True)
class Node:
    """One tree node. Fields:

    parent: index of the parent node; ``Tree.NO_PARENT`` for the root.
    goal: the edge key, the tactic-state text this node was reached by (the root's is the
      problem's root goal).
    depth: edges from the root.
    prefixes: the distinct code prefixes reaching this node, code → indent of the state
      comment that follows it (§3.3); insertion-ordered, so sampling is reproducible.
    children: goal text → child index, in insertion order (selection breaks ties by it).
    tokens: token length of the shortest prefix plus its state comment.
    stats: ``here`` (the virtual ⊘ arm: expansions started at this node) and ``sub`` (the
      edge into it: expansions started in its subtree), as ``ucb.NodeStats``; each arm is
      (W_γ, N_γ, running jobs k), updated W ← γW + R, N ← γN + 1 when an expansion it
      covers finishes (§7.1), its k counted as k zero-reward updates while selecting.
    expanded: an expansion has been started at this node.
    terminal: the goal is ``"no goals"``: a proof reached it.
    """

    parent: int
    goal: str
    depth: int
    # Code prefixes are kept as UTF-8 bytes: proof text is mostly ASCII, but one `₀` makes a
    # Python str spend two bytes on every character, and prefixes are most of a node's size.
    # (code, indent) pairs in insertion order: a tuple, since nearly every node has one prefix
    # and a one-entry dict costs nearly twice a one-pair tuple.
    codes: tuple[tuple[bytes, int], ...] = ()
    # Most nodes are leaves: they share one read-only empty mapping until a child arrives.
    children: dict[str, int] = field(default_factory=lambda: _NO_CHILDREN)
    tokens: int = 0
    stats: NodeStats = NodeStats()
    expanded: bool = False
    terminal: bool = False

    @property
    def prefixes(self) -> dict[str, int]:
        """The code prefixes as text (stored as UTF-8 in ``codes``)."""
        return {code.decode(): indent for code, indent in self.codes}

    def to_dict(self) -> dict[str, Any]:
        return {
            "parent": self.parent, "goal": self.goal, "depth": self.depth,
            "prefixes": [[code.decode(), indent] for code, indent in self.codes],
            "children": [[goal, index] for goal, index in self.children.items()],
            "tokens": self.tokens, "stats": self.stats.to_dict(),
            "expanded": self.expanded, "terminal": self.terminal,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Node":
        return cls(
            parent=int(data["parent"]), goal=str(data["goal"]), depth=int(data["depth"]),
            codes=tuple((str(c).encode(), int(i)) for c, i in data["prefixes"]),
            children={str(g): int(i) for g, i in data["children"]} or _NO_CHILDREN,
            tokens=int(data["tokens"]), stats=NodeStats.from_dict(data["stats"]),
            expanded=bool(data["expanded"]), terminal=bool(data["terminal"]),
        )


class Tree:
    """Nodes in a list, addressed by index; ``ROOT`` is index 0.

    Invariants (``check()`` asserts them):
    * ``nodes[ROOT].parent == NO_PARENT`` and its only prefix is ``""`` (the root prompt has
      no state comment, §6.3); every other node's parent has a smaller index.
    * ``nodes[p].children[g] == i``  ⇔  ``nodes[i].parent == p and nodes[i].goal == g``;
      so goals are unique among siblings.
    * ``depth(i) == depth(parent(i)) + 1``; ``terminal(i) == (goal(i) == "no goals")``.
    * a child's goal differs from its parent's (equal consecutive states are merged, §6.3).
    * ``running`` counts are never negative; with no job in flight they are all 0.
    """

    ROOT: ClassVar[int] = 0
    NO_PARENT: ClassVar[int] = -1

    def __init__(self, root_goal: str) -> None:
        self.nodes: list[Node] = [Node(parent=self.NO_PARENT, goal=root_goal, depth=0,
                                       codes=((b"", 0),))]
        self._wide: dict[int, _WideNode] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def root_goal(self) -> str:
        return self.nodes[self.ROOT].goal

    # -- resume: insert a verified proof's segments (§6.3) -----------------------------------

    def insert_path(self, segments: Sequence[Segment], *, max_tokens: int,
                    count_tokens: Callable[[str], int] = len,
                    comment: bool = True, log: list[int] | None = None) -> tuple[int, int]:
        """Insert the path of ``segments`` from the root; (new node count, deepest node).

        Walks the segments in order, accumulating their text into the code prefix. A
        segment whose state equals the previous state only extends the prefix (its code is
        merged into the next node's prefix). Otherwise the walk steps into the child keyed
        by that state, creating it if absent, and records the prefix there. It stops at the
        first unresolved segment (``state_after is None``: there is no key for it).

        The cap (§6.3, upstream ``_tree_update``): a segment whose prompt tail
        ``count_tokens(prefix + state comment)`` (the prefix alone when ``comment`` is off:
        no comment is sent then) is not under ``max_tokens`` is skipped, not the end of the
        walk: its code stays in the prefix, the walk stays where it is, and a later segment
        that fits (a shorter comment) still becomes a node, a child of the last node
        inserted. The text counted is exactly what ``sample_prefix`` gives the prompt.
        Upstream counts the policy's tokens; the default here counts code points. The
        count of new nodes is what ``ucb.rmax_reward`` takes.
        """
        nodes = self.nodes
        node, prev_goal, code, added = self.ROOT, self.root_goal, "", 0
        for seg in segments:
            code += seg.text
            state = seg.state_after
            if state is None:
                break
            if state == prev_goal:
                continue
            # A prefix ends with a newline, as upstream's segments do (a valid prefix that
            # ends the text without one gets it): the continuation starts a new line.
            stored = code if code.endswith("\n") else code + "\n"
            if count_tokens is len:  # code points: the comment's length, without writing it
                tokens = len(stored) + (tactic_state_comment_length(state, seg.indent)
                                        if comment else 0)
            else:
                tokens = count_tokens(_prompt_tail(stored, state, seg.indent, comment))
            if log is not None:  # what a replay gives back (``search.tree_journal``)
                log.append(tokens)
            if tokens >= max_tokens:
                continue
            child = nodes[node].children.get(state)
            if child is None:
                child = self._add_child(node, state, tokens)
                added += 1
            target = nodes[child]
            encoded = stored.encode()
            for known, _ in target.codes:
                if known == encoded:
                    break
            else:
                target.codes += ((encoded, seg.indent),)
            if tokens < target.tokens:
                target.tokens = tokens
            node, prev_goal = child, state
        return added, node

    def _add_child(self, parent: int, goal: str, tokens: int) -> int:
        index = len(self.nodes)
        self.nodes.append(Node(parent=parent, goal=goal, depth=self.nodes[parent].depth + 1,
                               tokens=tokens, terminal=goal == NO_GOALS))
        if not self.nodes[parent].children:
            self.nodes[parent].children = {}
        self.nodes[parent].children[goal] = index
        wide = self._wide.get(parent)
        if wide is not None:
            wide.append(index, self.nodes[index].stats.sub)
        elif len(self.nodes[parent].children) >= _WIDE:
            self._widen(parent)
        return index

    def _widen(self, parent: int) -> None:
        kids = list(self.nodes[parent].children.values())
        self._wide[parent] = _WideNode.of(kids, [self.nodes[k].stats.sub for k in kids])

    def _sync_wide(self, path: Sequence[int]) -> None:
        """After a path's statistics changed, refresh its nodes' entries in wide parents."""
        wide_of = self._wide
        if not wide_of:
            return
        nodes = self.nodes
        # The path runs root → node, so each node follows its parent (path[1:] is one shorter).
        for parent, i in zip(path, path[1:], strict=False):
            wide = wide_of.get(parent)
            if wide is not None:
                wide.update(i, nodes[i].stats.sub)

    # -- selection, jobs and backup (§7.2-7.4; arithmetic in search.ucb) --------------------

    def states_on_path(self, index: int) -> dict[str, str]:
        """Code prefix → state for every prefix recorded on the path to ``index``: what a
        candidate that continues one of them already knows without asking Lean again (at
        the default pin each such state would otherwise be re-read in tactic mode)."""
        return {code.decode(): self.nodes[i].goal
                for i in self.path_to(index)[1:] for code, _indent in self.nodes[i].codes}

    def path_to(self, index: int) -> list[int]:
        """Node indices from the root to ``index``, both included."""
        nodes = self.nodes  # three walks per rollout: locals, not attribute lookups
        path = [index]
        parent = nodes[index].parent
        while parent != self.NO_PARENT:
            path.append(parent)
            parent = nodes[parent].parent
        path.reverse()
        return path

    def select(self, *, gamma: float = GAMMA, c: float = EXPLORATION) -> int:
        """The node to expand: descend from the root by ``ucb.select_child`` until the
        virtual ⊘ action wins (a leaf always expands itself)."""
        nodes, node = self.nodes, self.ROOT
        wide_of = self._wide if gamma == GAMMA else {}
        while True:
            wide = wide_of.get(node)
            if wide is not None:
                child = wide.select(nodes[node].stats.here, gamma=gamma, c=c)
                if child is None:
                    return node
                node = child
                continue
            kids = list(nodes[node].children.values())
            choice = select_child(nodes[node].stats.here, [nodes[k].stats.sub for k in kids],
                                  gamma=gamma, c=c)
            if choice == EXPAND_HERE:
                return node
            node = kids[choice]

    def start_job(self, index: int) -> None:
        """Add the virtual loss of one expansion at ``index`` (``ucb.start_job``)."""
        path = self.path_to(index)
        for i, stats in zip(path, start_job([self.nodes[i].stats for i in path]), strict=True):
            self.nodes[i].stats = stats
        self.nodes[index].expanded = True
        self._sync_wide(path)

    def finish_job(self, index: int, reward: float, *, gamma: float = GAMMA) -> None:
        """Back up ``reward`` for the expansion started at ``index`` and drop its virtual
        loss (``ucb.backup``): the node's ⊘ and edge arms, its ancestors' edge arms."""
        path = self.path_to(index)
        for i, stats in zip(path, backup([self.nodes[i].stats for i in path], reward,
                                         gamma=gamma), strict=True):
            self.nodes[i].stats = stats
        self._sync_wide(path)

    def clear_running(self) -> None:
        """Drop the virtual loss of every job still counted (jobs abandoned when a tree
        ends): in place, touching only the nodes that carry some, so it costs no copy of
        the tree."""
        for i, node in enumerate(self.nodes):
            here, sub = node.stats
            if here.running or sub.running:
                node.stats = NodeStats(here._replace(running=0), sub._replace(running=0))
                wide = self._wide.get(node.parent) if i != self.ROOT else None
                if wide is not None:
                    wide.update(i, node.stats.sub)

    def sample_prefix(self, index: int, rng: random.Random, *,
                      comment: bool = True) -> tuple[str, str]:
        """(code prefix, state comment) for an expansion at ``index``: a prefix drawn
        uniformly from the node's set (§6.4). The comment is built here, once, from the
        goal and the indent stored with that prefix (the segment's, §6.2), and is the text
        ``insert_path`` counted; the prompt carries it verbatim after the prefix. The
        root's comment is empty (§6.3), and so is every comment when ``comment`` is off
        (upstream ``tactic_state_comment = False``)."""
        node = self.nodes[index]
        code, indent = rng.choice(node.codes)
        text = "" if index == self.ROOT or not comment else _comment(node.goal, indent)
        return code.decode(), text

    # -- checkpoints, checks, sizes --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``Tree.from_dict(t.to_dict())`` equals ``t`` exactly (floats
        survive ``json`` because it writes their shortest round-tripping repr)."""
        return {"format": FORMAT, "nodes": [n.to_dict() for n in self.nodes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Tree":
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} checkpoint: format={data.get('format')!r}")
        tree = cls.__new__(cls)
        tree.nodes = [Node.from_dict(n) for n in data["nodes"]]
        tree._wide = {}
        tree.check()
        for i, node in enumerate(tree.nodes):
            if len(node.children) >= _WIDE:
                tree._widen(i)
        return tree

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tree) and self.nodes == other.nodes

    def check(self) -> None:
        """Raise ValueError when an invariant of the class docstring does not hold."""
        if not self.nodes:
            raise ValueError("a tree has a root")
        root = self.nodes[self.ROOT]
        if root.parent != self.NO_PARENT or [c for c, _ in root.codes] != [b""] or root.depth != 0:
            raise ValueError("malformed root")
        for i, n in enumerate(self.nodes):
            if min(n.stats.here.running, n.stats.sub.running) < 0:
                raise ValueError(f"node {i}: negative running count")
            if n.terminal != (n.goal == NO_GOALS):
                raise ValueError(f"node {i}: terminal flag disagrees with its goal")
            for goal, k in n.children.items():
                child = self.nodes[k] if 0 < k < len(self.nodes) else None
                if child is None or k <= i or child.parent != i or child.goal != goal \
                        or child.depth != n.depth + 1 or goal == n.goal:
                    raise ValueError(f"node {i}: bad child {k} for goal {goal!r}")
            if i and self.nodes[n.parent].children.get(n.goal) != i:
                raise ValueError(f"node {i}: not listed by its parent")

    def stats(self) -> dict[str, Any]:
        """Summary for logs and ``SearchResult.tree_stats``."""
        depths = [n.depth for n in self.nodes]
        inner = [n for n in self.nodes if n.children]
        return {
            "nodes": len(self.nodes),
            "max_depth": max(depths),
            "leaves": len(self.nodes) - len(inner),
            "terminal": sum(n.terminal for n in self.nodes),
            "expanded": sum(n.expanded for n in self.nodes),
            "prefixes": sum(len(n.codes) for n in self.nodes),
            "mean_branching": (sum(len(n.children) for n in inner) / len(inner)) if inner else 0.0,
            "running": self.nodes[self.ROOT].stats.sub.running,
            "bytes_per_node": self.bytes_per_node(),
        }

    def bytes_per_node(self) -> float:
        """Estimated resident bytes per node: the node objects, their dicts, stats and the
        strings they hold (each distinct object counted once, so a goal shared by a node
        and its parent's ``children`` key counts once). An estimate, not a measurement of
        the allocator."""
        seen: set[int] = set()
        add, getsizeof = seen.add, sys.getsizeof  # ~10 objects a node: one lookup each

        def size(objs: Iterable[object]) -> int:
            total = 0
            for o in objs:
                key = id(o)
                if key not in seen:
                    add(key)
                    total += getsizeof(o)
            return total

        nodes = self.nodes
        # A large tree is estimated from an even sample of its nodes: summing every node
        # took as long as a few hundred expansions of the loop, at each tree's end. A child
        # key is counted where it is not the child's own goal (then the child counts it).
        step = max(1, len(nodes) // _SAMPLE) if len(nodes) > 2 * _SAMPLE else 1
        sample = nodes[::step]
        total = 0
        for n in sample:
            stats, codes = n.stats, n.codes
            total += size((n, n.goal, codes, n.children, stats, stats.here, stats.sub))
            total += size(codes) + size([code for code, _ in codes])
            total += size([g for g, k in n.children.items() if g is not nodes[k].goal]
                          if step > 1 else n.children)
        return size([nodes]) / len(nodes) + total / len(sample)


__all__ = ["FORMAT", "Node", "Tree"]
