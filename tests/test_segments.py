"""Tests for `search.segments`: truncation, per-line segments, and the state after each.

Real proof text comes from the Kimina miniF2F proofs in the shared reference data. Lean
is not needed: `synth_tactics` builds the `allTactics` list the REPL would report for a
proof (one entry per tactic, block openers spanning their block, nested `by` tactics
inside terms, `<;>` halves as separate entries, bullets not entries) with made-up goals
`g{line}_{col}` that name the tactic they precede, so every expected state says which
tactic's goals-before it must be.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lean_bridge.goals import find_declaration
from lean_bridge.protocol import Message, Pos, Sorry, Tactic
from lean_bridge.text import LineIndex, mask_non_code
from search.segments import (
    NO_GOALS,
    Probe,
    Segment,
    Step,
    flattened,
    goals_text,
    pos_to_offset,
    proof_origin,
    segment,
    state_after_segments,
    state_comment,
    steps_from_repl,
    truncate,
)

# -- synthetic allTactics for real proof text ----------------------------------------------

_OPEN, _CLOSE = "([{⟨", ")]}⟩"
_CONT_END = ("=", "+", "-", "*", "/", ",", "·", "<;>", "(", "[", "∧", "∨", "→", "↔", "≤", "≥",
             "<", ">", ":=")
_BY = re.compile(r"(?<![\w'])by\s+")


def G(line: int, col: int) -> str:
    """The made-up goals before the tactic at proof line ``line`` (1-based), column ``col``."""
    return f"x : ℝ\n⊢ g{line}_{col}"


def synth_tactics(proof: str) -> list[Tactic]:
    """What ``allTactics`` reports for ``proof``, by layout (good for these tidy proofs)."""
    mask = mask_non_code(proof)
    index = LineIndex(proof)
    stmts: list[list[int]] = []  # [start, end, indent] of each statement (maybe multi-line)
    depth = 0
    for ln, text in enumerate(mask.split("\n")):
        code = text.strip()
        if not code:
            continue
        ls = index.line_starts[ln]
        first = ls + len(text) - len(text.lstrip())
        indent = first - ls
        prev = mask[stmts[-1][0]:stmts[-1][1]].rstrip() if stmts else ""
        if stmts and (depth > 0 or code.startswith(("<;>", ")"))
                      or (indent > stmts[-1][2] and prev.endswith(_CONT_END))):
            stmts[-1][1] = ls + len(text.rstrip())
        else:
            stmts.append([first, ls + len(text.rstrip()), indent])
        depth += sum(ch in _OPEN for ch in code) - sum(ch in _CLOSE for ch in code)

    def trim(i: int, j: int) -> tuple[int, int]:
        while i < j and mask[i].isspace():
            i += 1
        while j > i and mask[j - 1].isspace():
            j -= 1
        return i, j

    def split_top(i: int, j: int) -> list[tuple[int, int]]:  # at depth-0 `<;>`
        parts, d, k, start = [], 0, i, i
        while k < j:
            if mask[k] in _OPEN:
                d += 1
            elif mask[k] in _CLOSE:
                d -= 1
            elif d == 0 and mask.startswith("<;>", k):
                parts.append((start, k))
                start = k = k + 3
                continue
            k += 1
        return parts + [(start, j)]

    def nested_end(i: int, j: int) -> int:  # a term-level `by tac` ends at `,` or a closer
        d = 0
        for k in range(i, j):
            if mask[k] in _OPEN:
                d += 1
            elif mask[k] in _CLOSE:
                if d == 0:
                    return k
                d -= 1
            elif mask[k] == "," and d == 0:
                return k
        return j

    def atoms(i: int, j: int) -> list[list[int]]:
        out: list[list[int]] = []
        i, j = trim(i, j)
        if i < j and mask[i] in "·." and i + 1 < j and mask[i + 1].isspace():
            i, j = trim(i + 1, j)  # bullets are not allTactics entries
        for ps, pe in split_top(i, j):
            ps, pe = trim(ps, pe)
            if ps >= pe:
                continue
            if mask[ps] == "(" and mask[pe - 1] == ")":
                out += atoms(ps + 1, pe - 1)  # `( … )` is not an entry either
                continue
            out.append([ps, pe])
            cursor = ps
            while (m := _BY.search(mask, cursor, pe)) is not None:
                end = nested_end(m.end(), pe)
                out += atoms(m.end(), end)
                cursor = max(end, m.end())
        return out

    spans: list[list[int]] = []
    for k, (s, e, indent) in enumerate(stmts):
        parts = atoms(s, e)
        if parts and mask[s:e].rstrip().endswith("by"):  # block opener: spans its block
            for s2, e2, ind2 in stmts[k + 1:]:
                if ind2 <= indent:
                    break
                parts[-1][1] = e2
        spans += parts
    spans.sort(key=lambda p: (p[0], -p[1]))
    out = []
    for n, (s, e) in enumerate(spans):
        (l, c), (el, ec) = index.offset_to_line_col(s), index.offset_to_line_col(e)
        out.append(Tactic(proof[s:e], G(l, c), Pos(l, c), Pos(el, ec), n))
    return out


def _real(shared: Path) -> dict[str, tuple[str, str]]:
    """name -> (text before the proof, proof after `by\\n`) of every real proof."""
    out = {}
    with (shared / "reference/real-proofs/kimina_preview_minif2f_test.jsonl").open() as fh:
        for line in fh:
            row = json.loads(line)
            code = row["code"]
            decl = find_declaration(code, row["name"])
            m = re.match(r"[ \t]*by[ \t]*\n", code[decl.body_start:decl.end])
            cut = decl.body_start + m.end()
            out[row["name"]] = (code[:cut], code[cut:decl.end])
    return out


@pytest.fixture(scope="module")
def real(shared) -> dict[str, tuple[str, str]]:
    return _real(shared)


def _line_ends(proof: str, segs: list[Segment]) -> list[int]:
    """1-based proof line on which each segment ends."""
    return [proof.count("\n", 0, s.end - 1) + 1 for s in segs]


def _err(line: int, col: int, data: str) -> Message:
    return Message("error", Pos(line, col), Pos(line, col + 1), data)


# -- the synthetic tactic list itself ------------------------------------------------------

def test_synth_tactics_matches_what_the_repl_reports(real):
    _, proof = real["amc12b_2002_p7"]
    got = [(t.pos.line, t.pos.column, t.end_pos.line, t.end_pos.column)
           for t in synth_tactics(proof)]
    # `have h4 … := by` spans its block (lines 4-9); the nested `omega`s inside the
    # nlinarith hint list are entries too; `interval_cases a <;> omega` is two entries.
    assert got[:9] == [(1, 8, 1, 33), (2, 8, 2, 39), (2, 34, 2, 39), (3, 8, 3, 25),
                       (4, 8, 9, 38), (5, 12, 5, 41), (6, 12, 8, 69), (7, 16, 8, 69),
                       (7, 64, 7, 69)]
    assert (9, 12, 9, 28) in got and (9, 33, 9, 38) in got


# -- positions -------------------------------------------------------------------------------

def test_proof_origin_and_pos_to_offset():
    prefix = "theorem t (x : ℝ) : x = x := by\n"
    proof = "  rfl -- ℝ\n  simp\n"
    base_line, base_column = proof_origin(prefix)
    assert (base_line, base_column) == (1, 0)
    index = LineIndex(proof)
    assert pos_to_offset(Pos(3, 2), index, base_line=1) == proof.index("simp")
    assert pos_to_offset(Pos(1, 30), index, base_line=1) is None  # in the statement
    assert pos_to_offset(Pos(0, 0), index) is None  # tactic mode
    assert pos_to_offset(Pos(9, 0), index, base_line=1) is None  # a later declaration
    assert pos_to_offset(Pos(4, 0), index, base_line=1) == len(proof)  # end of input
    assert pos_to_offset(Pos(2, 99), index, base_line=1) == proof.index("\n")
    # ProofNet style: the statement ends in ` :=` and the proof starts on its line.
    prefix2 = "theorem t : 1 = 1 :="
    base_line, base_column = proof_origin(prefix2)
    assert (base_line, base_column) == (0, len(prefix2))
    assert pos_to_offset(Pos(1, len(prefix2) + 4), LineIndex(" by rfl"),
                         base_line=base_line, base_column=base_column) == 4


# -- truncation ------------------------------------------------------------------------------

def test_truncate_ignores_unsolved_goals_and_cuts_at_first_other_error(real):
    prefix, proof = real["amc12b_2002_p7"]
    base_line, base_column = proof_origin(prefix)
    lines = proof.split("\n")
    messages = [
        # the root `by` (in the statement) and a nested `have … := by` report unsolved goals
        _err(base_line, len(prefix.split("\n")[-2]) - 2, "unsolved goals\n⊢ False"),
        _err(base_line + 4, lines[3].index("by"), "unsolved goals\nx : ℕ\n⊢ a = 4"),
        Message("warning", Pos(base_line + 1, 8), None, "declaration uses 'sorry'"),
        _err(base_line + 13, 8, "linarith failed"),
        _err(base_line + 7, lines[6].index("mul_pos"), "unknown identifier 'mul_pos'"),
    ]
    cut = truncate(proof, messages, (), base_line=base_line, base_column=base_column)
    assert cut == LineIndex(proof).line_col_to_offset(7, lines[6].index("mul_pos"))
    # Without the real errors nothing cuts: "unsolved goals" and warnings never do, nor
    # an error in a later declaration of the same command.
    later = _err(base_line + proof.count("\n") + 3, 0, "unknown identifier")
    assert truncate(proof, messages[:3] + [later], base_line=base_line) == len(proof)


def test_truncate_cuts_at_a_sorry_before_a_later_error():
    proof = "  intro x\n  have h : x = x := sorry\n  linarith\n"
    sorries = [Sorry("x : ℕ\n⊢ x = x", 3, Pos(2, 20), Pos(2, 25))]
    cut = truncate(proof, [_err(3, 2, "linarith failed")], sorries)
    assert cut == proof.index("sorry")
    assert truncate(proof, [_err(3, 2, "linarith failed")]) == proof.index("linarith")
    assert truncate(proof, [], [Sorry("⊢ P", 0)]) == len(proof)  # tactic-mode sorry: no pos


# -- formats ---------------------------------------------------------------------------------

def test_state_comment_format_of_the_reference():
    goal = "x : ℝ\nh₀ : 0 < x ∧ x < π\n⊢ 12 * (x * x.sin) ≤ 9"
    assert state_comment(goal, 2) == (
        "  /- tactic state:\n    x : ℝ\n    h₀ : 0 < x ∧ x < π\n"
        "    ⊢ 12 * (x * x.sin) ≤ 9\n  -/\n")
    assert goals_text([]) == NO_GOALS
    assert goals_text(["case a\n⊢ p", "case b\n⊢ q"]) == "case a\n⊢ p\n\ncase b\n⊢ q"


# -- segments on real proofs -----------------------------------------------------------------

def test_nested_have_blocks_and_a_two_line_nlinarith(real):
    _, proof = real["amc12b_2002_p7"]
    segs = segment(proof, len(proof), synth_tactics(proof), complete=True)
    assert "".join(s.text for s in segs) == proof
    # Line 4 (`have h4 … := by`) ends no tactic and joins line 5; lines 6-8 are one
    # segment: line 6 opens a block and line 7 stops inside `nlinarith [h₃, …,`.
    assert _line_ends(proof, segs) == [1, 2, 3, 5, 8, 9, 10, 11, 12, 13, 14]
    assert [s.state_after for s in segs] == [
        G(2, 8), G(3, 8), G(4, 8),
        G(6, 12),  # inside h4's block: the goals before `have : a ≤ 6`
        G(9, 12),  # after the inner have: before `interval_cases`, same block
        G(10, 8),  # h4's block closed with this line: the enclosing level's next tactic
        G(11, 8), G(12, 8), G(13, 8), G(14, 8), NO_GOALS]
    assert [s.indent for s in segs] == [8, 8, 8, 12, 12, 8, 8, 8, 8, 8, 8]
    assert all(s.probe is None for s in segs)


def test_comments_and_a_multiline_paren_after_combinator(real):
    _, proof = real["numbertheory_x5neqy2p4"]
    segs = segment(proof, len(proof), synth_tactics(proof), complete=True)
    # `rcases … <;> (` / `norm_num … at *` / `)`: no cut before the `)` line.
    assert _line_ends(proof, segs) == [1, 4, 7, 10, 13, 15]
    assert [s.state_after for s in segs] == [G(2, 2), G(5, 4), G(8, 2), G(11, 4), G(15, 2),
                                             NO_GOALS]
    assert [s.indent for s in segs] == [2, 4, 2, 4, 2, 2]
    assert segs[-1].text.startswith("  -- Using omega")  # a comment goes with its tactic


def test_bullets_are_ambiguous_and_probe_from_before_the_bullet(real):
    _, proof = real["mathd_algebra_184"]
    tactics = synth_tactics(proof)
    segs = segment(proof, len(proof), tactics, complete=True)
    by_line = dict(zip(_line_ends(proof, segs), segs))
    cases = by_line[28]  # `cases' (mul_eq_zero.mp h10) with h11 h12`, then `· -- …`
    assert cases.state_after is None
    ps = next(t.proof_state for t in tactics if t.tactic.startswith("cases'"))
    assert cases.probe == Probe(ps, "cases' (mul_eq_zero.mp h10) with h11 h12")
    first_bullet = by_line[30]
    assert first_bullet.text == "        · -- (b : ℝ) - 3 = 0\n          linarith\n"
    # Replaying only `linarith` would say "no goals" (the bullet's focus); the probe
    # replays from `cases'`, so the second case is what remains.
    assert first_bullet.probe == Probe(
        ps, "(\ncases' (mul_eq_zero.mp h10) with h11 h12\n· -- (b : ℝ) - 3 = 0\n  linarith)")
    assert by_line[32].state_after == G(33, 10)  # inside the second bullet: unambiguous
    # Lines starting with `<;>` continue the tactic above: never a cut before them.
    lines = proof.split("\n")
    for n, line in enumerate(lines[:-1], start=1):
        if lines[n].lstrip().startswith("<;>"):
            assert n not in by_line
    assert by_line[58].text.endswith("      <;> positivity\n")
    assert by_line[58].state_after == G(59, 4)


def test_no_segment_cuts_inside_a_tactic_on_any_real_proof(real):
    """Every real proof: segments tile the proof, end at line ends, never inside a tactic
    other than a block opener, and each state is the next tactic's goals or a probe."""
    for name, (_, proof) in real.items():
        tactics = synth_tactics(proof)
        segs = segment(proof, len(proof), tactics, complete=True)
        mask = mask_non_code(proof)
        assert "".join(s.text for s in segs) == proof[:segs[-1].end], name
        assert mask[segs[-1].end:].strip() == "", name
        assert segs[-1].state_after == NO_GOALS, name
        steps = steps_from_repl(proof, tactics)
        starts = {s.start: s.goals for s in steps}
        for seg in segs:
            assert seg.end == len(proof) or proof[seg.end - 1] == "\n", name
            for st in steps:
                if st.start < seg.end < st.end:  # only inside a block opened by `by`
                    assert re.search(r"(?<![\w'])by[ \t]*\n", mask[st.start:seg.end]), \
                        (name, st.tactic)
            nxt = len(mask) - len(mask[seg.end:].lstrip())
            if seg.state_after is None:
                assert seg.probe is not None and seg.probe.proof_state in \
                    {t.proof_state for t in tactics}, name
                assert ("\n" in seg.probe.tactic) == seg.probe.tactic.startswith("(\n"), name
            elif seg is not segs[-1]:
                assert seg.state_after == starts[nxt], (name, seg.text)


