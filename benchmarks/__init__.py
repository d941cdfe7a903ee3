"""Benchmarks: dataset loaders (``datasets``, ``download``, ``catalog``), the resumable runner
(``runner``), pass@k and reports (``metrics``, ``report``), and the system benchmark
(``system``). It receives what it runs from its caller and never imports ``prover``.

Importing the package imports nothing: its modules are its public API.
"""
__all__: list[str] = []
