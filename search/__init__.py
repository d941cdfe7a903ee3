"""Search algorithms behind one interface: whole-proof sampling, RMaxTS, best-first tactic
search; the tree type and its export; budgets. Nothing here knows how a policy or Lean is
implemented: both are passed in."""
from .api import METHODS, search
from .budget import Budget
from .result import SearchResult

__all__ = ["METHODS", "Budget", "SearchResult", "search"]
