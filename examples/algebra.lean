import Mathlib
import Aesop

set_option maxHeartbeats 400000

open BigOperators Real Nat Topology Rat

/-- The sum of two squares of reals is nonnegative. -/
theorem sq_add_sq_nonneg (a b : ℝ) : 0 ≤ a ^ 2 + b ^ 2 := by
  positivity

theorem linear_solve (x : ℝ) (h₀ : 3 * x + 2 = 11) : x = 3 := by
  linarith

theorem mod_example : (2 ^ 10 : ℕ) % 7 = 2 := by
  norm_num
