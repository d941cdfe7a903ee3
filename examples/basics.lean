/-
  Mathlib-free examples: `prover check examples/basics.lean` verifies them with Lean core only.
-/

theorem two_add_two : 2 + 2 = 4 := by
  decide

theorem add_zero_right (n : Nat) : n + 0 = n := by
  simp

/-- Addition on natural numbers commutes (a docstring is part of the declaration). -/
theorem my_add_comm (a b : Nat) : a + b = b + a := by
  omega

theorem and_swap (p q : Prop) (h : p ∧ q) : q ∧ p :=
  ⟨h.2, h.1⟩
