"""RMaxTS checkpoints as an append-only journal of tree changes (``rmaxts-journal/1``).

A checkpoint used to be the whole tree and trace as one JSON document, rewritten every K
rollouts: its cost grew with the tree (seconds at 10⁵ nodes, on the event loop, while every
rollout in flight waited). The journal writes what changed instead, so a save costs what the
last K rollouts cost, whatever the tree's size:

* a **header** line: the format, the problem and the budget (what a resume checks first);
* a **tree** line at the start of each tree (N×T runs N trees): its attempt, root goal and
  the cap's settings; optionally a ``snapshot`` (``Tree.to_dict``), the compacted form, which
  is how a checkpoint of the older single-document format is carried over;
* a **rollout** line per completed rollout: the node it expanded, the segments it inserted
  with the token counts the cap took for them (so a replay needs no tokenizer), the reward
  and its trace entry;
* a **mark** line every K rollouts (and at each tree's start and the run's end): the run's
  counters, the random generator's state, and the nodes of the rollouts still in flight.

Replaying a journal runs the tree's own operations (``start_job``, ``insert_path``,
``finish_job``) on the rollout lines up to the **last mark**, in the order they completed, so
the replayed tree equals, bit for bit, the tree the old format would have saved at that mark:
rollouts in flight are not in it (a resumed run launches them again), but the nodes they were
started at stay expanded. Rollout lines after the last mark, and a last line cut by a crash,
are ignored: they were never part of a checkpoint.

Writes go to a single background thread, in order, each batch one ``write`` then ``fsync``,
so the event loop only formats the few lines of a batch.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

from lean_bridge.files import atomic_write

from .segments import Segment
from .tree import Tree

JOURNAL_FORMAT = "rmaxts-journal/1"
LEGACY_FORMAT = "rmaxts-checkpoint/1"  # one JSON document: still read, never written
_COMPACT = (",", ":")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=_COMPACT)  # made once: cheaper


class Rollout(NamedTuple):
    """One completed rollout, as the journal keeps it (a named tuple: one per rollout, made
    on the event loop, so it should cost next to nothing)."""

    node: int
    segments: tuple[Segment, ...]
    tokens: tuple[int, ...]  # the cap's count for each segment it counted, in order
    reward: float
    trace: dict[str, Any] | None
    # (normalised candidate, RolloutOutcome.to_json()) of an outcome this rollout computed
    # and the run keeps for the candidate's copies (``search.verdicts``); resumed with them.
    # Without "segments": its path is the one this rollout inserted, already on the line
    # (written twice, it was most of a line's bytes).
    kept: tuple[str, dict[str, Any]] | None = None



class Codec:
    """A rollout line, written small: rollouts repeat the goals of their whole path and the
    keys of their trace entry, so a goal is written once, the first time, and as its number
    after, and a trace entry with the keys of the previous dict one as its values alone.
    A rollout line is a JSON array ``[node, segments, tokens, reward, trace]``. Writer and
    reader build the same state in line order and start afresh at each tree line (a tree's
    goals are of no use to the next)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.numbers: dict[str, int] = {}
        self.texts: list[str] = []
        self.keys: tuple[str, ...] | None = None

    def _goal_out(self, goal: str | None) -> str | int | None:
        if goal is None:
            return None
        number = self.numbers.get(goal)
        if number is None:
            self.numbers[goal] = len(self.texts)
            self.texts.append(goal)
            return goal
        return number

    def _goal_back(self, goal: Any) -> str | None:
        if goal is None:
            return None
        if isinstance(goal, int):
            return self.texts[goal]
        self.texts.append(str(goal))
        return self.texts[-1]

    def line(self, rollout: Rollout) -> list[Any]:
        trace: Any = rollout.trace
        if trace is not None:
            keys = tuple(trace)
            if keys == self.keys:
                trace = list(trace.values())
            self.keys = keys
        # A segment's end is the sum of the texts' lengths so far: not written.
        return [rollout.node,
                [[s.text, self._goal_out(s.state_after), s.indent] for s in rollout.segments],
                list(rollout.tokens), rollout.reward, trace,
                None if rollout.kept is None else list(rollout.kept)]

    def rollout(self, line: list[Any]) -> Rollout:
        node, segments, tokens, reward, trace, kept = line
        if isinstance(trace, list):
            if self.keys is None:
                raise ValueError("a trace entry without its keys")
            trace = dict(zip(self.keys, trace, strict=True))
        elif trace is not None:
            self.keys = tuple(trace)
        out, end = [], 0
        for text, state, indent in segments:
            end += len(text)
            out.append(Segment(str(text), self._goal_back(state), end=end, indent=int(indent)))
        return Rollout(int(node), tuple(out), tuple(int(t) for t in tokens), float(reward),
                       trace, None if kept is None else self._kept_back(kept, out))

    @staticmethod
    def _kept_back(kept: list[Any], segments: list[Segment]) -> tuple[str, dict[str, Any]]:
        outcome = dict(kept[1])
        if "segments" not in outcome:
            outcome["segments"] = [[s.text, s.state_after, s.end, s.indent] for s in segments]
        return str(kept[0]), outcome