# -- truncated proofs ------------------------------------------------------------------------

def test_truncated_real_proof_keeps_whole_lines_up_to_the_error(real):
    prefix, proof = real["amc12b_2002_p7"]
    base_line, base_column = proof_origin(prefix)
    lines = proof.split("\n")
    err = _err(base_line + 7, lines[6].index("mul_pos"), "unknown identifier")
    valid_end = truncate(proof, [err], base_line=base_line, base_column=base_column)
    shifted = [Tactic(t.tactic, t.goals, t.pos.shifted(base_line), t.end_pos.shifted(base_line),
                      t.proof_state) for t in synth_tactics(proof)]
    segs = segment(proof, valid_end, shifted, base_line=base_line, base_column=base_column)
    assert _line_ends(proof, segs) == [1, 2, 3, 5]
    # `have : a ≤ 6 := by` starts before the error: its goals-before is the state.
    assert segs[-1].state_after == G(6, 12)
    assert segs[-1].end <= valid_end


def test_failing_tactic_gives_the_last_state_and_unreported_failure_a_probe():
    proof = "  intro x\n  simp at x\n  linarith\n"
    tactics = [Tactic("intro x", "⊢ ∀ x, P x", Pos(1, 2), Pos(1, 9), 0),
               Tactic("simp at x", "x : ℕ\n⊢ P x", Pos(2, 2), Pos(2, 11), 1),
               Tactic("linarith", "x : ℕ\n⊢ Q x", Pos(3, 2), Pos(3, 10), 2)]
    valid_end = truncate(proof, [_err(3, 2, "linarith failed")])
    segs = segment(proof, valid_end, tactics)
    assert [(s.text, s.state_after) for s in segs] == [
        ("  intro x\n", "x : ℕ\n⊢ P x"), ("  simp at x\n", "x : ℕ\n⊢ Q x")]
    # The failing tactic not reported: the state after `simp at x` must be probed.
    segs = segment(proof, valid_end, tactics[:2])
    assert segs[-1].state_after is None and segs[-1].probe == Probe(1, "simp at x")
    assert segs[-1].resolve("x : ℕ\n⊢ Q x") == Segment("  simp at x\n", "x : ℕ\n⊢ Q x",
                                                       segs[-1].end, 2)


