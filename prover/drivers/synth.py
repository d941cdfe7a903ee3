"""``prover synth``: prove a statement set and turn every verified proof into training records.

It is an evaluation run (``runner.run_eval``: one attempt line per attempt, fsync'd, resumable,
sharded) whose driver also writes ``records.jsonl``: one ``prover.records.TrainingRecord`` per
verified proof, plus one per lemma that decomposition proved on the way (each lemma is a
theorem of its own to a model in training). Records are keyed by content hash, so a proof
found twice is written once; after a crash between an attempt line and its records, the next
start rebuilds the missing records from the attempt lines (``backfill``), so none is lost.

The attempts themselves run ``runner.run_attempt`` and then check the proof once more with
tactic states, to annotate it (``search.annotate``); that happens where the attempt runs (it
needs Lean), and the line carries the result.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from benchmarks.checkpoints import TreeCheckpoints
from benchmarks.datasets import BenchmarkItem, DatasetError, as_tactic_block
from benchmarks.resultlog import ResultLog
from benchmarks.runner import EvalPlan, LocalAttempts, Watch
from prover.records import TrainingRecord
from search.annotate import annotated
from search.decompose import sibling_problem
from search.problem import DEFAULT_HEADER, Problem

RECORDS = "records.jsonl"


def load_statements(path: Path) -> list[BenchmarkItem]:
    """Statements from JSONL: ``name`` and ``formal_statement`` required; ``header`` (default
    the miniF2F/DeepSeek header), ``theorem_name`` (the Lean name when ``name`` is only an id),
    ``formal_statement_with_answer`` (preferred when present, as PutnamBench's main track),
    ``informal_prefix``, ``split`` optional. The benchmark files are statement sets too."""
    from benchmarks.datasets import read_jsonl

    items, seen = [], set()
    source = Path(path).stem
    for where, record in read_jsonl(Path(path)):
        for key in ("name", "formal_statement"):
            if not isinstance(record.get(key), str) or not record[key]:
                raise DatasetError(f"{where}: a statement needs a string {key!r}")
        if record["name"] in seen:
            raise DatasetError(f"{where}: duplicate name {record['name']!r}")
        seen.add(record["name"])
        statement = record.get("formal_statement_with_answer") or record["formal_statement"]
        problem = Problem(name=record.get("theorem_name") or record["name"],
                          header=record.get("header") or DEFAULT_HEADER,
                          statement=as_tactic_block(statement, where),
                          informal=record.get("informal_prefix") or None, source=source)
        items.append(BenchmarkItem(benchmark=source, name=record["name"],
                                   split=record.get("split") or "all", category="all",
                                   problem=problem, known_issue=None, record=record))
    if not items:
        raise DatasetError(f"{path} holds no statements")
    return items


class SynthAttempts(LocalAttempts):
    """Local attempts that also annotate each proof with tactic states (one more Lean check,
    with ``allTactics``) and keep the verifier's version, for the records. A problem's
    attempts share its verdicts, as ``runner.LocalAttempts``' do."""

    def __init__(self, plan: EvalPlan, *, proposer: Any, lean: Any, run: str = "",
                 watch: Watch | None = None, checkpoints: TreeCheckpoints | None = None) -> None:
        super().__init__(plan, proposer=proposer, lean=lean, run=run, watch=watch,
                         checkpoints=checkpoints)
        self.annotations: Annotations = {}

    async def __call__(self, item: Any, attempt: int, timeout: float | None) -> dict[str, Any]:
        line = await super().__call__(item, attempt, timeout)
        return await enrich(line, item, self.lean, self.annotations)


# (header, statement, proof) -> (annotated proof, Lean version): attempts often find the same
# proof again (the portfolio does every time), and its states need one Lean check, not one each.
Annotations = dict[tuple[str, str, str], tuple[str | None, str | None]]


async def _annotated_once(lean: Any, problem: Problem, proof: str,
                          cache: Annotations | None) -> tuple[str | None, str | None]:
    key = (problem.header, problem.statement, proof)
    if cache is not None and key in cache:
        return cache[key]
    result = await annotated(lean, problem, proof)
    if cache is not None:
        cache[key] = result
    return result


async def enrich(line: dict[str, Any], item: Any, lean: Any,
                 cache: Annotations | None = None) -> dict[str, Any]:
    """Add ``annotated_proof``, ``lean_version`` and the proved lemmas to a proved line."""
    if not line.get("proved"):
        return line
    text, version = await _annotated_once(lean, item.problem, line["proof"], cache)
    lemmas = []
    for lemma in line.get("lemmas") or []:
        if lemma.get("solved") and lemma.get("proof"):
            problem = lemma_problem_of(item.problem, lemma)
            lemma_text, _ = await _annotated_once(lean, problem, lemma["proof"], cache)
            lemmas.append({**lemma, "annotated_proof": lemma_text})
        else:
            lemmas.append(lemma)
    return {**line, "annotated_proof": text, "lean_version": version, "lemmas": lemmas}


def lemma_problem_of(problem: Problem, lemma: Mapping[str, Any]) -> Problem:
    return sibling_problem(problem, lemma["name"], as_tactic_block(lemma["statement"]))


def records_of(line: Mapping[str, Any], item: Any, plan: EvalPlan, *,
               package_version: str | None) -> list[TrainingRecord]:
    """The training records of one attempt line: its theorem's proof and each proved lemma."""
    if not line.get("proved") or not line.get("proof"):
        return []
    verifier = {"lean": line.get("lean_version"), "prover": package_version}
    common = dict(source=item.benchmark, verifier=verifier, search=plan.method,
                  policy=plan.policy, run=line.get("run", ""))
    lemmas = [lemma for lemma in line.get("lemmas") or [] if lemma.get("proof")]
    out = [TrainingRecord(
        name=item.problem.name, header=item.problem.header, statement=item.problem.statement,
        proof=line["proof"], annotated_proof=line.get("annotated_proof"), kind="theorem",
        informal=item.problem.informal, lemmas=tuple(lemma["name"] for lemma in lemmas), **common)]
    for lemma in lemmas:
        problem = lemma_problem_of(item.problem, lemma)
        out.append(TrainingRecord(
            name=lemma["name"], header=problem.header, statement=problem.statement,
            proof=lemma["proof"],
            annotated_proof=lemma.get("annotated_proof"), kind="lemma",
            parent=item.problem.name, **common))
    return out


class RecordSink:
    """Where the driver puts the records of each finished attempt (``records.jsonl``)."""

    def __init__(self, directory: Path, items: Sequence[Any], plan: EvalPlan, *,
                 package_version: str | None) -> None:
        # Every shard of the run appends here.
        self.log = ResultLog(Path(directory) / RECORDS, key=lambda record: record["id"],
                             shared=True)
        self.items = {item.name: item for item in items}
        self.plan, self.package_version = plan, package_version
        self.written = 0

    @property
    def path(self) -> Path:
        return self.log.path

    @property
    def total(self) -> int:
        return len(self.log.done)

    def add(self, line: Mapping[str, Any]) -> int:
        """Append the records of ``line`` not written yet; how many were new."""
        item = self.items.get(line["problem"])
        if item is None:
            return 0
        new = sum(self.log.append(r.to_json()) for r in
                  records_of(line, item, self.plan, package_version=self.package_version))
        self.written += new
        return new

    def backfill(self, lines: Iterable[Mapping[str, Any]]) -> int:
        """Records for attempt lines whose records a crash kept from being written."""
        return sum(self.add(line) for line in lines)

    def close(self) -> None:
        self.log.close()
