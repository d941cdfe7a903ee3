import Mathlib

/-
  `prover prove examples/linear.lean` fills in these `sorry`s (the portfolio finds `linarith`);
  add `--dry-run` to see the proofs without rewriting the file.
-/

/-- Solve `3x + 2 = 11`. -/
theorem linear_eq (x : ℝ) (h₀ : 3 * x + 2 = 11) : x = 3 := by
  sorry

/-- Two equations in two unknowns. -/
theorem two_equations (a b : ℝ) (h₀ : a + b = 10) (h₁ : a - b = 2) : a = 6 := by
  sorry

theorem scaled (y : ℝ) (h₀ : 2 * y - 7 = 5) : y = 6 := by
  sorry
