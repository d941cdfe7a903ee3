"""The axiom audit: what ``#print axioms`` says a proved theorem rests on.

Contract: ``parse_print_axioms`` reads one Lean info message, in either of its two real
forms, ``'x' depends on axioms: [propext, Classical.choice, Quot.sound]`` (Lean wraps a long
list over several lines, indenting the continuation) and ``'x' does not depend on any
axioms``; anything else is ``None``. ``audit_axioms`` turns a list into ``Finding``s: every
axiom outside ``ALLOWED_AXIOMS`` blocks. Pure, standard library only.

Codes: ``sorry`` for ``sorryAx`` (what a hidden ``sorry`` leaves behind, e.g. Lean 4.9's
``apply?``); ``native_decide`` for the compiler-trust axioms (``Lean.ofReduceBool``,
``Lean.ofReduceNat``, ``Lean.trustCompiler``, and the ``thm._native.native_decide.ax_1_1``
axioms newer Lean emits per use), blocking unless ``allow_native_decide``, then reported
non-blocking, as ``integrity`` does for the tactic; ``axiom`` for everything else. Audit
findings have no source position: ``line == column == 0``.
"""
from __future__ import annotations

import re

from .integrity import Finding, components

ALLOWED_AXIOMS = ("propext", "Classical.choice", "Quot.sound")
_ALLOWED = frozenset(components(a) for a in ALLOWED_AXIOMS)
_NATIVE = frozenset(components(a) for a in
                    ("Lean.ofReduceBool", "Lean.ofReduceNat", "Lean.trustCompiler"))

# The name is quoted with '…' and may itself contain quotes (`foo'`), never a line break.
_DEPENDS_RE = re.compile(r"'(?P<name>[^\n]+)' depends on axioms:\s*\[(?P<axioms>[^\]]*)\]")
_NONE_RE = re.compile(r"'(?P<name>[^\n]+)' does not depend on any axioms")
# One list entry: «escaped» parts may hold commas, so split outside them only.
_ENTRY_RE = re.compile(r"(?:«[^»]*»|[^,«])+")
_SPACE_RE = re.compile(r"«[^»]*»|\s+")


def parse_print_axioms(data: str) -> tuple[str, tuple[str, ...]] | None:
    """``(name, axioms)`` from one ``#print axioms`` message, or None if it is not one."""
    text = data.strip()
    if m := _NONE_RE.fullmatch(text):
        return m.group("name"), ()
    if m := _DEPENDS_RE.fullmatch(text):
        # Wrapped lists break after a comma and indent: whitespace goes, except in «…».
        entries = (_SPACE_RE.sub(lambda w: w.group() if w.group()[0] == "«" else "", e)
                   for e in _ENTRY_RE.findall(m.group("axioms")))
        return m.group("name"), tuple(e for e in entries if e)
    return None


def _is_native(parts: tuple[str, ...]) -> bool:
    # Lean ≥ 4.2x: `native_decide` adds an auxiliary axiom `thm._native.native_decide.ax_1_1`.
    return parts in _NATIVE or "_native" in parts


def audit_axioms(name: str, axioms: tuple[str, ...] | list[str], *,
                 allow_native_decide: bool = False) -> list[Finding]:
    """One finding per axiom of ``name`` outside ``ALLOWED_AXIOMS`` (see the module doc)."""
    findings = []
    for axiom in axioms:
        parts = components(axiom)
        if parts in _ALLOWED:
            continue
        if parts == ("sorryAx",) or parts == ("Lean", "sorryAx"):
            findings.append(Finding("sorry", f"`{name}` depends on `sorryAx`: a gap was admitted",
                                    0, 0))
        elif _is_native(parts):
            allowed = " (allowed by the options)" if allow_native_decide else ""
            findings.append(Finding(
                "native_decide", f"`{name}` trusts compiled code through `{axiom}`{allowed}", 0, 0,
                blocking=not allow_native_decide))
        else:
            allowed = ", ".join(ALLOWED_AXIOMS)
            findings.append(Finding("axiom", f"`{name}` depends on `{axiom}`, outside {allowed}",
                                    0, 0))
    return findings


__all__ = ["ALLOWED_AXIOMS", "audit_axioms", "parse_print_axioms"]
