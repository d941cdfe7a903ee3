"""Model families: every open prover model as its authors run it, as data.

One ``ModelFamily`` per family and mode: which model ids it covers, its prompt format (a key
of ``prover.policies.prompts.PROMPT_FORMATS``), chat or raw completion, the system message,
stop strings, the extraction rule, the recommended sampling, the Lean / Mathlib / REPL it was
trained and evaluated on, whether its authors published with self-correction, and its
published rows (``benchmarks.published.PUBLISHED``, selected by system name, never copied).
There is no code path per model: the application reads these fields.

Every value comes from ``shared/reference/prompts.md`` (``PM``, the section is given) or, for
the DeepSeek Lean pins, ``shared/reference/deepseek-prover.md`` §4.1 (``DP``); each fact's
upstream file and commit is in the entry's ``sources``. ``None`` means the authors did not
publish the value; ``resolved_sampling`` then falls back to the project's defaults
(``DEFAULT_TEMPERATURE``, ``DEFAULT_TOP_P``, ``DEFAULT_MAX_TOKENS``).

A model with several published modes (DeepSeek-Prover-V1.5 non-CoT / CoT, DeepSeek-Prover-V2
CoT / non-CoT) has one entry per mode with the same ``models`` patterns; the first entry is the
mode a bare model id gets, and ``family_for_model(model, prompt_format=...)`` picks the entry of
another mode when the user names its format.

``family_for_model`` matches case-insensitively against the model's name (the last path part
of a local directory, an ``org/name`` hub id, or the ``MODEL`` of ``openai:URL#MODEL``); the
longest matching pattern wins, so ``Goedel-Prover-V2`` beats ``Goedel-Prover`` and
``Kimina-Prover-Preview`` beats ``Kimina-Prover``. A local directory with a name that matches
nothing is matched through what its files say it came from (``prover.policies.model_dirs``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal

from benchmarks.published import PUBLISHED, PublishedResult
from lean_bridge.workspace import DEFAULT_LEAN, DEFAULT_MATHLIB, DEFAULT_REPL, Pins

DEFAULT_TEMPERATURE = 1.0  # the project's defaults before families existed (V1.5's own)
DEFAULT_TOP_P = 0.95
DEFAULT_MAX_TOKENS = 2048
DEFAULT_FORMAT = "deepseek-v1.5"  # what an unknown model gets, as before

CorrectionStyle = Literal["goedel-v2", "kimina-2025", "comment"]


@dataclass(frozen=True)
class Source:
    """Where one fact comes from: upstream ``repo@commit`` and ``path`` (``ref``: the section
    of shared/reference that quotes it)."""

    fact: str
    repo: str
    path: str
    ref: str


@dataclass(frozen=True)
class ModelFamily:
    name: str
    models: tuple[str, ...]  # case-insensitive patterns matched inside the model name
    prompt_format: str  # key of PROMPT_FORMATS
    chat: bool  # chat template (messages) or raw completion (prompt)
    system: str | None  # the system message of a chat format
    stop: tuple[str, ...]  # stop strings sent with each request
    extraction: str  # which block is taken, how the statement is grafted back, what is refused
    temperature: float | None
    top_p: float | None
    max_tokens: int | None  # max new tokens
    extra_sampling: tuple[tuple[str, Any], ...]  # other published settings (presence_penalty …)
    lean: str  # toolchain tag
    mathlib: str | None  # Mathlib commit (None: not published)
    repl: str | None  # REPL commit or tag (None: not published / not a REPL)
    self_correction: bool  # did its authors publish results with self-correction
    correction: CorrectionStyle | None  # the correction-turn style that fits the family
    published: tuple[PublishedResult, ...]
    sources: tuple[Source, ...]
    mode: str = ""  # "non-cot" | "cot" | "few-shot" | "step"
    method: Literal["whole-proof", "tactic"] = "whole-proof"
    notes: str = ""

    def resolved_sampling(self) -> tuple[float, float, int]:
        """(temperature, top_p, max_tokens), the project defaults where the family has none."""
        return (DEFAULT_TEMPERATURE if self.temperature is None else self.temperature,
                DEFAULT_TOP_P if self.top_p is None else self.top_p,
                DEFAULT_MAX_TOKENS if self.max_tokens is None else self.max_tokens)

    def summary(self) -> dict[str, Any]:
        """The ``prover models --json`` record (the first eleven keys are the contract)."""
        return {
            "name": self.name, "models": list(self.models), "prompt_format": self.prompt_format,
            "chat": self.chat, "temperature": self.temperature, "top_p": self.top_p,
            "max_tokens": self.max_tokens, "lean": self.lean, "mathlib": self.mathlib,
            "repl": self.repl, "self_correction": self.self_correction,
            "mode": self.mode, "method": self.method, "system": self.system,
            "stop": list(self.stop), "extra_sampling": dict(self.extra_sampling),
            "correction": self.correction, "extraction": self.extraction,
            "published": [f"{r.benchmark} {r.system} {r.size} {r.budget}: "
                          + ("?" if r.result is None else f"{r.result}%")
                          for r in self.published],
            "sources": [f"{s.fact}: {s.repo} {s.path} ({s.ref})" for s in self.sources],
            "notes": self.notes,
        }


def _rows(*systems: str) -> tuple[PublishedResult, ...]:
    return tuple(r for r in PUBLISHED if r.system in systems)


# Upstream repositories at the commits prompts.md read.
_V15 = "deepseek-ai/DeepSeek-Prover-V1.5@2c4ba91"
_V2 = "deepseek-ai/DeepSeek-Prover-V2@e598a57"
_G1 = "Goedel-LM/Goedel-Prover@d80349d"
_G2 = "Goedel-LM/Goedel-Prover-V2@2e9036e"
_KIM = "MoonshotAI/Kimina-Prover-Preview@7abd61a"
_ILM = "InternLM/InternLM-Math@eaead17"
_BFS = "zeyu-zheng/BFS-Prover-V2@6118f5f (copy of ByteDance-Seed/BFS-Prover-V2)"
_KIM_ISSUE = "MoonshotAI/Kimina-Prover-Preview issue #9 (maintainer)"
_KIM_CARD = "HF card AI-MO/Kimina-Prover-Preview-Distill-7B (via Goedel-V2 src/utils.py@2e9036e)"

# The DeepSeek verifier: Lean v4.9.0-rc1, Mathlib fork xinhjBrant/mathlib4@2f65ba7 whose
# parent (and only Mathlib content) is upstream d1d1e4b, REPL v4.9.0-rc1 + fork patches (DP §4).
_DS_LEAN = (
    Source("Lean v4.9.0-rc1", _V15, "mathlib4/lean-toolchain", "DP §4.1"),
    Source(f"Mathlib {DEFAULT_MATHLIB} (parent of the fork xinhjBrant/mathlib4@2f65ba7)",
           _V15, ".gitmodules", "DP §4.1"),
    Source(f"REPL {DEFAULT_REPL} (the fork xinhjBrant/repl is based on that tag)", _V15,
           "mathlib4/lakefile.lean", "DP §4.2"),
)
_KIMINA_LEAN = (
    Source("Lean v4.15.0, Mathlib 9837ca9d…, REPL 21966799…", _KIM_ISSUE, "issue #9", "PM §4"),
)
_KIMINA_MATHLIB = "9837ca9d65d9de6fad1ef4381750ca688774e608"
_KIMINA_REPL = "21966799da3691a0912b5a15193585bd2dd7165d"

_V15_EXTRACT = ("the completion up to the first ``` (post_process_output); the proof continues "
                "the prompt's statement, so nothing is grafted; the fence as a stop string is our "
                "inference and cuts at the same place")
_FILE_EXTRACT = ("the last ```lean4 block of the answer (Goedel-V2 DeepSeekCoTHandler.extrac_code); "
                 "its proof is grafted onto the original statement, the model's statement is "
                 "never kept")

_V15_SAMPLING = Source("temperature=1, top_p=0.95, max_tokens=2048", _V15,
                       "configs/sampling.py, quick_start.py", "PM §1")
_V15_PROMPT = Source("non-CoT / CoT prompts, raw completion; cut at the first ```", _V15,
                     "prover/utils.py", "PM §1")

# What DeepSeek-Prover-V1.5's modes share (PM §1): raw completion cut at the fence, one
# sampling setting, the DeepSeek Lean.
_V15_RAW: dict[str, Any] = dict(
    chat=False, system=None, stop=("```",), extraction=_V15_EXTRACT,
    temperature=1.0, top_p=0.95, max_tokens=2048,
    lean=DEFAULT_LEAN, mathlib=DEFAULT_MATHLIB, repl=DEFAULT_REPL, self_correction=False)
# What DeepSeek-Prover-V2's two modes share (PM §2): one user message, no published sampling
# but max_new_tokens, the last block grafted back, V1.5's Lean.
_V2_CHAT: dict[str, Any] = dict(
    chat=True, system=None, stop=(), extraction=_FILE_EXTRACT,
    temperature=None, top_p=None, max_tokens=8192, extra_sampling=(),
    lean=DEFAULT_LEAN, mathlib=DEFAULT_MATHLIB, repl=DEFAULT_REPL, self_correction=False,
    correction="goedel-v2")
# What the two InternLM step provers share (PM §7: one search script each, same settings):
# raw completion of a rendered chat, LeanDojo on Lean v4.7.0, no Mathlib/REPL pin.
_INTERNLM_STEP: dict[str, Any] = dict(
    mode="step", method="tactic", chat=False, system=None, stop=("<|im_end|>",),
    temperature=0.7, top_p=1.0, max_tokens=256,  # top_p unset upstream: vLLM's 1.0
    extra_sampling=(("num_samples", 32), ("beam_search_at_temperature_0", True)),
    lean="v4.7.0", mathlib=None, repl=None, self_correction=False, correction=None,
    published=())

FAMILIES: tuple[ModelFamily, ...] = (
    ModelFamily(
        name="DeepSeek-Prover-V1.5", models=("DeepSeek-Prover-V1.5",), mode="non-cot",
        prompt_format="deepseek-v1.5", **_V15_RAW, extra_sampling=(), correction="comment",
        published=_rows("DeepSeek-Prover-V1.5-RL + RMaxTS (CoT/non-CoT mixture)"),
        sources=(_V15_PROMPT, _V15_SAMPLING, *_DS_LEAN),
        notes="SFT and RL; non-CoT is the quick start's mode and this project's default. Table 1 "
              "rows are CoT unless marked, so only the CoT/non-CoT mixture row is listed here."),
    ModelFamily(
        name="DeepSeek-Prover-V1.5-CoT", models=("DeepSeek-Prover-V1.5",), mode="cot",
        prompt_format="deepseek-v1.5-cot", **_V15_RAW, extra_sampling=(), correction="comment",
        published=_rows("DeepSeek-Prover-V1.5-RL", "DeepSeek-Prover-V1.5-RL + RMaxTS",
                        "DeepSeek-Prover-V1.5-RL + RMaxTS (CoT/non-CoT mixture)"),
        sources=(_V15_PROMPT, _V15_SAMPLING, *_DS_LEAN),
        notes="SFT and RL with the CoT prompt (--prompt-format deepseek-v1.5-cot)."),
    ModelFamily(
        name="DeepSeek-Prover-V1.5-Base", models=("DeepSeek-Prover-V1.5-Base",), mode="few-shot",
        prompt_format="deepseek-v1.5-cot", **_V15_RAW, extra_sampling=(("few_shot_num", 3),),
        correction=None, published=(),
        sources=(Source("few-shot: each shot is the prompt + formal_proof + \"\\n```\\n\\n\\n\"",
                        _V15, "prover/utils.py", "PM §1"),
                 Source("Base model, 3 shots from minif2f_valid_few_shot.jsonl, mode='cot'", _V15,
                        "configs/sampling_few_shot.py", "PM §1"),
                 _V15_SAMPLING, *_DS_LEAN),
        notes="Upstream prompts it 3-shot in CoT mode; the shots are drawn from upstream's "
              "datasets/minif2f_valid_few_shot.jsonl, which is not in shared/, so there is no "
              "deepseek-v1.5-base format and the zero-shot CoT prompt stands in (a base model is "
              "not tuned to it). The published Base rows (42.2% at 6400) are not in "
              "benchmarks.published."),
    ModelFamily(
        name="DeepSeek-Prover-V2", models=("DeepSeek-Prover-V2",), mode="cot",
        prompt_format="deepseek-v2-cot", **_V2_CHAT,
        published=_rows("DeepSeek-Prover-V2 (CoT)"),
        sources=(Source("CoT user message, chat template, max_new_tokens=8192", _V2, "README.md",
                        "PM §2"),
                 Source("extraction: last ```lean4 block (DeepSeek gives none)", _G2,
                        "src/utils.py DeepSeekCoTHandler", "PM §2"),
                 Source("Lean v4.9 ('the same testing environment as V1.5')", _V2,
                        "DeepSeek_Prover_V2.pdf", "DP §4.1"), *_DS_LEAN),
        notes="7B and 671B. The README sets no temperature/top_p (generation_config defaults "
              "apply): the project defaults are sent."),
    ModelFamily(
        name="DeepSeek-Prover-V2-non-CoT", models=("DeepSeek-Prover-V2",), mode="non-cot",
        prompt_format="deepseek-v2", **_V2_CHAT, published=(),
        sources=(Source("non-CoT input: the CoT message without the two plan sentences", _V2,
                        "DeepSeek_Prover_V2.pdf App. A.1", "PM §2"),
                 Source("max_new_tokens=8192 (README, CoT; none given for non-CoT)", _V2,
                        "README.md", "PM §2"), *_DS_LEAN),
        notes="--prompt-format deepseek-v2. Whether non-CoT is sent through the chat template "
              "is not stated upstream."),
    ModelFamily(
        name="Goedel-Prover-SFT", models=("Goedel-Prover-SFT", "Goedel-Prover"), mode="cot",
        prompt_format="goedel", chat=False, system=None, stop=(),
        extraction="the first ```lean4 block of prompt + completion, i.e. the completion up to "
                   "its closing fence continues the statement; 'None' when absent",
        temperature=1.0, top_p=0.95, max_tokens=2048, extra_sampling=(("max_model_len", 4096),),
        # no stop string upstream: the extraction needs the closing fence
        lean=DEFAULT_LEAN, mathlib=DEFAULT_MATHLIB, repl=DEFAULT_REPL,
        self_correction=False, correction="comment",
        published=_rows("Goedel-Prover-SFT"),
        sources=(Source("V1.5 CoT prompt, raw completion; SamplingParams(temperature=1.0, "
                        "max_tokens=2048, top_p=0.95)", _G1, "eval/step1_inference.py", "PM §5"),
                 Source("Lean v4.9 (the DeepSeek verifier lineage)", _G1, "README.md",
                        "user-asks §5"), *_DS_LEAN)),
    ModelFamily(
        name="Goedel-Prover-V2", models=("Goedel-Prover-V2",), mode="cot",
        prompt_format="goedel-v2", chat=True, system=None, stop=(),
        extraction=_FILE_EXTRACT + "; default header prepended; 'apply?' or 'exact?' refused",
        temperature=1.0, top_p=0.95, max_tokens=32768,
        extra_sampling=(("correction_rounds", 2), ("max_model_len", 40960)),
        lean=DEFAULT_LEAN, mathlib=DEFAULT_MATHLIB, repl=DEFAULT_REPL,
        self_correction=True, correction="goedel-v2",
        published=_rows("Goedel-Prover-V2"),
        sources=(Source("first round: V2 CoT text, statement + ':= by sorry', no newline before "
                        "the closing fence", _G2, "src/utils.py, README.md", "PM §6"),
                 Source("temperature 1.0, top_p 0.95; README max_new_tokens=32768", _G2,
                        "src/inference.py, README.md", "PM §6"),
                 Source("two self-correction rounds, MAX_MODEL_LEN=40960", _G2,
                        "scripts/pipeline.sh", "PM §6"),
                 Source("Lean 4.9 ('standard mode')", _G2, "README.md", "benchmarks.published"),
                 *_DS_LEAN),
        notes="8B and 32B. The 88.1% -> 90.4% (pass@32) lift is with self-correction."),
    ModelFamily(
        name="Kimina-Prover-Preview-Distill",
        models=("Kimina-Prover-Preview-Distill", "Kimina-Prover-Preview"), mode="cot",
        prompt_format="kimina", chat=True, system="You are an expert in mathematics and Lean 4.",
        stop=(),
        extraction="the last ```lean4 block (after <think>…</think>); the model's theorem "
                   "statement is replaced by the original (Goedel-V2 replace_statement_in_proof)",
        temperature=0.6, top_p=0.95, max_tokens=8096, extra_sampling=(),
        lean="v4.15.0", mathlib=_KIMINA_MATHLIB, repl=_KIMINA_REPL,
        self_correction=False, correction=None,
        published=_rows("Kimina-Prover-Preview-Distill-7B", "Kimina-Prover-Preview"),
        sources=(Source("system + user message, SamplingParams(temperature=0.6, top_p=0.95, "
                        "max_tokens=8096)", _KIM_CARD, "quick start", "PM §3"),
                 *_KIMINA_LEAN),
        notes="Distill-7B / -1.5B (April 2025); the card is a secondary copy (PM §3)."),
    ModelFamily(
        name="Kimina-Prover", models=("Kimina-Prover",), mode="cot",
        prompt_format="kimina-2025", chat=True,
        system="You are an expert programmer and mathematician who helps formalizing "
               "mathematical problems in Lean 4.",
        stop=(),
        extraction="scanning ```lean4 blocks from the end, the first holding all of 'theorem', "
                   "'by', ':=', 'import' (utils.extract_proof_from_text); else none",
        temperature=0.8, top_p=1.0, max_tokens=16000,
        extra_sampling=(("presence_penalty", 0.2),),
        lean="v4.15.0", mathlib=_KIMINA_MATHLIB, repl=_KIMINA_REPL,
        self_correction=False, correction="kimina-2025", published=(),
        sources=(Source("system + user message; first turn temperature=0.8, "
                        "presence_penalty=0.2, max_tokens=16000 (top_p unset: vLLM's 1.0)", _KIM,
                        "kimina_prover_demo/error_fix.py", "PM §4"),
                 Source("error-fix turn", _KIM, "kimina_prover_demo/utils.py", "PM §4"),
                 *_KIMINA_LEAN),
        notes="July 2025 release (72B, Distill-8B, Distill-1.7B). The demo ships an error-fix "
              "turn; no published row here was made with it."),
    ModelFamily(
        name="InternLM2-StepProver", models=("internlm2-step-prover", "InternLM2-StepProver"),
        prompt_format="internlm2-step", **_INTERNLM_STEP,
        extraction="the completion without its 'PROOFSTEP ' prefix is the tactic; candidates "
                   "de-duplicated and ranked by mean token log-prob",
        sources=(Source("DECL/GOAL user message, max_tokens=256, stop ['<|im_end|>'], 32 "
                        "samples; T=0 beam for pass@1, '0.7 or 0.9' for pass@32; no top_p "
                        "(vLLM's default 1.0)", _ILM,
                        "minif2f/proofsearch_internLM2-StepProver.py", "PM §7"),
                 Source("Lean v4.7.0 (data/minif2f-lean4.7.0.jsonl; LeanDojo)", _ILM,
                        "minif2f/ and issue #31", "PM §7, user-asks §5")),
        notes="Chat messages rendered to raw text by upstream's chat_template_to_prompt "
              "(<|im_start|>role\\ncontent …) and sent as a completion. LeanDojo best-first "
              "search; no Mathlib/REPL commit published."),
    ModelFamily(
        name="InternLM2.5-StepProver",
        models=("internlm2_5-step-prover", "internlm2.5-step-prover", "InternLM2.5-StepProver"),
        prompt_format="internlm2.5-step", **_INTERNLM_STEP,
        extraction="the raw completion after 'TACTIC: ' is the tactic; candidates de-duplicated "
                   "and ranked by mean token log-prob",
        sources=(Source("NAME/PROOF_BEFORE/STATE_BEFORE/TACTIC message, same sampling as "
                        "InternLM2-StepProver", _ILM,
                        "minif2f/proofsearch_internLM2.5-StepProver.py", "PM §7"),
                 Source("Lean v4.7.0", _ILM, "issue #31", "user-asks §5")),
        notes="Rendered like InternLM2-StepProver and sent as a completion. LeanDojo "
              "best-first search; no Mathlib/REPL commit published."),
    ModelFamily(
        name="BFS-Prover", models=("BFS-Prover-V2", "BFS-Prover-V1", "BFS-Prover"),
        mode="step", method="tactic", prompt_format="bfs-prover", chat=False, system=None,
        stop=(),
        extraction="the completion after '{state}:::', stripped, is the tactic; candidates with "
                   "sorry, admit or native_decide dropped; priority -cumulative_logprob / "
                   "depth ** 2.0 (V2)",
        temperature=1.3, top_p=1.0, max_tokens=2048,
        extra_sampling=(("n_sampling_search", 4), ("depth_reward", 2.0)),
        lean="v4.10.0", mathlib=None, repl=None, self_correction=False, correction=None,
        published=(),
        sources=(Source("'{state}:::' raw completion", "ByteDance-Seed/BFS-Prover-V1-7B HF card "
                        "(commit dd10aca)", "README.md", "PM §8"),
                 Source("tactic_state + ':::', no chat template, filters", _BFS,
                        "src/search/prover_manager.py", "PM §8"),
                 Source("--sampling_temperature 1.3 --sampling_top_p 1.0 --max_tokens 2048",
                        _BFS, "src/search/run_local_search.sh", "PM §8"),
                 Source("'tested under Lean 4.10.0' (LeanDojo 2.1.3)", _BFS, "README.md",
                        "PM §8")),
        notes="V1-7B and V2-7B/32B share the format; sampling and Lean are V2's (V1's card "
              "gives only the format). LeanDojo, no Mathlib/REPL commit published."),
)


def model_name(model_id: str) -> str:
    """The name to match: the last path part of a local directory or ``org/name`` hub id
    (trailing slashes ignored)."""
    text = model_id.strip().rstrip("/\\")
    return PurePath(text.replace("\\", "/")).name or text


def family_for_model(model_id: str, prompt_format: str | None = None) -> ModelFamily | None:
    """The family whose longest pattern occurs (case-insensitively) in the model's name; for
    a local directory whose name matches none, the first of the ids its files say it came
    from that matches (``prover.policies.model_dirs``: ``/models/ckpt-1200`` fine-tuned from
    DeepSeek-Prover-V1.5-RL is that family).

    Among the entries of one model (its modes) the first registered wins, unless
    ``prompt_format`` names the format of another of them. None when nothing matches."""
    from prover.policies.model_dirs import declared_origins

    for name in (model_id, *declared_origins(model_id)):
        family = _family_for_name(name, prompt_format)
        if family is not None:
            return family
    return None


def _family_for_name(model_id: str, prompt_format: str | None) -> ModelFamily | None:
    name = model_name(model_id).lower()
    best: list[tuple[int, int, ModelFamily]] = []
    for order, family in enumerate(FAMILIES):
        length = max((len(p) for p in family.models if p.lower() in name), default=0)
        if length:
            best.append((length, -order, family))
    if not best:
        return None
    longest = max(length for length, _, _ in best)
    candidates = [f for length, _, f in sorted(best, key=lambda t: -t[1]) if length == longest]
    for family in candidates:
        if prompt_format is not None and family.prompt_format == prompt_format:
            return family
    return candidates[0]


def family_pins(family: ModelFamily) -> Pins:
    """The Lean workspace pins of ``family``: the default ones for DeepSeek and Goedel
    (v4.9.0-rc1), the published commits where there are some (Kimina), else the Mathlib and
    REPL tags of its Lean release."""
    if family.lean == DEFAULT_LEAN:
        return Pins.default()
    if family.mathlib and family.repl:
        return Pins.pinned(family.lean, family.mathlib, family.repl)
    return Pins.for_toolchain(family.lean)


def get_family(name: str) -> ModelFamily:
    """The family called ``name`` (case-insensitive); ``ValueError`` listing them otherwise."""
    for family in FAMILIES:
        if family.name.lower() == name.lower():
            return family
    raise ValueError(f"unknown model family {name!r}; known: "
                     f"{', '.join(f.name for f in FAMILIES)}")


__all__ = ["DEFAULT_FORMAT", "DEFAULT_MAX_TOKENS", "DEFAULT_TEMPERATURE", "DEFAULT_TOP_P",
           "FAMILIES", "ModelFamily", "Source", "family_for_model", "family_pins", "get_family",
           "model_name"]
