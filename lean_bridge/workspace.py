"""The Lean workspace: which Lean, Mathlib and REPL we verify with, and how to build them.

A workspace is a Lake project (``lakefile.lean`` + ``lean-toolchain``) that requires Mathlib
and the REPL. The default pins are the environment DeepSeek-Prover-V1.5 and Goedel-Prover
verified in, which the benchmark statements and the public prover models target.
``prover setup --toolchain vX.Y.Z`` writes a workspace for another release, with the Mathlib
and REPL tags of the same name.

The REPL is then run as ``lake env <workspace>/.lake/packages/REPL/.lake/build/bin/repl``
from the workspace, so ``import Mathlib`` resolves through ``LEAN_PATH``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import ReplUnavailable
from .process import ProcessLimits, ReplSpec

DEFAULT_LEAN = "v4.9.0-rc1"
DEFAULT_MATHLIB = "d1d1e4b72c6e009edd97cabe1d661b021fe8eeae"
DEFAULT_REPL = "v4.9.0-rc1"
MATHLIB_GIT = "https://github.com/leanprover-community/mathlib4.git"
REPL_GIT = "https://github.com/leanprover-community/repl.git"
ELAN_INIT_URL = "https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh"
MANIFEST_NAME = "prover-workspace.json"

# leanprover-community/repl has no tag for these releases (lean-bridge.md §1.1).
_REPL_TAG_GAPS = re.compile(r"^v4\.(11\.0|12\.\d+|13\.\d+|20\.\d+|23\.0)$")
_VERSION = re.compile(r"^v4\.\d+\.\d+(-rc\d+)?$")


@dataclass(frozen=True)
class Pins:
    lean: str
    mathlib: str
    repl: str

    @classmethod
    def default(cls) -> "Pins":
        return cls(DEFAULT_LEAN, DEFAULT_MATHLIB, DEFAULT_REPL)

    @classmethod
    def for_toolchain(cls, version: str) -> "Pins":
        """Pins for another Lean release: Mathlib and the REPL tag releases with its name."""
        if not _VERSION.match(version):
            raise ValueError(f"not a Lean release name: {version!r} (expected e.g. v4.15.0)")
        if version == DEFAULT_LEAN:
            return cls.default()
        if _REPL_TAG_GAPS.match(version):
            raise ValueError(
                f"leanprover-community/repl has no tag {version}; pick a neighbouring release "
                "(tags are missing for v4.11.0, v4.12.x, v4.13.x, v4.20.x and v4.23.0)"
            )
        return cls(version, version, version)

    @classmethod
    def pinned(cls, lean: str, mathlib: str, repl: str) -> "Pins":
        """Explicit pins: a Lean release and the Mathlib and REPL commits (or tags) to use with
        it, e.g. the environment a model was trained on."""
        if not _VERSION.match(lean):
            raise ValueError(f"not a Lean release name: {lean!r} (expected e.g. v4.15.0)")
        for what, rev in (("Mathlib", mathlib), ("REPL", repl)):
            if not re.fullmatch(r"[\w.\-]+", rev):
                raise ValueError(f"not a git commit or tag for {what}: {rev!r}")
        return cls(lean, mathlib, repl)

    @property
    def is_tagged(self) -> bool:
        """Whether these are ``for_toolchain``'s pins (Mathlib and REPL tags of the release)."""
        return self == Pins.default() or self.mathlib == self.repl == self.lean

    @property
    def needs_flush_patch(self) -> bool:
        """REPL tags before v4.10.0 do not flush stdout after a response (repl PR #49).

        Through a pipe the answer then sits in Lean's buffer and the client waits forever, so
        setup patches the REPL's main loop to flush (as Kimina Lean Server does).
        """
        match = re.match(r"^v4\.(\d+)\.", self.repl)
        return match is not None and int(match.group(1)) < 10


def render_lakefile(pins: Pins) -> str:
    return (
        "import Lake\nopen Lake DSL\n\n"
        "-- Written by `prover setup`: the Lean environment proofs are verified in.\n"
        "package «prover-workspace» where\n\n"
        f'require mathlib from git\n  "{MATHLIB_GIT}" @ "{pins.mathlib}"\n\n'
        f'require REPL from git\n  "{REPL_GIT}" @ "{pins.repl}"\n'
    )


def render_toolchain(pins: Pins) -> str:
    return f"leanprover/lean4:{pins.lean}\n"


def read_pins(workspace: Path) -> Pins:
    """The pins a workspace's own files state (its lakefile and lean-toolchain)."""
    toolchain = (workspace / "lean-toolchain").read_text().strip().split(":")[-1]
    lakefile = (workspace / "lakefile.lean").read_text()
    revs = dict(re.findall(r'require\s+(\w+)\s+from\s+git\s+"[^"]+"\s*@\s*"([^"]+)"', lakefile))
    return Pins(toolchain, revs.get("mathlib", "?"), revs.get("REPL", "?"))


