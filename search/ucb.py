"""Discounted UCB for RMaxTS: statistics, virtual loss, selection, reward and backup.

Contract: pure functions over frozen value objects. Nothing here mutates, draws random
numbers or knows about the tree's storage; ``search.tree.Tree`` applies the results.
Hyperparameters are keyword-only (``functools.partial`` specialises them).

Reference: ``shared/reference/deepseek-prover.md`` §7 (DeepSeek-Prover-V1.5 RMaxTS, paper
Eq. (1)-(3), (7)-(9), upstream ``prover/algorithms/rmax_tree_search.py``).

Statistics (§7.1). Every node keeps two *arms*, each an ``ArmStats(w, n, running)``:

* ``here`` -- the virtual "expand here" action ⊘ at the node: expansions started AT it.
* ``sub``  -- the edge parent → node: expansions started anywhere in its subtree.

An update with reward R is the DUCB recursion (paper Eq. (8)-(9)), applied over the arm's
own update history (not wall-clock time, not depth)::

    W ← γ·W + R          N ← γ·N + 1

so after rewards R_1..R_t, W = Σ_i γ^(t-i) R_i and N = Σ_{i<t} γ^i. γ = 0.99 (§7.8).

Virtual loss (§7.2). ``running`` = k in-flight expansions through the arm. For selection
each counts as an already-received update with reward 0 (the paper's "virtual reward
R(τ)=0 for ongoing iterations", replaced by the true reward on completion)::

    W_eff = W·γ^k        N_eff = N·γ^k + (1 - γ^k)/(1 - γ)   (= N·γ^k + k when γ = 1)

Selection (§7.3). At node s the candidates are ⊘ (arm ``s.here``) and every child c (arm
``c.sub``); with effective statistics (virtual loss included)::

    N_tot  = N_eff(⊘) + Σ_c N_eff(c)
    score  = W_eff / max(N_eff, 0.01) + sqrt(c · ln(max(N_tot, 2)) / max(N_eff, 0.01)),  c = 2

The highest score wins; ties go to ⊘ first, then to children in insertion order (upstream
uses a stable sort with ⊘ listed first).

Reward (§7.5): RMax intrinsic only, R = 1 if the rollout added at least one node to the
tree, else 0. A complete proof ends the search; it is not backed up as value.

Backup (§7.1 ``update_reward``): the selected node s gets the update on ``here`` AND
``sub``; every ancestor of s up to the root gets it on ``sub``. Finishing the job also
removes its virtual loss (``running -= 1`` on the same arms ``start_job`` raised).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

GAMMA = 0.99  # §7.8: configs/RMaxTS.py `gamma`
EXPLORATION = 2.0  # the 2 in sqrt(2·ln N / n), §7.3
FLOOR = 0.01  # max(·, 0.01) floors of value and bonus denominators, §7.2-7.3
EXPAND_HERE = -1  # select_child's answer for the virtual ⊘ action


class ArmStats(NamedTuple):
    """Discounted statistics of one action: ``w`` = W_γ, ``n`` = N_γ, ``running`` = k.

    Immutable value types as named tuples rather than frozen dataclasses: every expansion
    rebuilds the statistics of its whole path twice, and a frozen dataclass's constructor
    costs several times a tuple's."""

    w: float = 0.0
    n: float = 0.0
    running: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"w": self.w, "n": self.n, "running": self.running}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ArmStats":
        return cls(float(data["w"]), float(data["n"]), int(data["running"]))