def test_never_borrows_goals_from_beyond_an_unreported_failure():
    proof = "  have h : P := by\n    simp\n    linarith\n  exact h\n"
    have = Tactic("have …", "⊢ P ∧ Q", Pos(1, 2), Pos(3, 12), 0)
    simp = Tactic("simp", "⊢ P", Pos(2, 4), Pos(2, 8), 1)
    exact = Tactic("exact h", "h : P\n⊢ P ∧ Q", Pos(4, 2), Pos(4, 9), 3)
    valid_end = truncate(proof, [_err(3, 4, "linarith failed")])
    # linarith is missing and `exact h` (elaborated after error recovery) is in another
    # block: cutting after `simp` could only borrow its goals, so no segment is made.
    assert segment(proof, valid_end, [have, simp, exact]) == []
    linarith = Tactic("linarith", "⊢ P'", Pos(3, 4), Pos(3, 12), 2)
    segs = segment(proof, valid_end, [have, simp, linarith, exact])
    assert [(s.text, s.state_after, s.indent) for s in segs] == [
        ("  have h : P := by\n    simp\n", "⊢ P'", 4)]


def test_sorry_goal_is_the_state_when_no_tactic_is_reported():
    proof = "  intro x\n  sorry\n"
    sorries = [Sorry("x : ℕ\n⊢ P x", 4, Pos(2, 2), Pos(2, 7))]
    tactics = [Tactic("intro x", "⊢ ∀ x, P x", Pos(1, 2), Pos(1, 9), 0)]
    valid_end = truncate(proof, [], sorries)
    segs = segment(proof, valid_end, tactics, sorries)
    assert [(s.text, s.state_after) for s in segs] == [("  intro x\n", "x : ℕ\n⊢ P x")]


