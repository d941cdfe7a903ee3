"""Generation backends: concrete ``Policy`` implementations, chosen by a spec string.

``hf:PATH_OR_ID`` (transformers), ``vllm:PATH_OR_ID`` (vLLM engine in-process) and
``openai:URL#MODEL`` (any OpenAI-compatible server); ``prover.policies.backends.spec`` parses the spec
and builds the policy. Nothing heavy is imported here: each backend imports its libraries when
it is constructed.
"""

__all__: list[str] = []  # the modules are the API; importing this package costs nothing