def _replaying(tokens: Sequence[int]) -> Callable[[str], int]:
    counts = iter(tokens)

    def count(_text: str) -> int:
        try:
            return next(counts)
        except StopIteration:
            raise ValueError("journal rollout has fewer token counts than its segments need") \
                from None
    return count


def apply_rollout(tree: Tree, node: int, segments: Sequence[Segment], reward: float, *,
                  max_tokens: int, count_tokens: Callable[[str], int]) -> int:
    """A completed rollout's change to ``tree``: its path inserted, its reward backed up.
    The new-node count (which the live search turned into ``reward``)."""
    tree.start_job(node)
    added = tree.insert_path(segments, max_tokens=max_tokens, count_tokens=count_tokens)[0] \
        if segments else 0
    tree.finish_job(node, reward)
    return added


@dataclass
class Replayed:
    """What a journal holds at its last mark."""

    header: dict[str, Any]
    state: dict[str, Any]  # the last mark's counters (the legacy document's keys)
    tree: Tree | None
    trace: list[dict[str, Any]]
    outcomes: list[list[Any]]  # the kept rollout outcomes, as ``rollouts.outcomes_to_json``
    # Outcomes the run found in a store shared with earlier searches of its problem when it
    # started (``search.verdicts.SharedVerdicts``): not its own, but a resume needs them back
    # to reuse what the uninterrupted run would have (its first tree line holds them).
    inherited: list[list[Any]] = field(default_factory=list)

    def as_checkpoint(self) -> dict[str, Any]:
        """The legacy single-document form: header and state keys, ``tree`` as a dict."""
        return {**self.header, **self.state, "format": JOURNAL_FORMAT,
                "tree": self.tree.to_dict() if self.tree is not None else None,
                "trace": self.trace, "outcomes": self.outcomes}


def _lines(path: Path) -> Iterator[Any]:
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f):
            # A later line without its newline was cut by a crash mid-write: it was never
            # part of a checkpoint. (The first is whole: it is written atomically, and a
            # legacy checkpoint is one document with no newline at all.)
            if number and not raw.endswith("\n"):
                return
            yield json.loads(raw)


