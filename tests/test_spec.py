"""Backend spec strings: every valid form parses, every malformed one fails with the list of forms."""
from __future__ import annotations

import inspect
import sys

import pytest

from prover.policies.backends.factory import make_policy
from prover.policies.backends.spec import (
    OPTIONS,
    VALID_FORMS,
    BackendSpec,
    parse_spec,
)


def test_hf_path_and_hub_id():
    assert parse_spec("hf:/models/x") == BackendSpec("hf", "/models/x")
    spec = parse_spec("hf:deepseek-ai/DeepSeek-Prover-V1.5-RL")
    assert (spec.kind, spec.target, dict(spec.options)) == ("hf", "deepseek-ai/DeepSeek-Prover-V1.5-RL", {})


def test_hf_options_are_typed():
    spec = parse_spec("hf:/models/x?device=cpu&dtype=float32&trust_remote_code=true&seed=7&max_batch_rows=8")
    assert spec.target == "/models/x"
    assert spec.options == {
        "device": "cpu",
        "dtype": "float32",
        "trust_remote_code": True,
        "seed": 7,
        "max_batch_rows": 8,
    }


def test_vllm_options():
    spec = parse_spec("vllm:deepseek-ai/m?tensor_parallel_size=2&gpu_memory_utilization=0.85&max_model_len=4096")
    assert spec.kind == "vllm" and spec.target == "deepseek-ai/m"
    assert spec.options == {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.85, "max_model_len": 4096}


def test_openai_url_model_and_options():
    spec = parse_spec("openai:http://127.0.0.1:8000/v1#deepseek-prover")
    assert (spec.kind, spec.target, spec.model) == ("openai", "http://127.0.0.1:8000/v1", "deepseek-prover")
    spec = parse_spec("openai:https://api.example/v1?x=1#org/model-7b?concurrency=4&logprobs=false&timeout=2.5")
    # The URL keeps its own query string; options come after the model.
    assert spec.target == "https://api.example/v1?x=1"
    assert spec.model == "org/model-7b"
    assert spec.options == {"concurrency": 4, "logprobs": False, "timeout": 2.5}


def test_portfolio():
    assert parse_spec("portfolio") == BackendSpec("portfolio")
    assert parse_spec("  portfolio\n") == BackendSpec("portfolio")


def test_mix_parses_each_part():
    spec = parse_spec("mix:hf:/a?device=cpu,openai:http://h:1/v1#m,portfolio")
    assert spec.kind == "mix"
    assert [p.kind for p in spec.parts] == ["hf", "openai", "portfolio"]
    assert spec.parts[0].options == {"device": "cpu"}
    assert spec.parts[1].model == "m"


def test_str_round_trips():
    for text in [
        "hf:/models/x?device=cpu&trust_remote_code=true",
        "vllm:org/m",
        "openai:http://127.0.0.1:8000/v1#deepseek-prover?concurrency=4",
        "portfolio",
        "mix:hf:/a,portfolio",
    ]:
        assert str(parse_spec(text)) == text
        assert parse_spec(str(parse_spec(text))) == parse_spec(text)


def test_specs_are_hashable():
    assert len({parse_spec("hf:/a"), parse_spec("hf:/a"), parse_spec("portfolio")}) == 2


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("/models/x", "no kind"),
        ("gpt:/x", "unknown kind"),
        ("hf:", "needs a path"),
        ("hf:?device=cpu", "needs a path"),
        ("vllm:", "needs a path"),
        ("hf:/x?device", "not key=value"),
        ("hf:/x?device=", "not key=value"),
        ("hf:/x?device=cpu&device=cuda", "given twice"),
        ("hf:/x?colour=red", "unknown option"),
        ("hf:/x?seed=abc", "not a valid int"),
        ("hf:/x?trust_remote_code=maybe", "not a boolean"),
        ("vllm:/x?gpu_memory_utilization=lots", "not a valid float"),
        ("openai:http://h/v1", "URL#MODEL"),
        ("openai:http://h/v1#", "model name"),
        ("openai:h:8000/v1#m", "http://"),
        ("portfolio:x", "no target"),
        ("mix:", "comma-separated"),
        ("mix:hf:/a,", "comma-separated"),
        ("mix:hf:/a,mix:hf:/b", "cannot contain a mix"),
        ("mix:hf:/a,bogus:/b", "unknown kind"),
    ],
)
def test_errors_list_valid_forms(text, why):
    with pytest.raises(ValueError) as info:
        parse_spec(text)
    message = str(info.value)
    assert why in message
    assert VALID_FORMS in message


def test_spec_options_match_constructor_keywords():
    # The option tables are kept in spec.py so parsing imports no backend; they must stay in
    # step with the constructors (importing the modules is cheap: their heavy imports are lazy).
    from prover.policies.backends.hf import HFPolicy
    from prover.policies.backends.openai import OpenAIPolicy
    from prover.policies.backends.vllm import VLLMPolicy

    for kind, cls in [("hf", HFPolicy), ("vllm", VLLMPolicy), ("openai", OpenAIPolicy)]:
        params = inspect.signature(cls.__init__).parameters
        for option in OPTIONS[kind]:
            assert option in params and params[option].kind is inspect.Parameter.KEYWORD_ONLY, (kind, option)


def test_parsing_and_importing_backends_stays_light():
    # `import prover` and spec parsing must not pull in torch/transformers/httpx.
    import subprocess

    code = (
        "import sys, prover, prover.policies.backends.spec as s, prover.policies.backends.hf, prover.policies.backends.vllm, "
        "prover.policies.backends.openai; s.parse_spec('hf:/x?device=cpu'); "
        "print(sorted(m for m in ('torch', 'transformers', 'httpx', 'vllm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_make_policy_mix_is_a_proposer():
    with pytest.raises(ValueError, match="mix: is a proposer, use make_proposer"):
        make_policy("mix:hf:/a,portfolio")


def test_make_policy_openai_builds_without_network():
    policy = make_policy("openai:http://127.0.0.1:9/v1#m?concurrency=3", timeout=1.0)
    assert policy.name == "openai:http://127.0.0.1:9/v1#m"
    assert (policy.concurrency, policy.timeout, policy.model) == (3, 1.0, "m")


def test_make_policy_portfolio():
    portfolio = pytest.importorskip("prover.policies.portfolio")  # written alongside; skip until it lands
    policy = make_policy("portfolio")
    assert isinstance(policy, portfolio.PortfolioPolicy)
