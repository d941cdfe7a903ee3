"""The application: the command line (``prover.cli``), the drivers (``prover.drivers``: prove a
file, eval and synth runs, iterate, Ray), the policies (``prover.policies``) and training
(``prover.train``).

Importing the package imports nothing heavy: its subpackages are its public API.
"""
__all__: list[str] = []
