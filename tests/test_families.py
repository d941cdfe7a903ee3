"""The model-family registry (``prover.policies.families``) against shared/reference/prompts.md,
which model id finds which family, and what a family makes of a proposer (``choose_model``)."""
from __future__ import annotations

import json
import re

import pytest

from benchmarks.published import PUBLISHED
from lean_bridge.workspace import DEFAULT_LEAN, DEFAULT_MATHLIB, Pins, pins_workspace
from prover.policies.families import (
    FAMILIES,
    ModelFamily,
    family_for_model,
    family_pins,
    get_family,
    model_name,
)
from prover.policies.prompts import PROMPT_FORMATS
from prover.policies.proposer import LMProposer, Sampling, choose_model, make_proposer

# Every model id prompts.md names (and the issue's), with the family it belongs to.
MODEL_IDS = {
    "deepseek-ai/DeepSeek-Prover-V1.5-Base": "DeepSeek-Prover-V1.5-Base",
    "deepseek-ai/DeepSeek-Prover-V1.5-SFT": "DeepSeek-Prover-V1.5",
    "deepseek-ai/DeepSeek-Prover-V1.5-RL": "DeepSeek-Prover-V1.5",
    "deepseek-ai/DeepSeek-Prover-V2-7B": "DeepSeek-Prover-V2",
    "deepseek-ai/DeepSeek-Prover-V2-671B": "DeepSeek-Prover-V2",
    "Goedel-LM/Goedel-Prover-SFT": "Goedel-Prover-SFT",
    "Goedel-LM/Goedel-Prover-V2-8B": "Goedel-Prover-V2",
    "Goedel-LM/Goedel-Prover-V2-32B": "Goedel-Prover-V2",
    "AI-MO/Kimina-Prover-Preview-Distill-7B": "Kimina-Prover-Preview-Distill",
    "AI-MO/Kimina-Prover-Preview-Distill-1.5B": "Kimina-Prover-Preview-Distill",
    "AI-MO/Kimina-Prover-72B": "Kimina-Prover",
    "AI-MO/Kimina-Prover-Distill-8B": "Kimina-Prover",
    "AI-MO/Kimina-Prover-Distill-1.7B": "Kimina-Prover",
    "internlm/internlm2-step-prover": "InternLM2-StepProver",
    "internlm/internlm2_5-step-prover": "InternLM2.5-StepProver",
    "ByteDance-Seed/BFS-Prover-V1-7B": "BFS-Prover",
    "ByteDance-Seed/BFS-Prover-V2-7B": "BFS-Prover",
    "ByteDance-Seed/BFS-Prover-V2-32B": "BFS-Prover",
}


def test_every_model_id_of_prompts_md_finds_its_family(shared):
    text = (shared / "reference" / "prompts.md").read_text(encoding="utf-8")
    named = set(re.findall(r"(?:deepseek-ai|Goedel-LM|AI-MO|internlm|ByteDance-Seed)/[\w.-]+", text))
    named = {m.rstrip(".") for m in named if not m.endswith((".git", "Prover", "Preview"))}
    # repositories and a collection, not models
    named -= {"deepseek-ai/DeepSeek-Prover-V1.5", "deepseek-ai/DeepSeek-Prover-V2",
              "Goedel-LM/Goedel-Prover", "Goedel-LM/Goedel-Prover-V2",
              "ByteDance-Seed/BFS-Prover-V2", "AI-MO/kimina-prover-686b72614760ed23038056c5"}
    assert len(named) >= 6  # the pattern still finds the ids
    assert named <= set(MODEL_IDS), f"model ids of prompts.md missing here: {named - set(MODEL_IDS)}"
    for model, name in MODEL_IDS.items():
        family = family_for_model(model)
        assert family is not None and family.name == name, (model, family and family.name)


@pytest.mark.parametrize("spelling", [
    "goedel-lm/goedel-prover-v2-32b", "/models/Goedel-Prover-V2-32B/", "./Goedel-Prover-V2-32B",
    "C:\\models\\GOEDEL-PROVER-V2-8B", "my-finetune-of-goedel-prover-v2-32b"])
def test_matching_is_case_insensitive_on_the_last_path_part(spelling):
    assert family_for_model(spelling).name == "Goedel-Prover-V2"


