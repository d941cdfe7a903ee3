"""Training on verified proofs: supervised fine-tuning (``sft``) and RL from Lean's verdict
(``grpo``), as DeepSeek-Prover-V1.5 trains its prover (shared/reference/deepseek-prover.md §2).

Contract: importing this package, or any of its modules, costs nothing heavy. torch,
transformers, datasets, trl and peft are imported inside the functions that train, and a
missing one raises ``TrainDependencyError`` saying ``pip install "lean-prover[train]"``.

Modules: ``records`` (the JSONL training records ``prover synth`` writes), ``masking`` (which
characters and tokens carry loss), ``examples`` (records -> prompt/completion examples ->
token ids and labels), ``sft`` and ``grpo`` (the two trainers), ``reward`` (Lean's verdict as
a reward), ``checkpoint`` (loading the base model, writing the output directory and its
manifest), ``cli`` (the ``prover train`` command group).
"""

__all__: list[str] = []  # the modules are the API; importing this package costs nothing
