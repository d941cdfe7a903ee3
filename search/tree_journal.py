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
from concurrent.futures import Future
from dataclasses import dataclass
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
        return [rollout.node,
                [[s.text, self._goal_out(s.state_after), s.end, s.indent]
                 for s in rollout.segments],
                list(rollout.tokens), rollout.reward, trace]

    def rollout(self, line: list[Any]) -> Rollout:
        node, segments, tokens, reward, trace = line
        if isinstance(trace, list):
            if self.keys is None:
                raise ValueError("a trace entry without its keys")
            trace = dict(zip(self.keys, trace, strict=True))
        elif trace is not None:
            self.keys = tuple(trace)
        return Rollout(int(node), tuple(Segment(str(text), self._goal_back(state), end=int(end),
                                                indent=int(indent))
                                        for text, state, end, indent in segments),
                       tuple(int(t) for t in tokens), float(reward), trace)


def recording(count_tokens: Callable[[str], int], log: list[int]) -> Callable[[str], int]:
    """``count_tokens`` that also appends each count to ``log`` (what a replay gives back)."""
    def count(text: str) -> int:
        n = count_tokens(text)
        log.append(n)
        return n
    return count


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

    def as_checkpoint(self) -> dict[str, Any]:
        """The legacy single-document form: header and state keys, ``tree`` as a dict."""
        return {**self.header, **self.state, "format": JOURNAL_FORMAT,
                "tree": self.tree.to_dict() if self.tree is not None else None,
                "trace": self.trace}


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
                        legacy, Tree.from_dict(tree_dict), list(old_trace))
    if header.get("format") != JOURNAL_FORMAT:
        raise ValueError(f"{path} is not a {JOURNAL_FORMAT} checkpoint")
    tree: Tree | None = None
    settings: dict[str, Any] = {}
    events: list[dict[str, Any] | Rollout] = []  # tree lines and rollouts since the last mark
    trace: list[dict[str, Any]] = []
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
                        if "trace" in event:  # a compacted journal starts with its trace
                            trace = list(event["trace"])
                        continue
                    if tree is None:
                        raise ValueError("a rollout before any tree")
                    apply_rollout(tree, event.node, event.segments, event.reward,
                                  max_tokens=int(settings["max_tokens"]),
                                  count_tokens=_replaying(event.tokens))
                    if event.trace is not None:
                        trace.append(event.trace)
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
    return Replayed(header, state, tree, trace)


class JournalWriter:
    """Appends journal lines to ``path`` on one background thread, in order.

    Lines are encoded when submitted (JSON encoding holds the GIL wherever it runs; only
    the write and ``fsync`` are worth a thread). The thread takes every batch queued since
    its last write and writes them together, with one ``fsync``, so a slow disk costs fewer
    syncs; should the queue still pass ``max_queued`` bytes, a submit waits for the disk
    (memory stays bounded: a run cannot outpace its disk forever anyway).
    """

    MAX_QUEUED = 1 << 20

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._queue: list[tuple[bool, bytes, Future[None]]] = []
        self._queued = 0  # bytes waiting for the thread
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="rmaxts-journal", daemon=True)
        self._thread.start()
        self._last: Future[None] | None = None
        self._codec = Codec()

    def restart(self, lines: Sequence[dict[str, Any] | Rollout]) -> None:
        """Replace the file with ``lines`` (a new run, or a journal compacted on resume);
        atomic, so a reader sees the old checkpoint or the new one."""
        self._submit(True, lines)

    def append(self, lines: Sequence[dict[str, Any] | Rollout]) -> None:
        self._submit(False, lines)

    def _submit(self, restart: bool, lines: Sequence[dict[str, Any] | Rollout]) -> None:
        done: Future[None] = Future()
        if restart:
            self._codec.reset()
        data = self._encode(lines)
        with self._ready:
            if self._closed:
                raise RuntimeError("journal closed")
            while self._queued > self.MAX_QUEUED:
                self._ready.wait()
            self._queue.append((restart, data, done))
            self._queued += len(data)
            self._ready.notify_all()
        self._last = done

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                batch, self._queue = self._queue, []
                if not batch and self._closed:
                    return
                self._queued = 0
                self._ready.notify_all()  # a submit waiting for room may go on
            # From the last restart on, everything replaces the file; before it, nothing
            # needs writing at all.
            starts = [i for i, (restart, _, _) in enumerate(batch) if restart]
            first = starts[-1] if starts else 0
            data = b"".join(chunk for _, chunk, _ in batch[first:])
            try:
                if starts:
                    atomic_write(self.path, data)
                else:
                    with open(self.path, "ab") as f:
                        f.write(data)
                        f.flush()
                        if self.fsync:
                            os.fsync(f.fileno())
            except BaseException as exc:  # reported to whoever waits (flush)
                for _, _, done in batch:
                    done.set_exception(exc)
            else:
                for _, _, done in batch:
                    done.set_result(None)

    async def flush(self) -> None:
        """Wait until everything submitted is on disk (re-raising a write's error)."""
        if self._last is not None:
            await asyncio.wrap_future(self._last)

    def close(self) -> None:
        """Finish the writes already submitted (an interrupted run keeps its last mark)."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join()


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
           "apply_rollout", "recording", "replay"]