def test_the_most_specific_pattern_wins():
    # Goedel-Prover-V2 before Goedel-Prover, Kimina-Prover-Preview before Kimina-Prover,
    # the V1.5 Base model before the V1.5 family.
    assert family_for_model("Goedel-Prover-V2-8B").name == "Goedel-Prover-V2"
    assert family_for_model("Goedel-Prover-SFT").name == "Goedel-Prover-SFT"
    assert family_for_model("goedel-prover").name == "Goedel-Prover-SFT"
    assert family_for_model("Kimina-Prover-Preview-Distill-7B").name == "Kimina-Prover-Preview-Distill"
    assert family_for_model("Kimina-Prover-Distill-8B").name == "Kimina-Prover"
    assert family_for_model("DeepSeek-Prover-V1.5-Base").name == "DeepSeek-Prover-V1.5-Base"
    # a directory named after a model does not hide under its parent's name
    assert family_for_model("/Goedel-Prover-V2/checkpoints/DeepSeek-Prover-V1.5-RL").name \
        == "DeepSeek-Prover-V1.5"


def test_unknown_models_have_no_family():
    for model in ("gpt-4o", "Qwen/Qwen2.5-7B", "/models/x", "", "deepseek-prover"):
        assert family_for_model(model) is None


def test_a_named_format_picks_the_mode_of_the_same_model():
    assert family_for_model("DeepSeek-Prover-V2-7B").name == "DeepSeek-Prover-V2"  # CoT: README
    assert family_for_model("DeepSeek-Prover-V2-7B", "deepseek-v2").name == "DeepSeek-Prover-V2-non-CoT"
    assert family_for_model("DeepSeek-Prover-V1.5-RL", "deepseek-v1.5-cot").name == "DeepSeek-Prover-V1.5-CoT"
    # a format of another family keeps the model's family (its sampling still applies)
    assert family_for_model("Goedel-Prover-V2-32B", "deepseek-v1.5").name == "Goedel-Prover-V2"


# -- a local directory whose name says nothing ----------------------------------------------------

def _model_dir(root, name: str, **files: dict) -> str:
    """A model directory as a trainer leaves it (no weights needed): ``files`` maps a JSON
    file's stem (config, train_manifest, tokenizer_config) to its content."""
    directory = root / name
    directory.mkdir(parents=True)
    for stem, content in files.items():
        (directory / f"{stem}.json").write_text(json.dumps(content), encoding="utf-8")
    return str(directory)


LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}


def test_a_generic_directory_is_matched_through_its_config(tmp_path):
    ckpt = _model_dir(tmp_path, "ckpt-1200",
                      config={"_name_or_path": "deepseek-ai/DeepSeek-Prover-V1.5-RL", **LLAMA})
    assert family_for_model(ckpt).name == "DeepSeek-Prover-V1.5"
    assert family_for_model(ckpt, "deepseek-v1.5-cot").name == "DeepSeek-Prover-V1.5-CoT"
    warned: list[str] = []
    choice = choose_model(ckpt, warn=warned.append)
    assert (choice.prompt_format, choice.max_tokens, warned) == ("deepseek-v1.5", 2048, [])
    # the CLI's choice of format for `--policy hf:DIR` reads it the same way
    from prover.cli.common import family_format

    goedel = _model_dir(tmp_path, "step-300",
                        config={"_name_or_path": "/cluster/Goedel-Prover-V2-8B", **LLAMA})
    assert family_format(f"hf:{goedel}", "sample") == "goedel-v2"
    # its own name, when it says something, wins over what the config says
    named = _model_dir(tmp_path, "Kimina-Prover-Preview-Distill-7B",
                       config={"_name_or_path": "deepseek-ai/DeepSeek-Prover-V1.5-RL"})
    assert family_for_model(named).name == "Kimina-Prover-Preview-Distill"


def test_a_trained_round_is_matched_through_the_rounds_before_it(tmp_path):
    # this project's trainers record base_model (transformers 5 drops _name_or_path); a
    # later round names the earlier round's directory, which names the hub model
    first = _model_dir(tmp_path, "round-1/model", config=LLAMA,
                       train_manifest={"base_model": "Goedel-LM/Goedel-Prover-SFT"})
    second = _model_dir(tmp_path, "round-2/model", config=LLAMA,
                        train_manifest={"base_model": first})
    assert family_for_model(second).name == "Goedel-Prover-SFT"
    tokenizer_only = _model_dir(tmp_path, "export",
                                tokenizer_config={"name_or_path": "AI-MO/Kimina-Prover-72B"})
    assert family_for_model(tokenizer_only).name == "Kimina-Prover"


