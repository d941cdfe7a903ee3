import Mathlib

/-- Squares are nonnegative, and so is their sum (`positivity`). -/
theorem sq_sum_nonneg (a b : ℝ) : 0 ≤ a ^ 2 + b ^ 2 := by
  sorry

/-- The two-variable AM-GM inequality (`nlinarith` with the hint `sq_nonneg (a - b)`). -/
theorem two_mul_le_sq_add_sq (a b : ℝ) : 2 * a * b ≤ a ^ 2 + b ^ 2 := by
  sorry

theorem pos_of_pos (x y : ℝ) (hx : 0 < x) (hy : 0 < y) : 0 < x * y + x := by
  sorry