class NodeStats(NamedTuple):
    """Both arms of one node: ``here`` (⊘ at this node) and ``sub`` (the edge into it)."""

    here: ArmStats = ArmStats()
    sub: ArmStats = ArmStats()

    def to_dict(self) -> dict[str, Any]:
        return {"here": self.here.to_dict(), "sub": self.sub.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NodeStats":
        return cls(ArmStats.from_dict(data["here"]), ArmStats.from_dict(data["sub"]))


# -- formulas ---------------------------------------------------------------------------------

def discounted_update(stats: ArmStats, reward: float, *, gamma: float = GAMMA) -> ArmStats:
    """One DUCB update (paper Eq. (8)-(9)): W ← γW + R, N ← γN + 1; ``running`` unchanged."""
    # Constructors rather than dataclasses.replace: this runs for every arm of every backup,
    # and replace() costs several times more (the system benchmark's per-expansion budget).
    return ArmStats(gamma * stats.w + reward, gamma * stats.n + 1.0, stats.running)


def with_virtual_loss(w: float, n: float, k: int, *, gamma: float = GAMMA) -> tuple[float, float]:
    """(W_eff, N_eff) with ``k`` running jobs counted as k zero-reward updates (§7.2).

    Closed form of applying ``discounted_update(·, 0)`` k times: W·γ^k and
    N·γ^k + (γ^0 + … + γ^(k-1)). Worked example (§7.2): W=2.5, N=5, γ=0.99, k=2 gives
    (2.45025, 6.8905), whose value 2.45025/6.8905 ≈ 0.356 (0.5 with k=0).
    """
    if k <= 0:
        if k < 0:
            raise ValueError(f"negative running-job count {k}")
        return w, n
    decay = gamma ** k
    # The geometric sum's closed form divides by 1 - γ; γ = 1 (no discount) is its limit k.
    phantom = float(k) if gamma == 1.0 else (1.0 - decay) / (1.0 - gamma)
    return w * decay, n * decay + phantom


def discounted_value(w: float, n: float, *, floor: float = FLOOR) -> float:
    """Exploitation term W_γ / max(N_γ, floor); 0 for an unvisited arm."""
    return w / max(n, floor)


def exploration_bonus(n: float, parent_n: float, *, c: float = EXPLORATION,
                      floor: float = FLOOR) -> float:
    """sqrt(c · ln(max(parent_n, 2)) / max(n, floor)) (§7.3). The max(·, 2) keeps the log
    positive at a fresh node; the floor makes an unvisited arm's bonus large but finite
    (sqrt(200 ln N) for c = 2), so fresh paths are walked first."""
    return math.sqrt(c * math.log(max(parent_n, 2.0)) / max(n, floor))


def discounted_ucb(w: float, n: float, parent_n: float, *, gamma: float = GAMMA,
                   c: float = EXPLORATION, running: int = 0) -> float:
    """Q_DUCB of one arm (§7.3, paper Eq. (7)) with virtual loss for ``running`` jobs.

    Args:
      w, n: the arm's own W_γ and N_γ (without virtual loss).
      parent_n: N_tot, the sum of the effective N of all candidates at the node (⊘ and
        every child), virtual loss included; ``select_child`` computes it.
      running: in-flight jobs through this arm (k).
    """
    w_eff, n_eff = with_virtual_loss(w, n, running, gamma=gamma)
    return discounted_value(w_eff, n_eff) + exploration_bonus(n_eff, parent_n, c=c)


def select_child(here: ArmStats, children: Sequence[ArmStats], *, gamma: float = GAMMA,
                 c: float = EXPLORATION) -> int:
    """Tree-policy step at one node: ``EXPAND_HERE`` (-1) or the index of a child.

    ``here`` is the node's ⊘ arm, ``children`` the ``sub`` arms of its children in
    insertion order. Ties go to ⊘, then to the earlier child (strict ``>`` below), which
    is what upstream's stable descending sort with ⊘ listed first does. A node without
    children always answers ``EXPAND_HERE`` (a leaf is always expanded).
    """
    if not children:
        return EXPAND_HERE
    # The hot loop of every selection (a busy node has hundreds of children): the formulas of
    # with_virtual_loss, discounted_value and exploration_bonus, inlined, with the log shared.
    ws: list[float] = []
    ns: list[float] = []
    total = 0.0
    for arm in (here, *children):
        if arm.running:
            w_eff, n_eff = with_virtual_loss(arm.w, arm.n, arm.running, gamma=gamma)
        else:
            w_eff, n_eff = arm.w, arm.n
        total += n_eff
        ws.append(w_eff)
        ns.append(n_eff if n_eff > FLOOR else FLOOR)
    numerator = c * math.log(max(total, 2.0))
    sqrt = math.sqrt
    best, best_score = EXPAND_HERE, -math.inf
    for i, (w_eff, n_floor) in enumerate(zip(ws, ns, strict=True)):
        score = w_eff / n_floor + sqrt(numerator / n_floor)
        if score > best_score:
            best, best_score = i - 1, score  # i = 0 is ⊘, which maps to EXPAND_HERE (-1)
    return best


def rmax_reward(added_nodes: int) -> float:
    """RMax intrinsic reward (§7.5, paper Eq. (3)): 1 if the rollout added a node, else 0."""
    if added_nodes < 0:
        raise ValueError(f"negative node count {added_nodes}")
    return 1.0 if added_nodes > 0 else 0.0


# -- job lifecycle on a selection path ---------------------------------------------------------

def start_job(path: Sequence[NodeStats]) -> tuple[NodeStats, ...]:
    """Virtual loss for a new expansion at ``path[-1]`` (§7.2 ``start_new_job``).

    ``path`` runs from the root to the selected node. The selected node's ``here`` and
    every node's ``sub`` (root included, as upstream) get ``running += 1``.
    """
    if not path:
        raise ValueError("empty selection path")
    out = [NodeStats(s.here, ArmStats(s.sub.w, s.sub.n, s.sub.running + 1)) for s in path]
    last = out[-1]
    out[-1] = NodeStats(ArmStats(last.here.w, last.here.n, last.here.running + 1), last.sub)
    return tuple(out)


def backup(path: Sequence[NodeStats], reward: float, *, gamma: float = GAMMA,
           finish_job: bool = True) -> tuple[NodeStats, ...]:
    """New statistics of ``path`` (root → selected node) after an expansion's reward.

    The selected node (``path[-1]``) updates ``here`` and ``sub``; its ancestors update
    ``sub`` (§7.1 ``update_reward``). With ``finish_job`` the virtual loss that
    ``start_job`` added is removed from the same arms (§7.2 ``complete_job``); a path with
    no running job then raises ValueError, since that would mean a lost or doubled job.
    """
    if not path:
        raise ValueError("empty selection path")
    dec = 1 if finish_job else 0

    def _finish(arm: ArmStats) -> ArmStats:
        if arm.running < dec:
            raise ValueError("backup of a job that was never started on this path")
        return ArmStats(gamma * arm.w + reward, gamma * arm.n + 1.0, arm.running - dec)

    out = [NodeStats(s.here, _finish(s.sub)) for s in path]
    out[-1] = NodeStats(_finish(out[-1].here), out[-1].sub)
    return tuple(out)


__all__ = [
    "EXPAND_HERE", "EXPLORATION", "FLOOR", "GAMMA", "ArmStats", "NodeStats", "backup",
    "discounted_ucb", "discounted_update", "discounted_value", "exploration_bonus",
    "rmax_reward", "select_child", "start_job", "with_virtual_loss",
]
