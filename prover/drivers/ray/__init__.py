"""``--ray``: the same attempts, searches and checks, run by Ray actors spread over a cluster.

What runs where:

* **Lean workers** (``LeanWorker``, one Ray actor per CPU, ``num_cpus`` = its REPL processes):
  each owns a header-keyed ``ReplPool`` with the local limits (``max_requests`` recycling,
  ``header_timeout``, the memory limit of the ``ReplSpec``), a ``LeanChecker`` with the
  per-request ``timeout``, and a proposer, and runs whole attempts (``runner.run_attempt``,
  plus ``synth.enrich`` for synth), whole theorem searches (``prove``) and file checks.
* **Generation servers** (``PolicyServer``, one per GPU, or per ``tensor_parallel_size`` GPUs for
  vLLM): the ``hf:``/``vllm:`` policies, behind a ``BatchingPolicy`` on the server side, so the
  requests of every Lean worker coalesce into the engine's batches. A worker's proposer talks to
  them through ``RemotePolicy``. ``portfolio`` and ``openai:`` (a client of servers that exist
  anyway) live inside each Lean worker.
* **The driver** (the ``prover`` process) schedules: each attempt is an actor method call (a Ray
  task) on an idle worker, preferably one already warm on the problem's import header, and
  ``runner.run_eval`` writes every result line exactly as in local mode: same files, resumable,
  no line written anywhere else, so a lost node can neither lose nor duplicate one.
  Unlike local attempts, the attempts of a problem share no verdicts (each remote attempt is
  its own search on whatever worker runs it): a candidate judged by attempt 0 costs attempt 1
  a Lean call again, so ``lean_calls`` may be higher than in local mode (``distinct`` is the
  same).

Failure rule: when the worker running a call dies (actor killed, process gone, node lost), it
is replaced by a new actor and the call is retried once; a second loss gives an ``error``
line, which a rerun redoes (``runner.is_final``). A call that outlives its wall-clock limit by
``GRACE_S`` is cancelled (``ray.cancel``) and its worker replaced. Generation servers are
restarted by Ray itself (``max_restarts``, ``max_task_retries``): their handles live inside
every worker, and a seeded request gives the same completions when asked again.

RMaxTS trees are not checkpointed on Ray (locally they are: ``benchmarks.checkpoints``): a
worker writes to its own node's disk, and the retry of a lost call, like a rerun of the driver,
may run on another node, which cannot read it. A Ray attempt cut off restarts its tree.

Ray is an optional dependency (``pip install 'lean-prover[ray]'``): it is imported only when
``--ray`` is used, and this module imports without it. The actor classes are plain classes,
made remote with ``ray.remote(cls)`` at start.
"""
from __future__ import annotations

from prover.drivers.ray.cluster import (
    Cluster,
    RayProver,
    RemoteFileChecker,
    ray_attempts,
    ray_cluster,
    ray_prover,
    worker_count,
)
from prover.drivers.ray.fleet import Fleet, Member, RayAttempts, WorkerLost
from prover.drivers.ray.runtime import (
    GRACE_S,
    INSTALL_HINT,
    START_TIMEOUT_S,
    RayUnavailable,
    connect,
    import_ray,
)
from prover.drivers.ray.serving import (
    GPU_KINDS,
    SERVER_RESTARTS,
    PolicyServer,
    RemotePolicy,
    ServerPlan,
    build_proposer,
    gpus_per_engine,
    hosted_on,
    hosted_parts,
    plan_servers,
)
from prover.drivers.ray.worker import LeanWorker, portable_item

__all__ = [
    "Cluster", "Fleet", "GPU_KINDS", "GRACE_S", "INSTALL_HINT", "LeanWorker", "Member",
    "PolicyServer", "RayAttempts", "RayProver", "RayUnavailable", "RemoteFileChecker",
    "RemotePolicy", "SERVER_RESTARTS", "START_TIMEOUT_S", "ServerPlan", "WorkerLost",
    "build_proposer", "connect", "gpus_per_engine", "hosted_on", "hosted_parts", "import_ray",
    "plan_servers", "portable_item", "ray_attempts", "ray_cluster", "ray_prover",
    "worker_count",
]
