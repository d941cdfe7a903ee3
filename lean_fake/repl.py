"""The fake REPL: commands and files (`lean_fake.commands`), and here proof steps, pickles and
the reading of files."""
from __future__ import annotations

import json
import re

from lean_fake.commands import Commands
from lean_fake.goals import have_hypothesis, hypotheses_of, with_hypothesis
from lean_fake.protocol import Fatal
from lean_fake.reader import ASCII_WS, SORRY_RE, mask_code
from lean_fake.state import Env


class FakeRepl(Commands):
    """One process's REPL: every request kind, on the state of `ReplState`."""

    # -- requests ------------------------------------------------------------------------------
    def proof_step(self, req: dict, rule, match):
        n = req["proofState"]
        if n >= len(self.states):
            return {"message": "Unknown proof state."}
        if rule is not None and rule["message"] is not None:
            return {"message": rule["message"]}
        goals, _status = self.states[n]
        tactic = req["tactic"]
        sorry_goals: list[str] = []
        remaining: list[str] = []
        masked = mask_code(tactic)
        if tactic.strip(ASCII_WS) == "sorry":
            sorry_goals, remaining = goals[:1], goals[1:]  # closes the main goal only
        elif tactic.strip(ASCII_WS) == "skip":
            remaining = list(goals)  # Lean's `skip` changes nothing (clients re-read states)
        elif re.fullmatch(r"\s*all_goals\s+sorry\s*", masked):
            sorry_goals = list(goals)
        elif goals and (have := have_hypothesis(tactic)) is not None:
            # `have h : T := proof` keeps the main goal, with `h : T` added; a `sorry` in the
            # proof is a sorry for T under the same hypotheses.
            name, typ, proof = have
            remaining = [with_hypothesis(goals[0], name, typ)] + goals[1:]
            sorry_goals = [hypotheses_of(goals[0]) + "⊢ " + typ] * len(
                SORRY_RE.findall(mask_code(proof)))
        else:
            sorry_goals = [goals[0] if goals else "⊢ True"] * len(SORRY_RE.findall(masked))
        messages = []
        if rule is not None:
            if rule["sorries"] is not None:
                sorry_goals = [s.get("goal", "⊢ True") for s in rule["sorries"]]
            if rule["goals"] is not None:
                remaining = list(rule["goals"])
            for msg in rule["messages"] or []:
                # Tactic-mode messages always sit at 0:0.
                messages.append({"severity": msg.get("severity", "error"),
                                 "pos": {"line": 0, "column": 0},
                                 "endPos": {"line": 0, "column": 0},
                                 "data": msg.get("data", "")})
        sorries = [{"proofState": self._new_state([g]), "goal": g} for g in sorry_goals]
        status = rule["proofStatus"] if rule is not None else None
        if status is None:
            if remaining:
                status = "Incomplete: open goals remain"
            elif sorries or any(m["severity"] == "error" for m in messages):
                status = "Incomplete: contains sorry"  # error recovery closes goals with sorry
            else:
                status = "Completed"
        return self._step_response(remaining, status, messages, sorries)

    def _step_response(self, goals, status, messages=(), sorries=()):
        response = {"proofState": self._new_state(goals, status), "goals": list(goals)}
        if messages:
            response["messages"] = list(messages)
        if sorries:
            response["sorries"] = list(sorries)
        if self.version >= (4, 19, 0):
            response["proofStatus"] = status
        return response

    def pickle_env(self, req):
        n = req["env"]
        if n >= len(self.envs):
            return {"message": "Unknown environment."}
        names, sorry = self.envs[n].all_names()
        _write_pickle(req["pickleTo"], {"kind": "env", "names": sorted(names),
                                        "sorryNames": sorted(sorry),
                                        "imports": self.envs[n].imports})
        return {"env": n}

    def unpickle_env(self, req):
        data = _read_pickle(req["unpickleEnvFrom"], "env")
        self.envs.append(Env(None, data["names"], data["sorryNames"], data["imports"]))
        return {"env": len(self.envs) - 1}

    def pickle_state(self, req):
        n = req["proofState"]
        if n >= len(self.states):
            return {"message": "Unknown proof State."}
        goals, status = self.states[n]
        _write_pickle(req["pickleTo"], {"kind": "proofState", "goals": goals, "status": status})
        # Like the REPL, pickling answers a full proof-step response under a new id.
        return self._step_response(goals, status)

    def unpickle_state(self, req):
        env = req.get("env")
        if env is not None and env >= len(self.envs):
            return {"message": "Unknown environment."}
        data = _read_pickle(req["unpickleProofStateFrom"], "proofState")
        return self._step_response(data["goals"], data["status"])

    def read_file(self, req):
        """(text, None), or (None, error response) when the file cannot be read."""
        try:
            with open(req["path"], encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            # processFile catches the IO error and answers it as a message.
            return None, {"message": f"{(e.strerror or str(e)).lower()} (error code: {e.errno})"
                                     f"\n  file: {req['path']}"}
        return text, None



PICKLE_MAGIC = "fake-lean-repl-pickle/1"


def _write_pickle(path: str, data: dict) -> None:
    data = dict(data, magic=PICKLE_MAGIC)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)


def _read_pickle(path: str, kind: str) -> dict:
    # Unpickling is not wrapped in `try` in the REPL: a bad file kills the process.
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise Fatal(f"{(e.strerror or str(e)).lower()} (error code: {e.errno})\n  file: {path}",
                    ) from None
    except ValueError:
        raise Fatal(f"failed to read file '{path}', invalid header") from None
    if not isinstance(data, dict) or data.get("magic") != PICKLE_MAGIC or data.get("kind") != kind:
        raise Fatal(f"failed to read file '{path}', invalid header")
    return data