def write_workspace(workspace: Path, pins: Pins) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "lakefile.lean").write_text(render_lakefile(pins))
    (workspace / "lean-toolchain").write_text(render_toolchain(pins))


def packages_dir(workspace: Path) -> Path:
    # Lake moved dependencies from lake-packages/ to .lake/packages/ in v4.3.
    old = workspace / "lake-packages"
    return old if old.is_dir() and not (workspace / ".lake" / "packages").is_dir() else workspace / ".lake" / "packages"


def repl_binary(workspace: Path) -> Path:
    return packages_dir(workspace) / "REPL" / ".lake" / "build" / "bin" / "repl"


def _find_tool(name: str) -> str | None:
    """``name`` on PATH, or in elan's default bin directory (a fresh install is not on PATH yet)."""
    found = shutil.which(name)
    if found:
        return found
    elan_bin = Path(os.environ.get("ELAN_HOME", Path.home() / ".elan")) / "bin" / name
    return str(elan_bin) if elan_bin.exists() else None


def find_lake() -> str | None:
    return _find_tool("lake")


def find_elan() -> str | None:
    return _find_tool("elan")


def default_workspace() -> Path:
    """The checkout's root when running from a clone (it holds the pinned lakefile), else a cache."""
    root = Path(__file__).resolve().parents[1]
    if (root / "lakefile.lean").is_file():
        return root
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "prover" / f"workspace-{DEFAULT_LEAN}"


def toolchain_workspace(version: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "prover" / f"workspace-{version}"


def pins_workspace(pins: Pins) -> Path:
    """Where ``prover setup`` puts a workspace for ``pins`` by default: the default one for the
    default pins, ``workspace-<lean>`` for a release's tags, ``workspace-<lean>-<mathlib[:8]>``
    for explicit commits (so they never share a directory with the tags)."""
    if pins == Pins.default():
        return default_workspace()
    if pins.is_tagged:
        return toolchain_workspace(pins.lean)
    return toolchain_workspace(f"{pins.lean}-{pins.mathlib[:8]}")


def workspace_lean(workspace: Path) -> str | None:
    """The Lean release a workspace's ``lean-toolchain`` names; None when it has none."""
    try:
        text = (workspace / "lean-toolchain").read_text().strip()
    except OSError:
        return None
    return text.split(":")[-1] or None


def is_built(workspace: Path) -> bool:
    return repl_binary(workspace).is_file() and (workspace / MANIFEST_NAME).is_file()


def workspace_spec(workspace: Path, limits: ProcessLimits | None = None) -> ReplSpec:
    """How to start the REPL of a built workspace; ReplUnavailable (with the fix) otherwise."""
    binary = repl_binary(workspace)
    if not binary.is_file():
        raise ReplUnavailable(
            f"no Lean REPL is built in the workspace {workspace}. Run `prover setup` "
            f"(add `--workspace {workspace}` if it is not the default), or pass `--repl CMD` "
            "for a REPL you already have."
        )
    lake = find_lake()
    if lake is None:
        raise ReplUnavailable(
            "`lake` was not found. Install Lean's version manager elan:\n"
            f"  curl -sSfL {ELAN_INIT_URL} | sh -s -- -y --default-toolchain none\n"
            "then open a new shell (or add ~/.elan/bin to PATH) and run `prover setup`."
        )
    return ReplSpec((lake, "env", str(binary)), cwd=workspace, limits=limits or ProcessLimits())


def write_manifest(workspace: Path, pins: Pins, extra: dict[str, object]) -> Path:
    path = workspace / MANIFEST_NAME
    path.write_text(json.dumps({**asdict(pins), **extra}, indent=2) + "\n")
    return path


def network_problem(timeout: float = 5.0) -> str | None:
    """None when GitHub (where Lean, Mathlib and the REPL come from) can be reached.

    ``PROVER_NETWORK_PROBE=host:port`` replaces the probe target (tests point it at a closed
    local port to play "offline" without depending on the machine's network).
    """
    target = os.environ.get("PROVER_NETWORK_PROBE", "github.com:443")
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return None
    except (OSError, ValueError) as exc:
        return f"cannot reach {target} ({exc.__class__.__name__}: {exc})"


_FLUSH_LINE = "(← IO.getStdout).flush"


def patch_repl_flush(repl_dir: Path) -> bool:
    """Make an old REPL flush stdout after each response; returns whether the file changed.

    The REPL's loop prints the response and then an empty line with ``IO.println ""``; we add
    a flush right after that line, at the same indentation. Idempotent.
    """
    main = repl_dir / "REPL" / "Main.lean"
    source = main.read_text()
    if "flush" in source:
        return False
    lines = source.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if re.match(r'^\s*IO\.println\s+""', line):
            indent = line[: len(line) - len(line.lstrip())]
            lines.insert(i + 1, f"{indent}{_FLUSH_LINE}\n")
            main.write_text("".join(lines))
            return True
    raise RuntimeError(
        f"could not find where {main} prints its blank line; patch it by hand to flush stdout"
    )
