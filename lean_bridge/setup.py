"""``prover setup``: get Lean, Mathlib's compiled files and the REPL, and say what is downloaded.

Each step is a plain command run in the workspace, shown before it starts with what it
downloads and roughly how much, and streamed while it runs. Without a network the whole setup
stops at once, before any step, with a message that says so (a half-done ``lake`` clone can
otherwise sit for minutes on a dead connection).
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from .errors import ReplUnavailable
from .process import ReplProcess
from .protocol import CommandRequest, CommandResponse
from .workspace import (
    ELAN_INIT_URL,
    Pins,
    find_elan,
    find_lake,
    network_problem,
    packages_dir,
    patch_repl_flush,
    repl_binary,
    workspace_spec,
    write_manifest,
    write_workspace,
)

Say = Callable[[str], None]


class SetupError(Exception):
    """Setup cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Step:
    title: str
    downloads: str  # what the user pays for this step, in words
    argv: tuple[str, ...]
    cwd: Path


def run_step(step: Step, say: Say, index: int, total: int) -> None:
    say(f"[{index}/{total}] {step.title}")
    if step.downloads:
        say(f"      downloads: {step.downloads}")
    say(f"      $ {' '.join(step.argv)}   (in {step.cwd})")
    try:
        proc = subprocess.Popen(
            step.argv, cwd=step.cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", start_new_session=True,
        )
    except OSError as exc:
        raise SetupError(f"cannot run {step.argv[0]}: {exc}") from exc
    assert proc.stdout is not None
    for line in proc.stdout:
        say(f"      {line.rstrip()}")
    if proc.wait() != 0:
        raise SetupError(f"step failed ({step.title}): `{' '.join(step.argv)}` exited {proc.returncode}")


def install_elan(say: Say) -> str:
    """Install elan (Lean's version manager) into ~/.elan with no default toolchain."""
    if shutil.which("curl") is None:
        raise SetupError(
            "Lean's version manager elan is not installed and curl is missing to fetch it. "
            f"Install elan by hand: see {ELAN_INIT_URL}"
        )
    script = f"curl -sSfL {ELAN_INIT_URL} | sh -s -- -y --default-toolchain none"
    run_step(
        Step("Installing elan, Lean's version manager, into ~/.elan",
             f"the elan installer from {ELAN_INIT_URL} (a few MB)", ("sh", "-c", script), Path.home()),
        say, 1, 1,
    )
    lake = find_lake()
    if lake is None:
        raise SetupError("elan was installed but `lake` is still not found; open a new shell and retry")
    return lake


def setup_workspace(
    workspace: Path,
    pins: Pins,
    *,
    say: Say,
    write_files: bool,
    allow_install: bool = True,
) -> Path:
    """Build the workspace's REPL and Mathlib cache; returns the manifest's path."""
    problem = network_problem()
    if problem is not None:
        raise SetupError(
            f"no network: {problem}. Setting up Lean downloads the toolchain, Mathlib and the REPL "
            "from GitHub; connect to the internet and run `prover setup` again, or pass "
            "`--repl CMD` to use a Lean REPL you already have."
        )
    lake = find_lake()
    if lake is None:
        if not allow_install:
            raise SetupError(
                "`lake` was not found and --no-install was given. Install elan:\n"
                f"  curl -sSfL {ELAN_INIT_URL} | sh -s -- -y --default-toolchain none"
            )
        lake = install_elan(say)
    if write_files:
        write_workspace(workspace, pins)
        say(f"Wrote {workspace / 'lakefile.lean'} and lean-toolchain for Lean {pins.lean}")
    steps = [
        Step(f"Resolving dependencies: Mathlib {pins.mathlib[:12]} and the REPL {pins.repl}",
             f"the Lean toolchain {pins.lean} (about 200 MB, once per version) and the Mathlib "
             "and REPL sources (git, about 400 MB)", (lake, "update"), workspace),
        Step("Fetching Mathlib's compiled files",
             "Mathlib's .olean cache (about 4-5 GB; a minute or two on a fast link)",
             (lake, "exe", "cache", "get"), workspace),
    ]
    total = len(steps) + 2
    for i, step in enumerate(steps, 1):
        run_step(step, say, i, total)
    repl_dir = packages_dir(workspace) / "REPL"
    if pins.needs_flush_patch and patch_repl_flush(repl_dir):
        say(f"      patched {repl_dir / 'REPL/Main.lean'} to flush stdout after each response")
    run_step(Step("Building the REPL", "", (lake, "build"), repl_dir), say, total - 1, total)
    say(f"[{total}/{total}] Checking that the REPL answers")
    version = asyncio.run(_smoke_test(workspace))
    say(f"      the REPL runs Lean {version}")
    return write_manifest(workspace, pins, {
        "lean_version_reported": version,
        "repl_binary": str(repl_binary(workspace)),
        "elan": find_elan(),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })


async def _smoke_test(workspace: Path) -> str:
    process = await ReplProcess(workspace_spec(workspace)).start()
    try:
        response = await process.request(CommandRequest(cmd="#eval Lean.versionString"), timeout=300)
    finally:
        await process.close()
    if not isinstance(response, CommandResponse) or response.errors or not response.messages:
        raise ReplUnavailable(f"the freshly built REPL gave an unexpected answer: {response}")
    return response.messages[0].data.strip().strip('"')


def describe_plan(pins: Pins, workspace: Path) -> Sequence[str]:
    return (
        f"Lean {pins.lean}, Mathlib {pins.mathlib}, REPL {pins.repl}",
        f"workspace: {workspace}",
    )
