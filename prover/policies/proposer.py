"""Proposers: the application's implementations of the protocols search asks through
(``search.protocols``: proofs of a problem, continuations, tactics for a goal). Search
depends on those protocols only; which model, prompt format or portfolio stands behind them
is wiring, done here.

* ``LMProposer`` = any ``Policy`` + a ``PromptFormat``: it builds the request, calls the
  policy once, and post-processes by the format's output kind (``prover.policies.prompts``).
* ``PortfolioPolicy`` (``prover.policies.portfolio``) implements both protocols directly.
* ``search.mix.MixProposer`` asks several in order (e.g. the portfolio, then a model).

Self-correction: ``LMProposer`` keeps on each proof proposal the request and the model's raw
answer (``correction.Turn``, in ``Proposal.history``), and ``propose_correction`` builds the
next turn from them and Lean's verdict in its format's correction style
(``prover.policies.correction``). The portfolio has no model to correct and does not offer it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from lean_bridge.outcome import CheckResult
from prover.policies.correction import Turn, next_parts, style_for
from prover.policies.policy import Completion, GenerationRequest, Policy
from prover.policies.prompts import PromptFormat, PromptParts, proof_from_full_file
from search.mix import MixProposer
from search.problem import Problem
from search.protocols import Proposal, StepContext


@dataclass
class LMProposer:
    """A language model behind the proposer protocols.

    Post-processing by ``format.output``: ``continuation`` (V1.5) keeps the text before
    the first fence, which continues ``prefix``; ``file`` (chat formats) takes the block the
    format's ``extract`` picks (the last ``lean4`` block for most; "" when the format's
    authors refuse the answer) and grafts its proof onto the statement
    (``proof_from_full_file``); ``tactic`` keeps what the format's ``extract`` keeps (the
    first line for ``next-tactic``; step provers' own rules and candidate filters).
    Unparseable or refused outputs, and empty ones where there is no prefix, are dropped
    and counted in ``dropped``. An empty continuation of a non-empty prefix is kept (as ""):
    the prefix alone may be the proof (a rollout that closed the goal, then failed on a
    redundant line), and it is what the model says then. A format of the wrong kind for the
    call raises ``ValueError``: proofs need a ``continuation``/``file`` format, tactics a
    ``tactic`` one.
    """

    policy: Policy
    format: PromptFormat
    max_tokens: int = 2048
    top_p: float = 0.95
    tactic_temperature: float = 1.0  # the tactic protocol carries no temperature
    dropped: int = field(default=0)

    def _request(self, parts: PromptParts, n: int, temperature: float, seed: int | None
                 ) -> GenerationRequest:
        return parts.request(n=n, temperature=temperature, top_p=self.top_p,
                             max_tokens=self.max_tokens, stop=self.format.stop, seed=seed)

    async def _generate(self, request: GenerationRequest) -> list[Completion]:
        return (await self.policy.generate([request]))[0]

    async def propose_proofs(self, problem: Problem, n: int, *, prefix: str = "",
                             tactic_state: str | None = None, seed: int | None = None,
                             temperature: float = 1.0, state_comment: str | None = None
                             ) -> list[Proposal]:
        if self.format.output == "tactic":
            raise ValueError(f"format {self.format.name!r} proposes tactics, not proofs")
        parts = self.format.build(problem, prefix, tactic_state, state_comment=state_comment)
        return await self._proofs(problem, parts, n, temperature, seed, prefix)

    async def _proofs(self, problem: Problem, parts: PromptParts, n: int, temperature: float,
                      seed: int | None, prefix: str = "") -> list[Proposal]:
        request = self._request(parts, n, temperature, seed)
        out = []
        for c in await self._generate(request):
            text = self._proof(problem, c.text)
            if text is not None and not text.strip() and prefix:
                text = ""  # the prefix alone is the candidate
            elif text is None or not text.strip():
                self.dropped += 1
                continue
            out.append(Proposal(text, c.logprob, c.tokens, history=Turn(parts, c.text)))
        return out

    def can_correct(self) -> bool:
        """Whether the format has a correction style (every proof format has one)."""
        return style_for(self.format) is not None

    async def propose_correction(self, problem: Problem, history: Sequence[Proposal],
                                 check: CheckResult, *, seed: int | None = None,
                                 temperature: float = 1.0) -> list[Proposal]:
        """One generation: the answer to Lean's ``check`` of ``history[-1]`` (the round
        ``len(history) - 1`` answer), in the format's correction style; nothing when the last
        proposal is not one of this proposer's or the answer gives no proof."""
        style = style_for(self.format)
        last = history[-1] if history else None
        if style is None or last is None or not isinstance(last.history, Turn):
            return []
        parts = next_parts(style, last.history, problem, problem.file_with(last.text), check,
                           round=len(history) - 1)
        return await self._proofs(problem, parts, 1, temperature, seed)

    def _proof(self, problem: Problem, raw: str) -> str | None:
        if self.format.output == "continuation":
            return self.format.extract(raw)
        block = self.format.extract(raw)  # the format's own rule: which block, what is refused
        return proof_from_full_file(problem, block) if block.strip() else None

    def token_counter(self) -> Callable[[str], int] | None:
        """The policy's tokenizer count (``prover.policies.tokens.policy_token_counter``);
        None when the policy has none."""
        from prover.policies.tokens import policy_token_counter

        return policy_token_counter(self.policy)

    async def propose_tactics(self, goal: str, n: int, *, seed: int | None = None,
                              context: StepContext | None = None) -> list[Proposal]:
        if self.format.output != "tactic" or self.format.build_goal is None:
            raise ValueError(f"format {self.format.name!r} proposes proofs, not tactics")
        parts = self.format.build_goal(goal, context)
        request = self._request(parts, n, self.tactic_temperature, seed)
        out = []
        for c in await self._generate(request):
            tactic = self.format.extract(c.text)
            if not tactic:
                self.dropped += 1
                continue
            out.append(Proposal(tactic, c.logprob, c.tokens))
        return out


