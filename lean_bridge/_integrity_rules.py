"""The vocabulary of `lean_bridge.integrity`: which Lean words are findings, and why.

Private module: tables and three small helpers, no policy beyond "this word means that".
Each table says why its words are there; `integrity.py` decides where they count.
"""
from __future__ import annotations

import re

from ._scan import NAME_RE

# -- words that are findings wherever they stand in code ---------------------------------------
# word -> (code, message). Matched as whole identifier tokens (`find_identifier`), so
# `hsorry`, `sorry_free`, `Foo.sorry` and `«sorry»` are not hits.
ANYWHERE: dict[str, tuple[str, str]] = {
    # `sorry` is a term keyword; Lean only warns about it.
    "sorry": ("sorry", "`sorry` leaves a gap in the proof"),
    # The apply?-family: in Lean 4.9 `apply?` can close a goal without emitting a sorry
    # (DeepSeek-Prover-V2, §4.5 of the reference notes), and `exact?` shares its machinery.
    "apply?": ("search_tactic", "`apply?` is a library search; in Lean 4.9 it can hide a gap"),
    "exact?": ("search_tactic", "`exact?` is a library search built on `apply?`"),
    "rw?": ("search_tactic", "`rw?` is a rewrite search, not a proof step"),
    "rw??": ("search_tactic", "`rw??` is an interactive rewrite search"),
    "observe?": ("search_tactic", "`observe?` runs `exact?`"),
    "have?": ("search_tactic", "`have?` is a library search"),
    "unfold?": ("search_tactic", "`unfold?` is an interactive search"),
    "axiom": ("axiom", "a new `axiom` can prove anything"),
    # `unsafe` code and compiler attributes are trusted by `native_decide`/`#eval`, not checked.
    "unsafe": ("unsafe", "`unsafe` code is not checked by the kernel"),
    "implemented_by": ("unsafe", "`implemented_by` swaps in unchecked compiled code"),
    "extern": ("unsafe", "`extern` binds unchecked foreign code"),
    "csimp": ("unsafe", "`@[csimp]` replaces compiled code, which `native_decide` trusts"),
    "unsafeCast": ("unsafe", "`unsafeCast` breaks type safety"),
    "unsafeBaseIO": ("unsafe", "`unsafeBaseIO` runs IO inside pure code"),
    "unsafeIO": ("unsafe", "`unsafeIO` runs IO inside pure code"),
    "unsafeEIO": ("unsafe", "`unsafeEIO` runs IO inside pure code"),
    "ptrAddrUnsafe": ("unsafe", "`ptrAddrUnsafe` observes pointers"),
    # Proofs by compiled evaluation: they rest on `Lean.ofReduceBool`/`trustCompiler`.
    "native_decide": ("native_decide", "`native_decide` trusts the compiler, not the kernel"),
    "bv_decide": ("native_decide", "`bv_decide` checks its certificate with `Lean.ofReduceBool`"),
    # Keywords of commands that run or define code, syntax or elaborators (every one of
    # them is reserved, so as a token it can only be that command).
    **{w: ("metaprogramming", f"`{w}` runs or defines meta code, syntax or notation")
       for w in ("run_tac", "run_cmd", "run_elab", "run_meta", "by_elab", "elab", "elab_rules",
                 "macro", "macro_rules", "syntax", "declare_syntax_cat", "notation", "notation3",
                 "infix", "infixl", "infixr", "prefix", "postfix", "initialize",
                 "builtin_initialize", "simproc", "dsimproc", "simproc_decl", "dsimproc_decl",
                 "unif_hint", "binder_predicate", "register_option", "register_simp_attr",
                 "declare_simp_like_tactic", "declare_config_elab")},
    # Commands that change how later text elaborates: instances change what `+`, `≤`,
    # `Decidable` … mean in the statement; namespaces, variables, universes, exports change
    # name resolution and binders.
    **{w: ("environment_change", f"`{w}` changes the environment the statement is read in")
       for w in ("instance", "default_instance", "attribute", "namespace", "export", "variable",
                 "universe", "omit", "include")},
}
# Names matched with `find_name` (qualified or «escaped» spellings count too).
NAMES: dict[str, tuple[str, str]] = {
    "sorryAx": ("sorry", "`sorryAx` is `sorry` spelled as a term"),
    "ofReduceBool": ("native_decide", "`Lean.ofReduceBool` trusts compiled evaluation"),
    "ofReduceNat": ("native_decide", "`Lean.ofReduceNat` trusts compiled evaluation"),
    "reduceBool": ("native_decide", "`Lean.reduceBool` is compiled evaluation"),
    "reduceNat": ("native_decide", "`Lean.reduceNat` is compiled evaluation"),
    "trustCompiler": ("native_decide", "`Lean.trustCompiler` is the compiler-trust axiom"),
}
# `decide +native` / `decide (config := {native := true})` is `native_decide` (Lean ≥ 4.12).
NATIVE_CONFIG_RE = re.compile(r"\+native(?![\w'!?])|(?<![\w'!?.])native\s*:=\s*true(?![\w'!?])")