def test_incomplete_proof_end_is_probed_and_complete_proof_end_is_no_goals():
    proof = "  constructor\n  simp\n"
    tactics = [Tactic("constructor", "⊢ P ∧ Q", Pos(1, 2), Pos(1, 13), 0),
               Tactic("simp", "⊢ P\n\n⊢ Q", Pos(2, 2), Pos(2, 6), 1)]
    open_end = segment(proof, len(proof), tactics)  # e.g. "unsolved goals" at the root
    assert open_end[-1].state_after is None and open_end[-1].probe == Probe(1, "simp")
    closed = segment(proof, len(proof), tactics, complete=True)
    assert [s.state_after for s in closed] == ["⊢ P\n\n⊢ Q", NO_GOALS]
    with pytest.raises(ValueError):
        segment(proof, 3, tactics, complete=True)


def test_complete_proof_gets_a_final_segment_even_without_reported_tactics():
    proof = "  intro x\n  exact foo x\n"
    tactics = [Tactic("intro x", "⊢ ∀ x, P x", Pos(1, 2), Pos(1, 9), 0)]
    segs = segment(proof, len(proof), tactics, complete=True)
    assert [s.text for s in segs] == ["  intro x\n", "  exact foo x\n"]
    assert segs[0].probe == Probe(0, "intro x")  # `exact` unreported: not derivable
    assert (segs[1].state_after, segs[1].indent) == (NO_GOALS, 2)


