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

import sys
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from lean_bridge.outcome import CheckResult
from prover.policies.correction import KIMINA_2025, Turn, next_parts, style_for
from prover.policies.families import (
    DEFAULT_FORMAT,
    DEFAULT_MAX_TOKENS,
    DEFAULT_TOP_P,
    ModelFamily,
    family_for_model,
)
from prover.policies.policy import Completion, GenerationRequest, Policy, policy_context_length
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
    ``temperature``, when set (the model family's or ``--temperature``), replaces the one
    the search asks with; ``stop`` (None: the format's) and ``presence_penalty`` go into
    every request. ``max_tokens`` is cut, per request, to what the prompt leaves of the
    served model's context when the policy knows it (a warning says so once).
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
    temperature: float | None = None
    stop: tuple[str, ...] | None = None
    presence_penalty: float = 0.0
    warn: Callable[[str], None] | None = None  # default: warn_once (stderr)
    dropped: int = field(default=0)
    _context: int | None = field(default=None, repr=False)  # 0: unknown
    _clamped: bool = field(default=False, repr=False)

    def _request(self, parts: PromptParts, n: int, temperature: float, seed: int | None
                 ) -> GenerationRequest:
        return parts.request(
            n=n, temperature=temperature if self.temperature is None else self.temperature,
            top_p=self.top_p, max_tokens=self.max_tokens,
            stop=self.format.stop if self.stop is None else self.stop, seed=seed,
            presence_penalty=self.presence_penalty)

    async def _generate(self, request: GenerationRequest) -> list[Completion]:
        return (await self.policy.generate([await self._fit(request)]))[0]

    async def _fit(self, request: GenerationRequest) -> GenerationRequest:
        """``request`` with ``max_tokens`` cut to what its prompt leaves of the context."""
        if self._context is None:
            self._context = await policy_context_length(self.policy) or 0
        if not self._context:
            return request
        text = request.prompt if request.messages is None else \
            "".join(m.content for m in request.messages)
        # A (byte-level BPE) token is at least one UTF-8 byte: the byte count bounds the
        # prompt's tokens; the tokenizer, when there is one, says exactly.
        used = len(text.encode("utf-8"))
        if used + request.max_tokens > self._context:
            counter = self.token_counter()
            if counter is not None:
                used = counter(text)
        used += 32 if request.messages else 0  # the chat template's own tokens
        limit = max(1, self._context - used)
        if request.max_tokens <= limit:
            return request
        if not self._clamped:
            self._clamped = True
            (self.warn or warn_once)(
                f"max_tokens {request.max_tokens} does not fit the served model's context of "
                f"{self._context} tokens: each request asks for at most what its prompt "
                f"leaves (here {limit})")
        return replace(request, max_tokens=limit)

    async def propose_proofs(self, problem: Problem, n: int, *, prefix: str = "",
                             tactic_state: str | None = None, seed: int | None = None,
                             temperature: float = 1.0, state_comment: str | None = None
                             ) -> list[Proposal]:
        if self.format.output == "tactic":
            raise ValueError(f"format {self.format.name!r} proposes tactics, not proofs")
        parts = self.format.build(problem, prefix, tactic_state, state_comment=state_comment)
        return await self._proofs(problem, parts, n, temperature, seed, prefix)

    async def _proofs(self, problem: Problem, parts: PromptParts, n: int, temperature: float,
                      seed: int | None, prefix: str = "",
                      presence_penalty: float | None = None) -> list[Proposal]:
        request = self._request(parts, n, temperature, seed)
        if presence_penalty is not None:
            request = replace(request, presence_penalty=presence_penalty)
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
        # Kimina's demo asks its error-fix turn without the first turn's presence penalty.
        penalty = 0.0 if style == KIMINA_2025 else None
        return await self._proofs(problem, parts, 1, temperature, seed, presence_penalty=penalty)

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


__all__ = ["LMProposer", "ModelChoice", "Sampling", "choose_model", "make_proposer",
           "warn_once"]

_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    """``warning: message`` on stderr, once per process."""
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"warning: {message}", file=sys.stderr)


@dataclass(frozen=True)
class Sampling:
    """Sampling the user set (flag, ``PROVER_*`` or ``prover.toml``); None: not set."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None

    @classmethod
    def of(cls, settings: Any) -> "Sampling":
        """From a ``Settings`` (or anything with those attributes; missing ones: not set)."""
        return cls(*(getattr(settings, k, None) for k in ("temperature", "top_p", "max_tokens")))


@dataclass(frozen=True)
class ModelChoice:
    """What a model is run with: its family (None: unknown), the prompt format and sampling."""

    family: ModelFamily | None
    prompt_format: str
    temperature: float | None  # None: the search's own (1.0)
    top_p: float
    max_tokens: int
    stop: tuple[str, ...] | None  # None: the format's
    presence_penalty: float = 0.0


def model_id(part: Any) -> str:
    """The model a backend spec part names: the path or hub id (hf, vllm), ``MODEL`` (openai)."""
    return part.model if part.kind == "openai" else part.target


def choose_model(model: str, *, prompt_format: str | None = None,
                 sampling: Sampling = Sampling(),
                 warn: Callable[[str], None] = warn_once) -> ModelChoice:
    """The family of ``model`` (``family_for_model``), its prompt format unless
    ``prompt_format`` is given, and its sampling where ``sampling`` sets none. An unknown model
    without ``--prompt-format`` is warned about (the formats are listed) and gets
    ``deepseek-v1.5``; so does a family whose format this version does not have."""
    from prover.policies.prompts import PROMPT_FORMATS

    family = family_for_model(model, prompt_format)
    fmt = prompt_format
    if fmt is None and family is None:
        from prover.policies.model_dirs import describe

        said = describe(model)
        warn(f"no model family matches {model!r}{f' ({said})' if said else ''}, so the "
             f"prompt format is {DEFAULT_FORMAT} "
             f"(sampling: as set, else 1.0 / 0.95 / 2048); name one with --prompt-format "
             f"({', '.join(PROMPT_FORMATS)}); `prover models` lists the families")
        fmt = DEFAULT_FORMAT
    elif fmt is None:
        assert family is not None
        fmt = family.prompt_format
        if fmt not in PROMPT_FORMATS:
            warn(f"{family.name}'s prompt format {fmt} is not available in this version; "
                 f"using {DEFAULT_FORMAT} (choose with --prompt-format)")
            fmt = DEFAULT_FORMAT
    temperature = sampling.temperature
    top_p, max_tokens = sampling.top_p, sampling.max_tokens
    stop, presence = None, 0.0
    if family is not None:
        # A family without a published temperature leaves the search's own (1.0).
        temperature = family.temperature if temperature is None else temperature
        top_p = family.top_p if top_p is None else top_p
        max_tokens = family.max_tokens if max_tokens is None else max_tokens
        if fmt == family.prompt_format:
            stop = family.stop
        presence = float(dict(family.extra_sampling).get("presence_penalty", 0.0))
    return ModelChoice(family, fmt, temperature,
                       DEFAULT_TOP_P if top_p is None else top_p,
                       DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens, stop, presence)


def make_proposer(spec: str, *, prompt_format: str | None = None, batch_window: float = 0.005,
                  policy_for: Any = None, sampling: Sampling = Sampling(),
                  warn: Callable[[str], None] = warn_once):
    """The proposer a spec string names: what the CLI and config files use.

    ``portfolio`` needs no model; ``hf:`` wraps the backend in a ``BatchingPolicy`` (concurrent
    searches share batches; ``vllm:``/``openai:`` batch continuously themselves, see
    ``prover.policies.policy.batched``) and an ``LMProposer`` whose prompt
    format and sampling come from the model's family (``choose_model``:
    ``prompt_format`` and ``sampling`` override; an unknown model gets ``deepseek-v1.5``
    with a warning; the formats are ``prover.policies.prompts.PROMPT_FORMATS``);
    ``mix:A,B`` asks A first, then B, each with its own family.
    ``policy_for(part)`` may supply a part's policy instead (e.g. one hosted elsewhere); it
    returns None for the parts it does not host.
    """
    from prover.policies.backends.factory import make_policy
    from prover.policies.backends.spec import BackendSpec, parse_spec
    from prover.policies.policy import batched
    from prover.policies.portfolio import PortfolioPolicy
    from prover.policies.prompts import get_format

    def build(part: BackendSpec):
        policy = policy_for(part) if policy_for is not None else None
        if policy is None:
            if part.kind == "portfolio":
                return PortfolioPolicy()
            policy = batched(make_policy(part), window=batch_window)
        choice = choose_model(model_id(part), prompt_format=prompt_format, sampling=sampling,
                              warn=warn)
        t = choice.temperature
        return LMProposer(policy, get_format(choice.prompt_format), max_tokens=choice.max_tokens,
                          top_p=choice.top_p, temperature=t, stop=choice.stop,
                          presence_penalty=choice.presence_penalty, warn=warn,
                          tactic_temperature=1.0 if t is None else t)

    parsed = parse_spec(spec)
    if parsed.kind == "mix":
        return MixProposer([build(part) for part in parsed.parts])
    return build(parsed)
