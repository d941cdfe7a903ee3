"""What every trainer is configured by: the model side (precision, LoRA, checkpointing), the
schedule (epochs or steps, learning rate, seed) and the prompt format records are shown in.
``SftOptions`` and ``GrpoOptions`` add their own fields to these."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from prover.train.errors import TrainInputError


@dataclass(frozen=True)
class TrainerOptions:
    prompt_format: str = "deepseek-v1.5"
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs
    learning_rate: float = 1e-4
    seed: int = 0
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    dtype: str = "auto"
    gradient_checkpointing: bool = False
    logging_steps: int = 10

    # Fields that must be at least 1; subclasses add theirs.
    POSITIVE_INTS: ClassVar[tuple[str, ...]] = ("logging_steps", "lora_r")

    def check(self) -> None:
        for name in self.POSITIVE_INTS:
            if getattr(self, name) < 1:
                raise TrainInputError(f"{name} must be at least 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise TrainInputError("max_steps must be at least 1")
        if self.epochs <= 0 or self.learning_rate <= 0:
            raise TrainInputError("epochs and learning rate must be positive")
