"""Cheats the static integrity layer must catch, and honest files it must let through.

Data only (no tests): ``tests/test_integrity.py`` runs them. Each ``Cheat`` is a small
complete Lean file (``candidate``), the reference it claims to prove (``reference``: header +
statement + ``  sorry``), and the ``code`` that must be among the blocking findings of
``scan_integrity(candidate, reference=reference)`` + ``compare_to_reference``. Most would be
accepted by a verifier that only asks "did Lean report an error?". An id starts with the
construct the cheat uses (``sorry_in_have``, ``open_in_prefix``, ``putnam_type_changed``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cheat:
    id: str
    candidate: str
    reference: str
    code: str


H = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n\n"
S = "theorem t1 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n"
REF = H + S + "  sorry"
# A statement `native_decide`/`decide` can prove, and one that uses a helper definition.
S2 = "theorem t2 : 2 ^ 10 % 7 = 2 := by\n"
REF2 = H + S2 + "  sorry"
HELPER = "def g (n : ℕ) : ℕ := 2 * n + 1\n\n"
S3 = "theorem t3 : g 3 = 7 := by\n"
REF3 = H + HELPER + S3 + "  sorry"
# PutnamBench-style: a no-answer `abbrev` placeholder, a helper `def`, a docstring.
PH = "import Mathlib\n\nopen Nat\n\n"
PUTNAM_PRE = ("abbrev putnam_x_solution : ℕ := sorry\n-- 6\n"
              "def tri (n : ℕ) : ℕ := n * (n + 1) / 2\n"
              "/--\nFind the third triangular number.\n-/\n")
PS = "theorem putnam_x : tri 3 = putnam_x_solution := by\n"
PREF = PH + PUTNAM_PRE + PS + "  sorry"
FILLED = PUTNAM_PRE.replace(":= sorry", ":= 6")


def t1(proof: str, before: str = "", header: str = H) -> str:
    """The t1 theorem with ``proof`` (tactic lines), after ``before`` (top-level items)."""
    return header + before + S + proof


def _cheats() -> list[Cheat]:
    c: list[tuple[str, str, str, str]] = [
        # -- sorry and its spellings --------------------------------------------------------
        ("sorry_plain", t1("  sorry"), REF, "sorry"),
        ("sorry_in_have", t1("  have h : x = 2 := by sorry\n  exact h"), REF, "sorry"),
        ("sorry_in_term", H + "theorem t1 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := sorry", REF, "sorry"),
        ("sorry_in_aux_lemma", t1("  exact aux x h₀", "lemma aux (x : ℝ) (h : 2 * x = 4) : x = 2 := by\n"
                                  "  sorry\n\n"), REF, "sorry"),
        ("sorry_all_goals", t1("  constructor <;> all_goals sorry"), REF, "sorry"),
        ("sorry_after_nested_comment", t1("  /- outer /- inner -/ still a comment -/ sorry"), REF, "sorry"),
        ("admit", t1("  admit"), REF, "sorry"),
        ("admit_after_semicolon", t1("  norm_num; admit"), REF, "sorry"),
        ("stop", t1("  norm_num at h₀\n  stop\n  linarith"), REF, "sorry"),
        ("admit_under_combinator", t1("  with_reducible admit"), REF, "sorry"),
        ("sorry_after_comment_opener_in_string", t1('  have hs : ("/-" : String) = "/-" := rfl\n  sorry'),
         REF, "sorry"),
        # `"\" -- "` is one string (an escaped quote), so the `--` starts no comment.
        ("sorry_after_escaped_quote", t1(r'  have hs : ("\" -- " : String) = " -- " := rfl; exact sorry'),
         REF, "sorry"),
        ("sorryAx", t1("  exact sorryAx _ false"), REF, "sorry"),
        ("lean_sorryAx", t1("  exact Lean.sorryAx (x = 2) false"), REF, "sorry"),
        ("sorry_decreasing_by", t1("  linarith", "def loop (n : ℕ) : ℕ := loop (n + 1)\n"
                                   "decreasing_by sorry\n\n"), REF, "sorry"),
        # -- search tactics -----------------------------------------------------------------
        ("apply_search", t1("  apply?"), REF, "search_tactic"),
        ("exact_search", t1("  exact?"), REF, "search_tactic"),
        ("exact_search_in_have", t1("  have h : x = 2 := by exact?\n  exact h"), REF, "search_tactic"),
        ("exact_search_in_first", t1("  first | exact? | linarith"), REF, "search_tactic"),
        ("rw_search_question", t1("  rw?"), REF, "search_tactic"),
        ("hint", t1("  hint"), REF, "search_tactic"),
        ("library_search", t1("  library_search"), REF, "search_tactic"),
        ("rw_search", t1("  rw_search"), REF, "search_tactic"),
        ("observe", t1("  observe h : x = 2\n  exact h"), REF, "search_tactic"),
        # -- axioms, #exit, debug options, unsafe code --------------------------------------
        ("axiom_false", t1("  exact cheat.elim", "axiom cheat : False\n\n"), REF, "axiom"),
        ("private_axiom", t1("  exact (ax x).elim", "private axiom ax (x : ℝ) : False\n\n"), REF, "axiom"),
        ("exit_after_statement", H + S + "#exit", REF, "exit"),
        ("exit_before_theorem", t1("  linarith", "#exit\n\n"), REF, "exit"),
        ("debug_skip_kernel", t1("  linarith", "set_option debug.skipKernelTC true in\n"), REF,
         "debug_option"),
        ("debug_in_proof", t1("  set_option debug.skipKernelTC true in\n  linarith"), REF, "debug_option"),
        ("debug_in_header", H + "set_option debug.skipKernelTC true\n\n" + S + "  linarith", REF,
         "debug_option"),
        ("implemented_by", t1("  linarith", "def fast (n : ℕ) : ℕ := n\n\n@[implemented_by fast]\n"
                              "def slow (n : ℕ) : ℕ := n + 1\n\n"), REF, "unsafe"),
        ("extern", t1("  linarith", "@[extern \"lean_cheat\"]\nopaque cheatFn : ℕ → ℕ\n\n"), REF, "unsafe"),
        ("unsafe_def", t1("  linarith", "unsafe def loop : ℕ := loop\n\n"), REF, "unsafe"),
        ("unsafe_cast", t1("  exact unsafeCast ()"), REF, "unsafe"),
        ("csimp", t1("  linarith", "@[csimp] theorem fast_eq : @Nat.add = @Nat.add := rfl\n\n"), REF,
         "unsafe"),
        # -- native evaluation (blocking with the default options) --------------------------
        ("native_decide", H + S2 + "  native_decide", REF2, "native_decide"),
        ("decide_native_config", H + S2 + "  decide +native", REF2, "native_decide"),
        ("of_reduce_bool", H + S2 + "  exact of_decide_eq_true (Lean.ofReduceBool _ _ rfl)", REF2,
         "native_decide"),
        ("bv_decide", H + S2 + "  bv_decide", REF2, "native_decide"),
        # -- metaprogramming ----------------------------------------------------------------
        ("eval", t1("  linarith", "#eval 2 + 2\n\n"), REF, "metaprogramming"),
        ("print_axioms", t1("  linarith") + "\n\n#print axioms t1", REF, "metaprogramming"),
        ("check_in_proof", t1("  #check h₀\n  linarith"), REF, "metaprogramming"),
        ("run_tac", t1("  run_tac Lean.Elab.Tactic.evalTactic (← `(tactic| linarith))"), REF,
         "metaprogramming"),
        ("run_cmd", t1("  linarith", "run_cmd Lean.logInfo \"hi\"\n\n"), REF, "metaprogramming"),
        ("by_elab", t1("  exact by_elab return Lean.mkConst ``True.intro"), REF, "metaprogramming"),
        ("elab", t1("  cheat", "elab \"cheat\" : tactic => Lean.Elab.admitGoal =<< Lean.Elab.Tactic.getMainGoal\n\n"),
         REF, "metaprogramming"),
        ("macro", t1("  finish", "macro \"finish\" : tactic => `(tactic| linarith)\n\n"), REF,
         "metaprogramming"),
        ("macro_rules", t1("  linarith", "macro_rules | `(tactic| linarith) => `(tactic| norm_num)\n\n"),
         REF, "metaprogramming"),
        ("syntax", t1("  linarith", "syntax \"finish\" : tactic\n\n"), REF, "metaprogramming"),
        ("notation", t1("  linarith", "notation \"two\" => (3 : ℝ)\n\n"), REF, "metaprogramming"),
        ("local_notation", t1("  linarith", "local notation \"two\" => (3 : ℝ)\n\n"), REF,
         "metaprogramming"),
        ("infixl", t1("  linarith", "infixl:65 \" +' \" => HMul.hMul\n\n"), REF, "metaprogramming"),
        ("initialize", t1("  linarith", "initialize counter : IO.Ref ℕ ← IO.mkRef 0\n\n"), REF,
         "metaprogramming"),
        ("simproc", t1("  simp", "simproc cheat (_ = _) := fun _ => return .continue\n\n"), REF,
         "metaprogramming"),
        ("tactic_attribute", t1("  linarith", "@[tactic Lean.Parser.Tactic.omega]\n"
                                "def myOmega : Lean.Elab.Tactic.Tactic := fun _ => pure ()\n\n"), REF,
         "metaprogramming"),
        ("meta_def", t1("  linarith", "meta def helper : ℕ := 1\n\n"), REF, "metaprogramming"),
        # -- environment changes before the theorem -----------------------------------------
        ("instance_decidable", t1("  decide", "instance (p : Prop) : Decidable p := Classical.propDecidable p\n\n"),
         REF, "environment_change"),
        ("instance_add", t1("  linarith", "instance : Add ℝ := ⟨fun a b => a * b⟩\n\n"), REF,
         "environment_change"),
        ("instance_attribute", t1("  linarith", "@[instance] def myAdd : Add ℝ := ⟨fun a b => a * b⟩\n\n"),
         REF, "environment_change"),
        ("default_instance", t1("  linarith", "@[default_instance] def natAdd : Add ℕ := ⟨Nat.mul⟩\n\n"),
         REF, "environment_change"),
        ("attribute_simp", t1("  simp", "attribute [simp] mul_comm\n\n"), REF, "environment_change"),
        ("attribute_local_instance", t1("  linarith", "attribute [local instance] Classical.propDecidable\n\n"),
         REF, "environment_change"),
        ("open_top_level", t1("  linarith", "open Finset\n\n"), REF, "environment_change"),
        ("open_in_header", H + "open Classical\n\n" + S + "  linarith", REF, "environment_change"),
        ("open_in_prefix", t1("  linarith", "open Finset in\n"), REF, "environment_change"),
        ("open_in_prefix_statement", t1("  linarith", "open Finset in\n"), REF, "statement_changed"),
        ("namespace", H + "namespace Real\n\n" + S + "  linarith\n\nend Real", REF, "environment_change"),
        ("export", t1("  linarith", "export Finset (sum)\n\n"), REF, "environment_change"),
        ("variable", t1("  linarith", "variable (y : ℝ)\n\n"), REF, "environment_change"),
        ("universe", t1("  linarith", "universe u\n\n"), REF, "environment_change"),
        ("scoped_instance", t1("  linarith", "scoped instance : Add ℝ := ⟨fun a b => a * b⟩\n\n"), REF,
         "environment_change"),
        ("set_option_auto_implicit", t1("  linarith", "set_option autoImplicit true\n\n"), REF, "set_option"),
        ("set_option_binder_annotations", t1("  linarith", "set_option checkBinderAnnotations false in\n"),
         REF, "set_option"),
        ("import_after_header", t1("  linarith", "import Mathlib.Tactic\n\n"), REF, "import"),
        # -- the statement itself -----------------------------------------------------------
        ("hypothesis_changed", H + "theorem t1 (x : ℝ) (h₀ : x = 2) : x = 2 := by\n  exact h₀", REF,
         "statement_changed"),
        ("hypothesis_added", H + "theorem t1 (x : ℝ) (h₀ : 2 * x = 4) (h₁ : x = 2) : x = 2 := by\n  exact h₁",
         REF, "statement_changed"),
        ("conclusion_changed", H + "theorem t1 (x : ℝ) (h₀ : 2 * x = 4) : x = x := by\n  rfl", REF,
         "statement_changed"),
        ("binder_type_changed", H + "theorem t1 (x : ℕ) (h₀ : 2 * x = 4) : x = 2 := by\n  omega", REF,
         "statement_changed"),
        ("theorem_renamed", H + "theorem t1' (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n  linarith", REF,
         "missing_theorem"),
        ("theorem_as_example", H + "example (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n  linarith", REF,
         "missing_theorem"),
        ("extra_import", t1("  linarith", header=H.replace("import Aesop\n", "import Aesop\nimport Mathlib.Tactic\n")),
         REF, "header_changed"),
        ("mathlib_tactic_for_mathlib", t1("  linarith", header=H.replace("import Mathlib\n", "import Mathlib.Tactic\n")),
         REF, "header_changed"),
        ("header_open_dropped", t1("  linarith", header=H.replace("open BigOperators Real Nat Topology Rat\n", "")),
         REF, "header_changed"),
        # -- names the statement uses -------------------------------------------------------
        ("redefine_used_name", H + "def sqrt (x : ℝ) : ℝ := 2\n\ntheorem t5 : sqrt 4 = 2 := by\n  rfl",
         H + "theorem t5 : sqrt 4 = 2 := by\n  sorry", "name_clash"),
        ("redefine_helper_clash", H + "def g (n : ℕ) : ℕ := 7\n\n" + S3 + "  rfl", REF3, "name_clash"),
        ("redefine_helper_preamble", H + "def g (n : ℕ) : ℕ := 7\n\n" + S3 + "  rfl", REF3, "preamble_changed"),
        ("helper_removed", H + S3 + "  rfl", REF3, "preamble_changed"),
        # -- PutnamBench-style answers ------------------------------------------------------
        ("putnam_kept_sorry", PH + PUTNAM_PRE + PS + "  rfl", PREF, "sorry"),
        ("putnam_type_changed", PH + FILLED.replace(": ℕ := 6", ": ℤ := 6") + PS + "  rfl", PREF,
         "preamble_changed"),
        ("putnam_answer_inlined", PH + FILLED.split("-- 6\n")[1] + PS.replace("putnam_x_solution", "6")
         + "  rfl", PREF, "preamble_changed"),
        ("putnam_helper_altered", PH + FILLED.replace("n * (n + 1) / 2", "6") + PS + "  rfl", PREF,
         "preamble_changed"),
    ]
    return [Cheat(*row) for row in c]


CHEATS: list[Cheat] = _cheats()

# (id, candidate, reference): honest files that must give no blocking finding.
CLEAN: list[tuple[str, str, str]] = [
    ("line_comment", t1("  -- no sorry here, and no exact? either\n  linarith"), REF),
    ("block_comment", t1("  /- sorry, admit, apply?, #exit, axiom -/\n  linarith"), REF),
    ("nested_comment", t1("  /- outer /- sorry -/ still a comment: sorry -/\n  linarith"), REF),
    ("docstring", t1("  linarith", "/-- This lemma uses no `sorry` and no `native_decide`. -/\n"
                     "lemma two_mul_eq (x : ℝ) (h : 2 * x = 4) : x = 2 := by linarith\n\n"), REF),
    ("module_doc", t1("  linarith", "/-! # Notes\n`#exit` and `set_option debug.skipKernelTC` are banned. -/\n\n"), REF),
    ("string_literal", t1("  have hs : (\"sorry\" : String).length = 5 := by decide\n  linarith"), REF),
    ("sorry_identifiers", t1("  have hsorry : x = 2 := by linarith\n  have sorry_free := hsorry\n  exact sorry_free"),
     REF),
    ("aux_lemmas", t1("  exact aux x h₀", "lemma aux (y : ℝ) (hy : 2 * y = 4) : y = 2 := by\n  linarith\n\n"
                      "theorem aux2 : (1 : ℝ) + 1 = 2 := by norm_num\n\n"), REF),
    ("simp_attribute_on_aux", t1("  simp [aux]", "@[simp] private lemma aux : (2 : ℝ) * 1 = 2 := by norm_num\n\n"),
     REF),
    ("max_heartbeats_before", t1("  linarith", "set_option maxHeartbeats 400000 in\n"), REF),
    ("max_heartbeats_in_proof", t1("  set_option maxHeartbeats 400000 in\n  linarith"), REF),
    ("open_in_proof", t1("  open Real in\n  linarith"), REF),
    ("open_in_aux", t1("  linarith", "open Finset in\nlemma s3 : ∑ i in range 3, i = 3 := by decide\n\n"), REF),
    ("putnam_filled", PH + FILLED + PS + "  decide", PREF),
    ("putnam_filled_as_def", PH + FILLED.replace("abbrev", "def") + PS + "  decide", PREF),
    ("decide_not_native", H + S2 + "  decide", REF2),
    ("suggestion_tactics", t1("  simp? says simp only [] at h₀\n  aesop? (add norm linarith)"), REF),
    ("hint_as_hypothesis", H + "theorem t6 (hint : 1 = 1) : 1 = 1 := by\n  exact hint",
     H + "theorem t6 (hint : 1 = 1) : 1 = 1 := by\n  sorry"),
    ("layout_and_comments", H + "\n\n-- my proof\ntheorem t1 (x : ℝ)\n    (h₀ : 2 * x = 4) :   -- the hypothesis\n"
     "    x = 2 := by\n  linarith", REF),
    ("lemma_keyword_and_docstring", H + "/-- The answer is 2. -/\nlemma t1 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n"
     "  linarith", REF),
    ("term_mode", H + "theorem t1 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 :=\n  by linarith", REF),
    ("helper_kept", H + HELPER + S3 + "  rfl", REF3),
    ("section_and_end", t1("  linarith", "section\n\nlemma aux : (1 : ℝ) = 1 := rfl\n\nend\n\n"), REF),
    ("raw_string_and_char", t1('  have hs : (r#"sorry, #exit"# : String) = r#"sorry, #exit"# := rfl\n'
                               "  have hc : ('\"' : Char) = '\"' := rfl\n  linarith"), REF),
    ("stop_and_admit_as_names", H + "theorem t7 (stop : 1 = 1) : 1 = 1 := by\n  have admit : 1 = 1 := stop\n"
     "  obtain ⟨⟩ := admit\n  exact stop", H + "theorem t7 (stop : 1 = 1) : 1 = 1 := by\n  sorry"),
    ("trace_option", t1("  set_option trace.Meta.Tactic.simp true in\n  linarith"), REF),
]