# -- tactic names that are also valid identifiers ----------------------------------------------
# Tactic keywords are not reserved words (putnam_1998_a6 has a hypothesis `(hint : …)`), so
# these count only inside a proof. `admit`/`stop` count unless they can only be a name there
# (`intro stop`, `⟨h, admit⟩`, `have stop : …`): a combinator in front (`with_reducible
# admit`) must not hide them. The searches count only in tactic position (line start, `by`,
# `;`, `<;>`, `·`, `=>`, `first |` …), since `hint` is a plausible hypothesis name.
SORRY_TACTICS: dict[str, tuple[str, str]] = {
    "admit": ("sorry", "`admit` is `sorry`"),
    "stop": ("sorry", "`stop` discards the rest of the proof with `sorry`"),
}
SEARCH_TACTICS: dict[str, tuple[str, str]] = {
    # Mathlib's `hint` tries registered tactics, `exact?` among them.
    "hint": ("search_tactic", "`hint` runs a tactic search (including `exact?`)"),
    "library_search": ("search_tactic", "`library_search` is the old name of `exact?`"),
    "rw_search": ("search_tactic", "`rw_search` is a rewrite search"),
    "observe": ("search_tactic", "`observe` runs `exact?`"),
    "propose": ("search_tactic", "`propose` is a library search"),
}
# Every lead below is at most this many characters (`generalizing`), so a lead is looked for
# only in that much text before the blanks in front of a word.
LEAD_WINDOW = 16
# What may stand right before a tactic: line start, `by`, `;`, `<;>`, `·`, `=>`, `(`,
# `first |`, and combinators that take a tactic.
TACTIC_LEAD_RE = re.compile(
    r"(?:^|(?<![\w'!?.])(?:by|try|first|all_goals|any_goals|repeat'?|focus|then|else|do)"
    r"|[;(·{|]|<;>|=>|<\|>)[ \t]*$", re.M)
# What may stand right before a word that can then only be a name or a term, not a tactic:
# pattern and list punctuation, operators, `:=`, and tactics that take a name or a term.
NAME_LEAD_RE = re.compile(
    r"(?:[⟨\[,.@←▸$+*]|:=|<\||(?<![=<>])=(?!>)"
    r"|(?<![\w'!?.])(?:intro|intros|rintro|fun|have|let|obtain|set|exact|apply|refine|use|at"
    r"|with|only|using|generalizing|clear|revert|subst|specialize|cases|induction|rcases|show"
    r"|from|simp|rw))[ \t]*$", re.M)
