"""The ``prover`` command line. Thin: it parses options, wires concrete pieces together and
maps outcomes to exit codes. Heavy imports happen inside the commands that need them.

Exit codes (a contract for scripts): 0 everything checked/proved, 1 something was not,
2 usage or input error, 3 no Lean/REPL could be started (the message says how to fix it),
4 (`prove`) the file changed while prove ran, so nothing was written, 130 interrupted.
"""
from __future__ import annotations

import click

from prover.cli.bench import bench_system
from prover.cli.eval import eval_command, report_command, synth_command
from prover.cli.lean import check, setup
from prover.cli.models import models_command
from prover.cli.prove import prove
from prover.cli.train import iterate, train


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lean-prover")
def cli() -> None:
    """A neural theorem prover for Lean 4.

    Start with `prover setup` (installs Lean, Mathlib and the REPL on first use), then
    `prover prove FILE.lean` to fill in the `sorry` proofs of a file, or `prover check
    FILE.lean` to verify its theorems; `prover models` lists the model families it knows. `prover eval` runs miniF2F, ProofNet or PutnamBench
    (then `prover report`); `prover synth`, `prover train` and `prover iterate` turn verified
    proofs into training data and models.
    """


for _command in (setup, check, prove, bench_system, eval_command, report_command, synth_command,
                 train, iterate, models_command):
    cli.add_command(_command)


def main() -> None:
    cli()


__all__ = ["cli", "main"]

if __name__ == "__main__":
    main()
