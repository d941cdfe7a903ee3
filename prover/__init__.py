"""prover package."""
