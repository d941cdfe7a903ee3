"""A fake Lean REPL: a stand-in for ``leanprover-community/repl`` so the bridge can be tested
on machines without Lean.

Run it as ``python -m lean_fake [options]`` or ``python path/to/lean_fake [options]``; the one
command line for it is ``lean_fake.command(*options)``. It is a real process on real pipes and
speaks the real wire protocol, so the code under test (spawning, framing, timeouts, crash
handling, stderr draining, restarts) is the code that will talk to Lean.

What it imitates (from ``REPL/Main.lean`` and the recorded upstream transcripts):

* Framing. stdin is read line by line; a line that is blank after trimming ASCII whitespace ends a
  request block. From v4.22 non-blank lines are right-trimmed and glued; before v4.22 (so at the
  default version) they are concatenated raw, newlines kept, and a raw newline inside a JSON
  string kills the process. ``--old-framing`` / ``--new-framing`` choose either at any version.
  At EOF a pending block is processed, then the process exits 0.
  A block starting with ``#`` or ``--`` is skipped with no answer at all. A block that is not JSON,
  or not one of the request shapes, kills the process: ``uncaught exception: {"message": ...}`` on
  stderr, exit status 1. A second blank line after a block is itself a block (``"\\n"``) and kills
  it too (code reading of ``getLines``; ``--lenient-blank-lines`` turns that off).
* Output. Each answer is printed the way Lean's ``Json.pretty`` prints it (the Wadler-style
  ``Format`` layout at width 80, keys in reverse-lexicographic order, raw UTF-8), then a blank line,
  then a flush. Empty lists are omitted, as the REPL does. The REPL before v4.10 did not flush
  (PR #49 added it); ``--no-flush`` imitates that (answers wait in an 8 KiB buffer until it fills
  or the process exits normally). It is off by default at every version, v4.9 included: a client
  on a pipe would wait forever for an unflushed answer, and the v4.9 setups in use (Kimina's)
  cherry-pick the flush.
* Request shapes, tried in the REPL's order; unknown extra keys are ignored.
* Bookkeeping. Environment ids and proof-state ids count from 0 per process. Every command, file
  and ``unpickleEnvFrom`` appends an env; ``pickleTo`` an env answers the same id. Sorries, then
  root goals, then ``allTactics`` tactics, then the proof-step result take proof-state ids, in that
  order. The exact error strings (``Unknown environment.``, ``Unknown proof state.``, ``Unknown
  proof State.``) are the REPL's.
* A few elaborator behaviours that a bridge's verdict logic depends on: ``sorry`` tokens give
  sorries and one ``declaration uses 'sorry'`` warning per declaration (backquoted from v4.28),
  redeclaring a name gives an error message, ``import`` with an ``env`` is an error (a file
  request ignores its ``env`` before v4.22, as ``processFile`` did), ``#print
  axioms`` and ``#eval Lean.versionString`` answer info messages, ``proofStatus`` is absent before
  v4.19 and ``usedConstants`` before v4.14, v4.19 prints ``Goals accomplished!``, an empty
  ``by`` at the end of the input leaves ``unsolved goals`` (before v4.31 after a parse error
  ``unexpected end of input; expected '{'`` with ``"endPos": null``).
* ``allTactics`` goal text (``lean_fake.goals``): before v4.14 ``tactics[].goals`` is one Lean
  ``Format`` group at width 120, so a short goal is flattened onto one line (``"t : Nat ⊢
  Nat"``) and a long one keeps its line breaks; from v4.14 always multi-line. ``sorries[].goal``
  and proof-step ``goals`` are multi-line at every version.
* Failure modes, on request (``--script`` rules or shortcut flags): hangs, a stack-overflow crash
  after half a response, garbage on stdout, memory ballooning until the address-space limit, stderr
  floods, slow imports.
* ``--replay FILE.expected.out`` answers each request with the next recorded block, byte for byte.

What it records, for tests that count work (neither changes what is answered):

* ``--log FILE``: each parsed request, one JSON line, appended as it arrives.
* ``--stats FILE``: after every request, this process's counters as one JSON line
  ``{"pid", "requests", "by_kind": {"command": n, "proofStep": n, ...}, "header_imports"}``,
  appended (one short ``write`` in append mode, so several processes can share one file; the
  last line of each pid is its current state, and a process's lines only ever grow). A header
  import is a command on a fresh environment (no ``env``) with ``import`` lines, the request
  that costs seconds and gigabytes with Mathlib (``--import-delay S``, alias
  ``--import-latency S``, makes it take S seconds asleep; ``--import-cpu S`` burns S seconds of
  CPU in a busy loop, as Lean's import does, for benchmarks that count the REPL's CPU time). The line is written before the answer, so
  a client that has the answer can read counters that include it; a request that gets no whole
  answer (``exit``, ``hang``, ``crash``, ``garbage``, ``balloon``) is recorded before it
  misbehaves.

What it does not imitate: there is no Lean in here. Nothing is type-checked; any command without a
matching rule is accepted, any tactic other than ``sorry``, ``skip`` (which changes nothing) and a ``have`` whose type is written
out (``have h : T := …``, ``have h := 37`` is ``Nat``; it adds ``h : T`` to the goal) closes the
goal. Goals are rebuilt from
the declaration's text (binders become hypotheses, the statement after the first top-level ``:``
becomes the target, whitespace collapsed but not re-pretty-printed). ``allTactics`` lists each
non-blank line of a ``by`` block with the declaration's goal plus the hypotheses of earlier
such ``have``s; a ``calc`` is one tactic (then, from v4.14, its steps node with ``no goals``),
then the tactics of its steps' ``by`` blocks with the steps' goals (a leading ``_`` is the previous
step's right side), and a ``sorry`` in a step has the step's goal. No infotrees, no traces, no
``variable`` hypotheses, no options, no real ``.olean`` pickles (a small JSON file instead), no
multi-goal tactic semantics. Parse-error texts are approximations of Lean's.

Rules (``--script FILE.json`` or ``$FAKE_REPL_SCRIPT``: ``{"rules": [rule, ...]}``; the shortcut
flags append rules after the script's, in command-line order). The first rule whose ``match``
regex (``re.search``, DOTALL; empty matches everything) matches the command text (``cmd`` or the
file's content) or the tactic text wins. Fields, all optional:

* ``on``: ``"cmd"`` | ``"tactic"`` | ``"any"`` (default); ``times``: fire at most N times in this
  process; ``once_file``: fire only while this file does not exist, and create it (so a restarted
  process behaves differently, e.g. crash once then work).
* Answer content: ``messages`` ``[{"severity", "data", "line"?, "column"?, "endLine"?,
  "endColumn"?}]`` (added to the default ones; positions default to the match span; 0:0 in
  tactic mode); ``sorries`` ``[{"goal"}]`` (replace the default sorries); ``goals`` (tactic mode:
  the goals left); ``proofStatus``; ``tactics`` ``[{"tactic", "goals"?, "line"?, "column"?}]``
  (replace the ``allTactics`` list); ``axioms`` (for ``#print axioms``; ``[]`` = none);
  ``message`` (answer ``{"message": ...}`` instead).
* Behaviour: ``stderr`` (text written to stderr first), ``sleep`` (seconds), ``exit`` (exit
  status, no answer), ``hang``, ``crash`` (half the answer, no blank line, stack-overflow text on
  stderr, status 134), ``garbage`` (a non-JSON block *instead of* this answer; no ids used up),
  ``balloon`` (64 MiB chunks until ``MemoryError``, or ``--balloon-max-mib``, then
  ``INTERNAL PANIC: out of memory`` on stderr and status 1).

Stdlib only and no project imports, so it starts fast, can be run by path, and anything may start
it (it keeps its own small Lean reader for the same reason). The modules:

* ``lean_fake.printer``: Lean's ``Json.pretty``, rebuilt (escaping, the width-80 layout).
* ``lean_fake.goals``: the version's layout of ``allTactics`` goals; ``have`` hypotheses.
* ``lean_fake.tactic_block``: the tactics of a ``by`` block and its ``calc`` steps.
* ``lean_fake.reader``: the Lean source reader (comments and strings masked, command starts,
  declaration headers, positions).
* ``lean_fake.rules``: the scripted rules and the shortcut flags.
* ``lean_fake.protocol``: request shapes and the REPL's parse errors.
* ``lean_fake.state``, ``lean_fake.commands``, ``lean_fake.repl``: the state machine (ids,
  environments, counters; command and file requests; proof steps and pickles).
* ``lean_fake.loop``: the main loop, the misbehaviours, the command line.
"""
from __future__ import annotations

import os
import sys

__all__ = ["command"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def command(*args: str) -> tuple[str, ...]:
    """The fake REPL as a command line, run by path: ``(python, <this directory>, *args)``.

    By path, the child imports only this package (its ``__main__`` puts the package's parent on
    ``sys.path``), from any working directory.
    """
    return (sys.executable, _HERE, *args)