def test_repeated_entries_with_different_goals_are_ambiguous():
    proof = "  constructor\n  all_goals\n    norm_num\n    linarith\n"
    base = [Tactic("constructor", "⊢ P ∧ Q", Pos(1, 2), Pos(1, 13), 0),
            Tactic("all_goals …", "⊢ P\n\n⊢ Q", Pos(2, 2), Pos(4, 12), 1),
            Tactic("norm_num", "⊢ P", Pos(3, 4), Pos(3, 12), 2),
            Tactic("norm_num", "⊢ Q", Pos(3, 4), Pos(3, 12), 3)]
    twice = [Tactic("linarith", "⊢ P'", Pos(4, 4), Pos(4, 12), 4),
             Tactic("linarith", "⊢ Q'", Pos(4, 4), Pos(4, 12), 5)]
    segs = segment(proof, len(proof), base + twice, complete=True)
    assert _line_ends(proof, segs) == [1, 3, 4]
    assert segs[0].state_after == "⊢ P\n\n⊢ Q"
    assert segs[1].state_after is None and segs[1].probe == Probe(2, "norm_num")
    same = [twice[0], Tactic("linarith", "⊢ P'", Pos(4, 4), Pos(4, 12), 5)]
    assert segment(proof, len(proof), base + same, complete=True)[1].state_after == "⊢ P'"


