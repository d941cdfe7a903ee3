"""Drivers: what runs a command end to end (prove a file, eval and synth runs, iterate, Ray),
wired through ``stack``. Its modules are its public API.
"""
__all__: list[str] = []