__all__ = ["LMProposer", "make_proposer"]


def make_proposer(spec: str, *, prompt_format: str | None = None, batch_window: float = 0.005,
                  policy_for: Any = None):
    """The proposer a spec string names: what the CLI and config files use.

    ``portfolio`` needs no model; ``hf:``/``vllm:``/``openai:`` wrap the backend in a
    ``BatchingPolicy`` (concurrent searches share batches) and a prompt format (default
    ``deepseek-v1.5``, the completion format the public prover models were trained on; each
    family's own is in ``prover.policies.prompts.PROMPT_FORMATS``: ``goedel-v2``, ``kimina``,
    ``kimina-2025``, ``deepseek-v2`` … for chat models, ``internlm2-step``, ``bfs-prover`` …
    for best-first); ``mix:A,B`` asks A first, then B.
    ``policy_for(part)`` may supply a part's policy instead (e.g. one hosted elsewhere); it
    returns None for the parts it does not host.
    """
    from prover.policies.backends.factory import make_policy
    from prover.policies.backends.spec import BackendSpec, parse_spec
    from prover.policies.policy import BatchingPolicy
    from prover.policies.portfolio import PortfolioPolicy
    from prover.policies.prompts import get_format

    def build(part: BackendSpec):
        policy = policy_for(part) if policy_for is not None else None
        if policy is None:
            if part.kind == "portfolio":
                return PortfolioPolicy()
            policy = BatchingPolicy(make_policy(part), window=batch_window)
        return LMProposer(policy, get_format(prompt_format or "deepseek-v1.5"))

    parsed = parse_spec(spec)
    if parsed.kind == "mix":
        return MixProposer([build(part) for part in parsed.parts])
    return build(parsed)