def test_no_cut_inside_a_block_comment_or_before_a_continuation():
    proof = "  simp /- a note\n  over lines -/\n  ring\n  norm_num\n  <;> linarith\n"
    tactics = [Tactic("simp", "⊢ A", Pos(1, 2), Pos(1, 6), 0),
               Tactic("ring", "⊢ B", Pos(3, 2), Pos(3, 6), 1),
               Tactic("norm_num", "⊢ C", Pos(4, 2), Pos(4, 10), 2),
               Tactic("linarith", "⊢ D", Pos(5, 6), Pos(5, 14), 3)]
    segs = segment(proof, len(proof), tactics, complete=True)
    # The comment opened after `simp` closes on a code-free line: the cut moves there.
    assert [s.text for s in segs] == ["  simp /- a note\n  over lines -/\n",
                                      "  ring\n", "  norm_num\n  <;> linarith\n"]
    assert [s.state_after for s in segs] == ["⊢ B", "⊢ C", NO_GOALS]
    # Code after the comment on its closing line: no cut until the next line ends.
    proof2 = proof.replace("lines -/", "lines -/ skip")
    segs = segment(proof2, len(proof2), tactics[:1] + [
        Tactic("skip", "⊢ A'", Pos(2, 16), Pos(2, 20), 4)] + tactics[1:], complete=True)
    assert segs[0].text == "  simp /- a note\n  over lines -/ skip\n"
    # A string literal spanning lines is treated the same way.
    proof3 = '  simp [foo "a\nb"]\n  ring\n'
    segs = segment(proof3, len(proof3), [Tactic("simp", "⊢ A", Pos(1, 2), Pos(2, 3), 0),
                                         Tactic("ring", "⊢ B", Pos(3, 2), Pos(3, 6), 1)],
                   complete=True)
    assert [s.text for s in segs] == ['  simp [foo "a\nb"]\n', "  ring\n"]


def test_calc_steps_are_not_split():
    proof = "  calc a = b := by simp\n    _ = c := by ring\n  exact h\n"
    tactics = [Tactic("calc …", "⊢ a = c", Pos(1, 2), Pos(2, 20), 0),
               Tactic("simp", "⊢ a = b", Pos(1, 20), Pos(1, 24), 1),
               Tactic("ring", "⊢ b = c", Pos(2, 16), Pos(2, 20), 2),
               Tactic("exact h", "⊢ Z", Pos(3, 2), Pos(3, 9), 3)]
    segs = segment(proof, len(proof), tactics, complete=True)
    # After line 1 the next goals-before (`ring`'s) belong to another `by` block.
    assert _line_ends(proof, segs) == [2, 3]
    assert segs[0].state_after == "⊢ Z"


def test_state_after_segments_on_steps_directly():
    proof = "  have h : P := by\n    simp\n    ring\n  exact h\n"
    steps = [Step(2, proof.index("ring") + 4, "⊢ G", 0, "have …"),
             Step(proof.index("simp"), proof.index("simp") + 4, "⊢ P", 1, "simp"),
             Step(proof.index("ring"), proof.index("ring") + 4, "⊢ P'", 2, "ring"),
             Step(proof.index("exact"), len(proof) - 1, "h : P\n⊢ G", 3, "exact h")]
    ends = [proof.index("    ring"), proof.index("  exact"), len(proof)]
    assert state_after_segments(proof, ends, steps, complete=True) == [
        "⊢ P'", "h : P\n⊢ G", NO_GOALS]
    # Not complete: nothing after the end says what is left, so replay `exact h`.
    assert state_after_segments(proof, ends[-1:], steps) == [Probe(3, "exact h")]


