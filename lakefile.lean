import Lake
open Lake DSL

-- Written by `prover setup`: the Lean environment proofs are verified in.
package «prover-workspace» where

require mathlib from git
  "https://github.com/leanprover-community/mathlib4.git" @ "d1d1e4b72c6e009edd97cabe1d661b021fe8eeae"

require REPL from git
  "https://github.com/leanprover-community/repl.git" @ "v4.9.0-rc1"