# Search tactics that run the real tactic and only print a suggestion: `simp?` is `simp`,
# `aesop?` is `aesop` (it fails when aesop fails), so they cannot leave a gap. Reported,
# not blocking. `says` only decides which of its two tactics runs; the tactic in front of it
# is judged on its own (`exact? says …` is blocked by `exact?`).
NON_BLOCKING_SEARCH = frozenset({
    "simp?", "simp?!", "simp_all?", "simp_all?!", "dsimp?", "dsimp?!", "simp_arith?",
    "simp_arith?!", "aesop?", "gcongr?", "show_term", "says", "conv?",
})

# -- `#` commands ---------------------------------------------------------------------------------
# `#word` is also term notation (`#s` is `Finset.card s`, `#α` a cardinal), so inside a
# proof only these command names count; at column 0 any `#word` is a command.
HASH_COMMANDS = frozenset({
    "exit", "eval", "eval!", "print", "check", "check_failure", "reduce", "synth", "help",
    "lint", "guard", "guard_msgs", "guard_expr", "find", "simp", "norm_num", "conv", "where",
    "time", "adaptation_note", "leansearch", "loogle", "moogle", "explode", "min_imports",
    "instances", "long_names", "html", "widget", "kernel", "version", "trans_imports",
})
HASH_RE = re.compile(r"(?<![\w'!?.»#])#([A-Za-z_][\w'!?]*)")

# -- attributes -----------------------------------------------------------------------------------
# Attributes that register meta code (tactics, elaborators, extensions). `instance`,
# `default_instance`, `implemented_by`, `extern`, `csimp` are caught as words above.
META_ATTRIBUTES = frozenset({
    "macro", "tactic", "term_elab", "command_elab", "delab", "app_unexpander", "builtin_tactic",
    "builtin_term_elab", "builtin_command_elab", "builtin_macro", "init", "builtin_init",
    "env_extension", "norm_num", "positivity", "simproc", "hint_tactic", "aesop_rule",
})
ATTRIBUTE_OPEN_RE = re.compile(r"@\[|(?<![\w'!?.])attribute\s*\[")
META_DECL_RE = re.compile(
    r"(?<![\w'!?.])meta\s+(?:def|theorem|instance|abbrev|structure)(?![\w'!?])")

# -- options ---------------------------------------------------------------------------------------
# Options that only bound resources or change output. Anything else (autoImplicit,
# checkBinderAnnotations, backward.*, tactic.*, …) can change what text means and needs
# the reference's blessing. `debug.*` is never allowed: `debug.skipKernelTC` turns the
# kernel off.
ALLOWED_OPTIONS = frozenset({
    "maxHeartbeats", "maxRecDepth", "maxSynthPendingDepth", "synthInstance.maxHeartbeats",
    "synthInstance.maxSize", "profiler", "diagnostics", "diagnostics.threshold",
    "exponentiation.threshold",
})
ALLOWED_OPTION_PREFIXES = ("linter.", "pp.", "trace.", "profiler.")


def option_allowed(name: str) -> bool:
    return name in ALLOWED_OPTIONS or name.startswith(ALLOWED_OPTION_PREFIXES)


def option_name(mask: str, keyword_end: int) -> str:
    """The option after a ``set_option`` keyword ending at ``keyword_end`` ('' if none)."""
    i = keyword_end
    while i < len(mask) and mask[i] in " \t\r\n":
        i += 1
    m = NAME_RE.match(mask, i)
    return m.group() if m else ""


# -- header ----------------------------------------------------------------------------------------
_HEADER_COMMAND_RE = re.compile(r"(?m)^[ \t]*(import|open|set_option)(?![\w'!?])")


def header_commands(header_mask: str) -> list[tuple[int, int, str]]:
    """(start, end, keyword) of each command in a header (the header's masked text): one
    command runs from its keyword at a line start to the next one, trailing blanks cut."""
    starts = [(m.start(1), m.group(1)) for m in _HEADER_COMMAND_RE.finditer(header_mask)]
    out = []
    for k, (s, kw) in enumerate(starts):
        e = starts[k + 1][0] if k + 1 < len(starts) else len(header_mask)
        out.append((s, s + len(header_mask[s:e].rstrip()), kw))
    return out