def test_a_directory_that_names_no_known_model_has_no_family_and_says_what_it_read(tmp_path):
    # the network alone (Llama here) is shared by several families: it picks none
    bare = _model_dir(tmp_path, "ckpt-1", config=LLAMA)
    assert family_for_model(bare) is None
    # two directories naming each other: read once each, then given up
    a, b = tmp_path / "a", tmp_path / "b"
    _model_dir(tmp_path, "a", config={"_name_or_path": str(b)})
    _model_dir(tmp_path, "b", config={"_name_or_path": str(a)}, train_manifest=[1, 2])
    assert family_for_model(str(a)) is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json", encoding="utf-8")
    assert family_for_model(str(tmp_path / "broken")) is None
    warned: list[str] = []
    choice = choose_model(bare, warn=warned.append)
    assert choice.prompt_format == "deepseek-v1.5" and len(warned) == 1
    assert "architectures LlamaForCausalLM; model_type llama" in warned[0]
    assert "no origin recorded" in warned[0]


def test_model_name_is_the_last_path_part():
    assert model_name("deepseek-ai/DeepSeek-Prover-V1.5-RL") == "DeepSeek-Prover-V1.5-RL"
    assert model_name("/models/x/") == "x"
    assert model_name("x") == "x"


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_registry_entry_is_complete_and_consistent(family: ModelFamily):
    assert family.models and all(p.strip() for p in family.models)
    assert re.fullmatch(r"v4\.\d+\.\d+(-rc\d+)?", family.lean), family.lean
    assert family.sources, "every family names its sources"
    assert all(s.repo and s.path and s.ref and s.fact for s in family.sources)
    assert family.extraction.strip()
    assert family.correction in (None, "goedel-v2", "kimina-2025", "comment")
    assert not family.self_correction or family.correction is not None
    assert family.method in ("whole-proof", "tactic")
    for value in (family.temperature, family.top_p, family.max_tokens):
        assert value is None or value >= 0
    assert family.top_p is None or 0 < family.top_p <= 1
    assert set(family.published) <= set(PUBLISHED)  # rows are reused, never copied
    assert get_family(family.name) is family and get_family(family.name.upper()) is family


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_a_present_prompt_format_agrees_with_the_family(family: ModelFamily):
    fmt = PROMPT_FORMATS.get(family.prompt_format)
    assert fmt is not None, f"{family.prompt_format} is not a prompt format of this version"
    assert fmt.chat == family.chat
    assert (fmt.output == "tactic") == (family.method == "tactic")
    assert fmt.stop == family.stop


def test_published_settings_of_prompts_md():
    """The numbers of prompts.md, one by one (sections §1-§8)."""
    def sampling(name):
        f = get_family(name)
        return f.temperature, f.top_p, f.max_tokens

    assert sampling("DeepSeek-Prover-V1.5") == (1.0, 0.95, 2048)
    assert sampling("DeepSeek-Prover-V1.5-CoT") == (1.0, 0.95, 2048)
    assert sampling("DeepSeek-Prover-V2") == (None, None, 8192)  # README: max_new_tokens only
    assert sampling("Goedel-Prover-SFT") == (1.0, 0.95, 2048)
    assert sampling("Goedel-Prover-V2") == (1.0, 0.95, 32768)
    assert sampling("Kimina-Prover-Preview-Distill") == (0.6, 0.95, 8096)
    assert sampling("Kimina-Prover") == (0.8, 1.0, 16000)
    assert dict(get_family("Kimina-Prover").extra_sampling)["presence_penalty"] == 0.2
    assert sampling("InternLM2-StepProver")[2] == 256
    assert get_family("InternLM2-StepProver").stop == ("<|im_end|>",)
    assert sampling("BFS-Prover") == (1.3, 1.0, 2048)
    assert get_family("Kimina-Prover-Preview-Distill").system == \
        "You are an expert in mathematics and Lean 4."
    assert get_family("Kimina-Prover").system == ("You are an expert programmer and mathematician "
                                                 "who helps formalizing mathematical problems in Lean 4.")
    kimina = get_family("Kimina-Prover")
    assert (kimina.lean, kimina.mathlib, kimina.repl) == (
        "v4.15.0", "9837ca9d65d9de6fad1ef4381750ca688774e608",
        "21966799da3691a0912b5a15193585bd2dd7165d")
    assert get_family("InternLM2.5-StepProver").lean == "v4.7.0"
    assert get_family("BFS-Prover").lean == "v4.10.0"
    for name in ("DeepSeek-Prover-V1.5", "DeepSeek-Prover-V2", "Goedel-Prover-SFT", "Goedel-Prover-V2"):
        assert get_family(name).lean == DEFAULT_LEAN == "v4.9.0-rc1"
        assert get_family(name).mathlib == DEFAULT_MATHLIB
    assert [f.name for f in FAMILIES if f.self_correction] == ["Goedel-Prover-V2"]