def test_flattened_goals_are_recognised_by_a_turnstile_inside_a_line():
    # v4.9.0-rc1's allTactics (reference transcript all_tactics) against v4.33's.
    assert flattened("t : Nat ⊢ Nat") and flattened("x y : ℕ h₀ : x + y = 10 ⊢ x = 5")
    assert not flattened("t : Nat\n⊢ Nat") and not flattened("⊢ Nat")
    assert not flattened("case h\nx : ℕ\n⊢ P x\n\ncase g\n⊢ Q") and not flattened(NO_GOALS)
    # Partly flattened (an inner group fitted on its line while the outer one broke).
    assert flattened("x : ℕ\nh : x > 0 ⊢ x ≥ 1")


def test_a_flattened_state_is_re_read_in_tactic_mode_never_used():
    proof = "  intro x\n  simp at x\n  linarith\n"
    flat = [Tactic("intro x", "⊢ ∀ x, P x", Pos(1, 2), Pos(1, 9), 0),
            Tactic("simp at x", "x : ℕ ⊢ P x", Pos(2, 2), Pos(2, 11), 1),
            Tactic("linarith", "x : ℕ ⊢ Q x", Pos(3, 2), Pos(3, 10), 2)]
    segs = segment(proof, len(proof), flat, complete=True)
    # Each flattened goals-before becomes a `skip` from that tactic's own proof state.
    assert [(s.state_after, s.probe) for s in segs] == [
        (None, Probe(1, "skip")), (None, Probe(2, "skip")), (NO_GOALS, None)]
    assert all("⊢" not in s.comment() for s in segs[:2])  # nothing shown while unresolved
    # The multi-line answer of tactic mode is what the segment then carries.
    assert segs[0].resolve("x : ℕ\n⊢ P x").comment() == state_comment("x : ℕ\n⊢ P x", 2)
    # No proof state to re-read from: the state is unknown, not the flat text.
    no_state = [flat[0], Tactic("simp at x", "x : ℕ ⊢ P x", Pos(2, 2), Pos(2, 11), None)]
    first = segment(proof, len(proof), no_state)[0]
    assert first.state_after is None and first.probe is None
    # A sorry goal is multi-line at every version and is used as it is.
    sorries = [Sorry("x : ℕ\n⊢ P x", 4, Pos(2, 2), Pos(2, 7))]
    segs = segment("  intro x\n  sorry\n", len("  intro x\n"), flat[:1], sorries)
    assert [s.state_after for s in segs] == ["x : ℕ\n⊢ P x"]



def test_a_sorry_tactic_lends_its_flattened_entry_the_multi_line_goal():
    # Before v4.14 a `sorry` tactic is read twice: flattened in allTactics, multi-line as the
    # sorry's goal. The same single goal: the multi-line text is the state, no probe is needed.
    proof = "  intro x\n  sorry\n"
    intro = Tactic("intro x", "⊢ ∀ x, P x", Pos(1, 2), Pos(1, 9), 0)
    flat_sorry = Tactic("sorry", "x : ℕ ⊢ P x", Pos(2, 2), Pos(2, 7), 1)
    sorries = [Sorry("x : ℕ\n⊢ P x", 4, Pos(2, 2), Pos(2, 7))]
    valid_end = truncate(proof, [], sorries)
    segs = segment(proof, valid_end, [intro, flat_sorry], sorries)
    assert [(s.state_after, s.probe) for s in segs] == [("x : ℕ\n⊢ P x", None)]
    # With two goals open the tactic's entry holds both and the sorry only the first: other
    # states, so the flattened entry is re-read in tactic mode as before.
    both = Tactic("sorry", "x : ℕ ⊢ P x\n\nx : ℕ ⊢ Q x", Pos(2, 2), Pos(2, 7), 1)
    segs = segment(proof, valid_end, [intro, both], sorries)
    assert [(s.state_after, s.probe) for s in segs] == [(None, Probe(1, "skip"))]
