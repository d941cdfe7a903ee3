"""The header-affine choice shared by the REPL pool and the Ray fleet (``lean_bridge.affinity``)."""
from __future__ import annotations

from dataclasses import dataclass, field

from lean_bridge.affinity import pick


@dataclass(eq=False)
class Unit:
    name: str
    headers: set[str] = field(default_factory=set)
    last_used: float = 0.0


def choose(idle, header):
    choice = pick(idle, header, headers=lambda u: u.headers, last_used=lambda u: u.last_used)
    return None if choice is None else (choice.unit.name, choice.warm)


def test_a_unit_warm_on_the_header_is_preferred_even_when_a_cold_one_is_older():
    idle = [Unit("cold", {"import B"}, 1.0), Unit("warm", {"import A"}, 5.0)]
    assert choose(idle, "import A") == ("warm", True)


def test_among_warm_units_the_most_recently_used_is_taken():
    idle = [Unit("old", {"import A"}, 1.0), Unit("new", {"import A", "import B"}, 3.0),
            Unit("mid", {"import A"}, 2.0)]
    assert choose(idle, "import A") == ("new", True)


def test_without_a_warm_unit_the_least_recently_used_is_taken_cold():
    idle = [Unit("mid", {"import A"}, 2.0), Unit("old", {"import B"}, 1.0),
            Unit("new", set(), 3.0)]
    assert choose(idle, "import C") == ("old", False)
    assert choose(idle, None) == ("old", False)  # no header: warm nowhere


def test_ties_on_last_use_go_to_the_first_unit_listed():
    warm = [Unit("first", {"import A"}, 2.0), Unit("second", {"import A"}, 2.0)]
    assert choose(warm, "import A") == ("first", True)
    assert choose(list(reversed(warm)), "import A") == ("second", True)
    cold = [Unit("first", set(), 1.0), Unit("second", set(), 1.0)]
    assert choose(cold, "import A") == ("first", False)
    assert choose(list(reversed(cold)), "import A") == ("second", False)


def test_nothing_idle_is_no_choice():
    assert choose([], "import A") is None
    assert choose([], None) is None
