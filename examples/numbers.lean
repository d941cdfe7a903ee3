import Mathlib

-- Facts about natural-number numerals: `norm_num` or `decide` close them.

theorem two_pow_ten : (2 : ℕ) ^ 10 = 1024 := by
  sorry

theorem mod_seven : 2023 % 7 = 0 := by
  sorry

theorem seventeen_dvd : 17 ∣ 1700 := by
  sorry