def test_published_rows_are_the_families_own():
    assert {r.system for r in get_family("Goedel-Prover-V2").published} == {"Goedel-Prover-V2"}
    assert 88.1 in {r.result for r in get_family("Goedel-Prover-V2").published}
    assert {r.system for r in get_family("DeepSeek-Prover-V2").published} == {"DeepSeek-Prover-V2 (CoT)"}
    assert get_family("Kimina-Prover-Preview-Distill").published


def test_get_family_refuses_an_unknown_name_listing_the_known():
    with pytest.raises(ValueError, match="unknown model family 'nothing'.*Goedel-Prover-V2"):
        get_family("nothing")


def test_family_pins_and_workspaces(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert family_pins(get_family("Goedel-Prover-V2")) == Pins.default()
    assert family_pins(get_family("DeepSeek-Prover-V1.5")) == Pins.default()
    kimina = family_pins(get_family("Kimina-Prover"))
    assert kimina == Pins("v4.15.0", "9837ca9d65d9de6fad1ef4381750ca688774e608",
                          "21966799da3691a0912b5a15193585bd2dd7165d")
    assert not kimina.needs_flush_patch
    # explicit commits never share a directory with the release's tags
    assert pins_workspace(kimina) == tmp_path / "prover" / "workspace-v4.15.0-9837ca9d"
    assert pins_workspace(Pins.for_toolchain("v4.15.0")) == tmp_path / "prover" / "workspace-v4.15.0"
    assert family_pins(get_family("BFS-Prover")) == Pins("v4.10.0", "v4.10.0", "v4.10.0")
    with pytest.raises(ValueError):
        Pins.pinned("v4.15.0", "not a commit", "abc")


# -- what a family makes of a proposer ----------------------------------------------------------

def test_choose_model_takes_format_and_sampling_from_the_family():
    warned: list[str] = []
    choice = choose_model("Goedel-LM/Goedel-Prover-V2-32B", warn=warned.append)
    assert (choice.prompt_format, choice.temperature, choice.top_p, choice.max_tokens) == \
        ("goedel-v2", 1.0, 0.95, 32768)
    kimina = choose_model("AI-MO/Kimina-Prover-Distill-8B", warn=warned.append)
    assert (kimina.prompt_format, kimina.presence_penalty) == ("kimina-2025", 0.2)
    assert not warned


def test_flags_and_a_named_format_override_the_family():
    choice = choose_model("Goedel-Prover-V2-32B", prompt_format="deepseek-v1.5",
                          sampling=Sampling(temperature=0.3, max_tokens=100), warn=print)
    assert (choice.prompt_format, choice.temperature, choice.top_p, choice.max_tokens) == \
        ("deepseek-v1.5", 0.3, 0.95, 100)
    assert choice.stop is None  # another family's format keeps its own stop strings


def test_an_unknown_model_warns_listing_the_formats_and_keeps_todays_default():
    warned: list[str] = []
    choice = choose_model("/models/my-prover", warn=warned.append)
    assert (choice.prompt_format, choice.temperature, choice.top_p, choice.max_tokens) == \
        ("deepseek-v1.5", None, 0.95, 2048)
    assert len(warned) == 1 and "'/models/my-prover'" in warned[0]
    for name in PROMPT_FORMATS:
        assert name in warned[0]
    warned.clear()
    choose_model("/models/my-prover", prompt_format="deepseek-v2", warn=warned.append)
    assert not warned  # a named format needs no guess


def test_a_family_without_published_temperature_leaves_the_searchs():
    choice = choose_model("deepseek-ai/DeepSeek-Prover-V2-7B", warn=print)
    assert choice.temperature is None and choice.max_tokens == 8192


def test_make_proposer_wires_the_family_into_each_part_of_a_mix():
    mixed = make_proposer("mix:portfolio,openai:http://127.0.0.1:9/v1#Kimina-Prover-Preview-Distill-7B,"
                          "openai:http://127.0.0.1:9/v1#DeepSeek-Prover-V1.5-RL")
    kimina, v15 = [p for p in mixed.proposers if isinstance(p, LMProposer)]
    assert (kimina.format.name, kimina.temperature, kimina.max_tokens) == ("kimina", 0.6, 8096)
    assert (v15.format.name, v15.temperature, v15.max_tokens) == ("deepseek-v1.5", 1.0, 2048)