def replay(path: Path) -> Replayed:
    """The journal at ``path`` replayed to its last mark; ValueError when it is not one."""
    lines = _lines(path)
    try:
        header = next(lines)
    except StopIteration:
        raise ValueError(f"{path} is empty") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not a checkpoint ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a checkpoint")
    if header.get("format") == LEGACY_FORMAT:
        legacy = dict(header)
        tree_dict, old_trace = legacy.pop("tree"), legacy.pop("trace")
        return Replayed({k: legacy[k] for k in ("format", "problem", "budget")},
                        legacy, Tree.from_dict(tree_dict), list(old_trace),
                        list(legacy.pop("outcomes", None) or ()))
    if header.get("format") != JOURNAL_FORMAT:
        raise ValueError(f"{path} is not a {JOURNAL_FORMAT} checkpoint")
    tree: Tree | None = None
    settings: dict[str, Any] = {}
    events: list[dict[str, Any] | Rollout] = []  # tree lines and rollouts since the last mark
    trace: list[dict[str, Any]] = []
    outcomes: list[list[Any]] = []
    inherited: list[list[Any]] = []
    state: dict[str, Any] | None = None
    codec = Codec()
    try:
        for line in lines:
            kind = "rollout" if isinstance(line, list) else line.get("k")
            if kind == "tree":
                codec.reset()
                events.append(line)
            elif kind == "rollout":
                # Decoded now: goal numbers refer to the lines before this one.
                events.append(codec.rollout(line))
            elif kind == "mark":
                # Only a mark makes what came before it part of the checkpoint.
                for event in events:
                    if not isinstance(event, Rollout):
                        tree = Tree.from_dict(event["snapshot"]) if event.get("snapshot") \
                            else Tree(str(event["root_goal"]))
                        settings = event
                        if "inherited" in event:
                            inherited = list(event["inherited"])
                        if "trace" in event:  # a compacted journal starts with its trace
                            trace = list(event["trace"])
                            outcomes = list(event.get("outcomes") or ())
                        continue
                    if tree is None:
                        raise ValueError("a rollout before any tree")
                    apply_rollout(tree, event.node, event.segments, event.reward,
                                  max_tokens=int(settings["max_tokens"]),
                                  count_tokens=_replaying(event.tokens))
                    if event.trace is not None:
                        trace.append(event.trace)
                    if event.kept is not None:
                        outcomes.append(list(event.kept))
                if tree is None:
                    raise ValueError("a mark before any tree")
                # Started, so expanded: relaunched on resume (in flight), or cancelled when
                # the tree ended (abandoned).
                for node in [*line["in_flight"], *line.get("abandoned", ())]:
                    tree.nodes[int(node)].expanded = True
                events = []
                state = {k: v for k, v in line.items()
                         if k not in ("k", "in_flight", "abandoned")}
            else:
                raise ValueError(f"unknown journal line {kind!r}")
    except (KeyError, TypeError, IndexError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: malformed journal ({type(exc).__name__}: {exc})") from None
    if state is None:
        raise ValueError(f"{path} holds no complete checkpoint yet")
    return Replayed(header, state, tree, trace, outcomes, inherited)


class JournalWriter:
    """Appends journal lines to ``path``; ``fsync`` runs on a thread of its own.

    Measured on the search's own loop (``benchmarks/system_checkpoints.py``): a thread that
    wrote and synced each batch cost the loop more than the writing itself (each batch woke
    it, and each wake is a hand-over of the GIL both ways). So the loop encodes a batch and
    appends it with one ``write`` to a descriptor kept open (the page cache takes it in
    microseconds, in order, and a killed process loses nothing written), and the thread only
    makes what was written durable: one ``fsync`` for everything written since its last,
    however many batches that is, at most one per ``SYNC_INTERVAL`` (a power cut loses at
    most that much; the old checkpoints synced every save, on the loop). ``flush`` waits for the sync that covers the last write.
    A restart (a fresh file, or a journal compacted on resume) is an atomic replace.
    """

    SYNC_INTERVAL = 0.5  # seconds: a mark is on disk at most this long after it is written

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._fd: int | None = None
        self._written = 0  # writes so far
        self._synced = 0  # writes covered by a finished fsync
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._urgent = 0  # callers waiting for a sync (flush, close, restart)
        self._codec = Codec()
        self._thread: threading.Thread | None = None

    def restart(self, lines: Sequence[dict[str, Any] | Rollout], *, fresh: bool = False) -> None:
        """Replace the file with ``lines``; atomic, so a reader sees the old checkpoint or
        the new one. ``fresh``: there is no file yet, so nothing to keep safe: it is simply
        created and synced by the thread like any write (an atomic replace costs a sync on
        the loop, milliseconds, as much as hundreds of rollouts' lines)."""
        self._codec.reset()
        data = self._encode(lines)
        with self._cond:
            self._wait_synced()  # no sync of the old descriptor may be pending
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if not fresh:
                atomic_write(self.path, data)  # synced itself
            flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT | os.O_TRUNC if fresh else 0)
            self._fd = os.open(self.path, flags, 0o666)
        if fresh:
            self._fd_write(data)
        else:
            with self._cond:
                self._written += 1
                self._synced = self._written

    def append(self, lines: Sequence[dict[str, Any] | Rollout]) -> None:
        if self._fd is None:
            raise RuntimeError("journal appended to before its start")
        self._fd_write(self._encode(lines))

    def _fd_write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        with self._cond:
            self._written += 1
            if self.fsync:
                self._start()
                self._cond.notify()
            else:
                self._synced = self._written

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._sync_loop, name="rmaxts-journal",
                                            daemon=True)
            self._thread.start()

    def _sync_loop(self) -> None:
        last = float("-inf")
        while True:
            with self._cond:
                while self._synced == self._written and not self._closed:
                    self._cond.wait()
                if self._synced == self._written:
                    return
                # At most one sync per SYNC_INTERVAL unless someone waits for it: on a busy
                # machine each sync's kernel work competes with the search for the CPU.
                while not (self._closed or self._urgent) and \
                        time.monotonic() - last < self.SYNC_INTERVAL:
                    self._cond.wait(self.SYNC_INTERVAL - (time.monotonic() - last))
                target, fd = self._written, self._fd
            last = time.monotonic()
            try:
                if fd is not None:
                    os.fsync(fd)
            except OSError as exc:  # reported to whoever waits (flush)
                self._error = exc
            with self._cond:
                self._synced = max(self._synced, target)
                self._cond.notify_all()

    def _wait_synced(self) -> None:
        self._urgent += 1
        self._cond.notify_all()
        try:
            while self._synced < self._written and self._thread is not None:
                self._cond.wait()
        finally:
            self._urgent -= 1

    async def flush(self) -> None:
        """Wait until everything written is on disk (re-raising a sync's error)."""
        def wait() -> None:
            with self._cond:
                self._wait_synced()
        await asyncio.to_thread(wait)
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Sync what was written and let go of the file."""
        with self._cond:
            self._wait_synced()
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _encode(self, lines: Sequence[dict[str, Any] | Rollout]) -> bytes:
        out = []
        for line in lines:
            if isinstance(line, Rollout):
                out.append(_ENCODER.encode(self._codec.line(line)))
                continue
            if line.get("k") == "tree":
                self._codec.reset()
            out.append(_ENCODER.encode(line))
        out.append("")
        return "\n".join(out).encode("utf-8")


__all__ = ["JOURNAL_FORMAT", "LEGACY_FORMAT", "Codec", "JournalWriter", "Replayed", "Rollout",
           "apply_rollout", "replay"]
