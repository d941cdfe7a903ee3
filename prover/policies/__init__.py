"""Policies: generation backends (``backends``), prompt formats (``prompts``), the automation
portfolio (``portfolio``, ``closers``, ``goal_info``) and the proposer that adapts a policy to
search (``proposer``). Its modules are its public API.
"""
__all__: list[str] = []
