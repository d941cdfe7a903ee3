"""The benchmarks fetched from their upstream repositories at pinned commits, converted to the
schema of the shared JSONL files (``shared/benchmarks/README.md``) and cached, one file per
benchmark and commit, so a machine without the shared data can still run ``prover eval``.

Upstreams: miniF2F and ProofNet are DeepSeek-Prover-V1.5's ``datasets/*.jsonl``; PutnamBench is
``lean4/src/*.lean`` of trishullab/PutnamBench, fetched as one archive of the commit.

Only what these files hold is converted. Null or absent in downloaded records, unlike the
shared files: informal statements and proofs, ``known_issue`` notes (written by hand for the
shared data), PutnamBench's informal text, tags and history fields. ProofNet: DeepSeek's
records carry no textbook, and their names repeat across books; each textbook has its own
header in that file, so the book is read off the header's first ``open`` line
(``PROOFNET_BOOKS``) to build the unique ``<Book>_<name>`` id. A record whose header matches no
book is an error, not a guess.
"""
from __future__ import annotations

import io
import json
import os
import re
import sys
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

import httpx

from benchmarks.catalog import BENCHMARKS, DatasetError, parse_jsonl
from lean_bridge.files import atomic_write

DEEPSEEK_COMMIT = "2c4ba9119eef74d0d611f494261b2c5bae98c69a"
PUTNAM_COMMIT = "3c9b9268ebd132d482938b8e9d242dd71fc1ebc0"

Fetch = Callable[[str], bytes]  # url -> response body; raises DatasetError or OSError
Say = Callable[[str], None]


@dataclass(frozen=True)
class Upstream:
    repo: str
    commit: str
    path: str  # inside the repository
    url: str


def _raw(repo: str, commit: str, path: str) -> Upstream:
    return Upstream(repo, commit, path, f"https://raw.githubusercontent.com/{repo}/{commit}/{path}")


_DEEPSEEK = "deepseek-ai/DeepSeek-Prover-V1.5"
UPSTREAMS: Mapping[str, Upstream] = MappingProxyType({
    "minif2f": _raw(_DEEPSEEK, DEEPSEEK_COMMIT, "datasets/minif2f.jsonl"),
    "proofnet": _raw(_DEEPSEEK, DEEPSEEK_COMMIT, "datasets/proofnet.jsonl"),
    # One archive of the commit instead of 672 requests (and no GitHub API rate limit).
    "putnambench": Upstream(
        "trishullab/PutnamBench", PUTNAM_COMMIT, "lean4/src",
        f"https://codeload.github.com/trishullab/PutnamBench/tar.gz/{PUTNAM_COMMIT}"),
})
# The first `open` line of each textbook's header in DeepSeek's proofnet.jsonl -> the book as
# the original ProofNet ids spell it (`Dummit-Foote|exercise_1_1_2`).
PROOFNET_BOOKS: Mapping[str, str] = MappingProxyType({
    "open Complex Filter Function Metric Finset": "Shakarchi",
    "open Topology Filter Real Complex TopologicalSpace Finset": "Rudin",
    "open Fintype Set Real Ideal Polynomial": "Herstein",
    "open Filter Real Function": "Pugh",
    "open Function Fintype Subgroup Ideal Polynomial Submodule Zsqrtd": "Artin",
    "open Fintype Complex Polynomial LinearMap FiniteDimensional Module Module.End": "Axler",
    "open Fintype Subgroup Set Polynomial Ideal": "Dummit-Foote",
    "open Filter Set TopologicalSpace": "Munkres",
    "open Real": "Ireland-Rosen",
    "open scoped BigOperators": "Putnam",
})
_HINT = "check the network, or pass --data PATH with a local copy of the benchmark JSONL"
_UPSTREAM_FIELDS = ("name", "split", "header", "formal_statement")
_DECL_KEYWORD = re.compile(r"\s*(?:(?:noncomputable|private|protected)\s+)*(\w+)")
_HEADER_LINE = re.compile(r"(?:import|open)(?![\w'.])")
# Upstream PutnamBench files end in `:= sorry` (term mode, often on its own line) or `:= by sorry`.
_PLACEHOLDER = re.compile(r":=\s*(?:by\s+)?sorry\s*\Z")
_SOLUTION = re.compile(r"[ \t]*(?:noncomputable[ \t]+)?abbrev[ \t]+(\S+_solution)[ \t]*:"
                       r"[ \t]*(.+?)[ \t]*:=[ \t]*sorry[ \t]*")
_SRC_MEMBER = re.compile(r"[^/]+/lean4/src/(putnam_[^/]+)\.lean")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


# -- fetching and caching ------------------------------------------------------------------------

def fetch_url(url: str, *, timeout: float = 120.0) -> bytes:
    """GET ``url`` (redirects followed); DatasetError saying what failed otherwise."""
    try:
        with httpx.Client(follow_redirects=True, timeout=timeout) as client:
            response = client.get(url)
            response.raise_for_status()
            return response.content
    except httpx.HTTPStatusError as exc:
        raise DatasetError(f"HTTP {exc.response.status_code} for {url}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise DatasetError(f"{type(exc).__name__}: {str(exc) or 'no detail'}") from None


def default_cache_dir() -> Path:
    """``$PROVER_CACHE/benchmarks`` when set (``PROVER_CACHE`` stands for the whole
    ``~/.cache/prover``), else ``$XDG_CACHE_HOME/prover/benchmarks``, else
    ``~/.cache/prover/benchmarks``."""
    root = os.environ.get("PROVER_CACHE")
    if root:
        return Path(root).expanduser() / "benchmarks"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "prover" / "benchmarks"


def cache_path(benchmark: str, cache_dir: Path | None = None) -> Path:
    """``<cache_dir>/<benchmark>-<commit>.jsonl``: a new pin is a new file, never a stale hit."""
    _check(benchmark)
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return directory / f"{benchmark}-{UPSTREAMS[benchmark].commit}.jsonl"


def download_benchmark(benchmark: str, cache_dir: Path | None = None, *,
                       fetch: Fetch = fetch_url, say: Say = _stderr) -> Path:
    """The cached JSONL of ``benchmark``, downloaded and converted first if it is not there.
    Says what it downloads and from where; DatasetError (with the ``--data`` hint) on
    failure. The cache file is written atomically, so an interrupted download leaves none."""
    path = cache_path(benchmark, cache_dir)
    if path.is_file():
        say(f"{benchmark}: using cached {path}")
        return path
    up = UPSTREAMS[benchmark]
    say(f"{benchmark}: downloading {up.repo}@{up.commit[:12]} {up.path} from {up.url}")
    try:
        body = fetch(up.url)
    except (DatasetError, OSError, httpx.HTTPError) as exc:
        raise DatasetError(f"{benchmark}: could not download {up.url}: {exc}; {_HINT}") from None
    try:
        records = convert(benchmark, body)
    except DatasetError as exc:
        raise DatasetError(f"{benchmark}: {up.url} is not what was expected: {exc}; "
                           f"{_HINT}") from None
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        raise DatasetError(f"cannot write the benchmark cache {path}: {exc}; pass another "
                           "cache directory or --data PATH") from None
    say(f"{benchmark}: {len(records)} problems cached in {path}")
    return path


def convert(benchmark: str, body: bytes) -> list[dict[str, Any]]:
    """The records of ``benchmark`` from its upstream download (a JSONL file or an archive)."""
    _check(benchmark)
    if benchmark == "putnambench":
        return putnam_records_from_archive(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not UTF-8 text ({exc.reason})") from None
    return deepseek_records(benchmark, text)


# -- DeepSeek-Prover-V1.5 datasets/{minif2f,proofnet}.jsonl --------------------------------------

def deepseek_records(benchmark: str, text: str, *,
                     commit: str = DEEPSEEK_COMMIT) -> list[dict[str, Any]]:
    """Upstream JSONL lines (name, split, informal_prefix, formal_statement, goal, header)
    -> records of our schema, in file order."""
    up = UPSTREAMS[benchmark]
    source = f"formal: {up.repo}@{commit}:{up.path}"
    records: list[dict[str, Any]] = []
    for where, upstream in parse_jsonl(text, up.path):
        if not all(isinstance(upstream.get(f), str) for f in _UPSTREAM_FIELDS):
            raise DatasetError(f"{where}: needs string fields {', '.join(_UPSTREAM_FIELDS)}")
        if benchmark == "minif2f":
            records.append(minif2f_record(upstream, source=source))
        else:
            records.append(proofnet_record(upstream, source=source, where=where))
    names = [r["name"] for r in records]
    if len(set(names)) != len(names):
        raise DatasetError(f"{up.path}: problem ids are not unique")
    return records


def minif2f_record(upstream: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    return {
        "name": upstream["name"], "split": upstream["split"], "header": upstream["header"],
        "formal_statement": upstream["formal_statement"], "informal_statement": None,
        "informal_proof": None, "informal_prefix": upstream.get("informal_prefix"),
        "goal": upstream.get("goal"), "known_issue": None, "source": source,
    }


def proofnet_book(header: str) -> str | None:
    """The textbook of a DeepSeek ProofNet header (``PROOFNET_BOOKS``), None if unknown."""
    first_open = next((ln.strip() for ln in header.splitlines() if ln.startswith("open")), None)
    return PROOFNET_BOOKS.get(first_open) if first_open is not None else None


def proofnet_record(upstream: Mapping[str, Any], *, source: str,
                    where: str = "proofnet") -> dict[str, Any]:
    theorem = upstream["name"]
    book = proofnet_book(upstream["header"])
    if book is None:
        raise DatasetError(f"{where}: cannot tell the textbook of {theorem!r} from its header, "
                           "so it has no unique id")
    keyword = _DECL_KEYWORD.match(upstream["formal_statement"])
    return {
        "name": f"{book.replace('-', '_')}_{theorem}", "theorem_name": theorem,
        "proofnet_id": f"{book}|{theorem}", "split": upstream["split"],
        "header": upstream["header"], "formal_statement": upstream["formal_statement"],
        "informal_statement": None, "informal_proof": None,
        "informal_prefix": upstream.get("informal_prefix"), "goal": upstream.get("goal"),
        "decl_kind": keyword.group(1) if keyword else None, "known_issue": None,
        "source": source,
    }


# -- PutnamBench lean4/src/*.lean ----------------------------------------------------------------

def split_putnam_file(text: str) -> tuple[str, str, str]:
    """(header, body, placeholder): the leading ``import``/``open`` and blank lines; the
    rest up to the final ``:=``; the upstream tail from that ``:=`` (``":=\\nsorry\\n"``)."""
    lines = re.findall(r"[^\n]*\n|[^\n]+$", text)  # `\n` line ends only, kept
    k = 0
    while k < len(lines) and (not lines[k].strip() or _HEADER_LINE.match(lines[k])):
        k += 1
    header = "".join(lines[:k])
    rest = text[len(header):]
    m = _PLACEHOLDER.search(rest)
    if m is None:
        raise DatasetError("does not end in ':= sorry' or ':= by sorry'")
    return header, rest[:m.start()], rest[m.start():]


def inline_answers(formal: str) -> tuple[str, str | None]:
    """(with-answer statement, answer): each ``…_solution`` abbrev line is dropped and its
    uses become ``((answer) : type )``, the answer read from the ``-- answer`` comment on
    the next line. This is upstream's ``lean4/scripts/rewrite_solutions.py`` rule (an answer
    wrapped in one pair of parentheses loses it; the same term) and byte-identical to
    Goedel-Prover's ``putnam.jsonl`` form. Without an abbrev: (``formal``, None)."""
    lines = formal.split("\n")
    solutions: dict[str, tuple[str, str]] = {}
    dropped: set[int] = set()
    first_answer = None
    for i, line in enumerate(lines):
        m = _SOLUTION.fullmatch(line)
        if m is None:
            continue
        comment = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if not comment.startswith("--"):
            raise DatasetError(f"{m.group(1)} has no '-- answer' comment on the next line")
        answer = comment[2:].strip()
        first_answer = answer if first_answer is None else first_answer
        inner = answer[1:-1] if answer.startswith("(") and answer.endswith(")") else answer
        solutions[m.group(1)] = (inner, m.group(2))
        dropped.add(i)
    if not solutions:
        return formal, None
    out = []
    for i, line in enumerate(lines):
        if i in dropped:
            continue
        for name, (inner, type_) in solutions.items():
            line = line.replace(name, f"(({inner}) : {type_} )")
        out.append(line)
    return "\n".join(out), first_answer


def putnam_record(name: str, text: str, *, commit: str = PUTNAM_COMMIT) -> dict[str, Any]:
    """One upstream ``lean4/src/<name>.lean`` -> a record of our schema. The statement is
    the file after its header with the final ``sorry`` removed and ``by`` added where it was
    missing (ends ``:= by\\n``); ``header + formal_statement[:-len(":= by\\n")] +
    upstream_proof_placeholder`` is the upstream file again."""
    try:
        header, body, placeholder = split_putnam_file(text)
        formal = body + ":= by\n"
        with_answer, answer = inline_answers(formal)
    except DatasetError as exc:
        raise DatasetError(f"{name}.lean: {exc}") from None
    return {
        "name": name, "split": "test", "header": header, "formal_statement": formal,
        "has_answer": answer is not None, "answer": answer,
        "formal_statement_with_answer": with_answer, "informal_statement": None,
        "informal_solution": None, "tags": None, "upstream_proof_placeholder": placeholder,
        "source": f"trishullab/PutnamBench@{commit}:lean4/src/{name}.lean",
    }


def putnam_records_from_archive(data: bytes, *,
                                commit: str = PUTNAM_COMMIT) -> list[dict[str, Any]]:
    """Records for every ``<top>/lean4/src/putnam_*.lean`` in a repository tarball, by name.
    Members are read in memory, never extracted to disk."""
    texts: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar:
                m = _SRC_MEMBER.fullmatch(member.name)
                if m is None or not member.isfile():
                    continue
                handle = tar.extractfile(member)
                texts[m.group(1)] = handle.read().decode("utf-8") if handle else ""
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DatasetError(f"not a readable tar archive ({exc})") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"a Lean file is not UTF-8 ({exc.reason})") from None
    if not texts:
        raise DatasetError("no lean4/src/putnam_*.lean in the archive")
    return [putnam_record(name, texts[name], commit=commit) for name in sorted(texts)]


def _check(benchmark: str) -> None:
    if benchmark not in BENCHMARKS:
        raise DatasetError(f"unknown benchmark {benchmark!r}; benchmarks: {', '.join(BENCHMARKS)}")


__all__ = [
    "DEEPSEEK_COMMIT", "PROOFNET_BOOKS", "PUTNAM_COMMIT", "UPSTREAMS", "Fetch", "Say", "Upstream",
    "cache_path", "convert", "deepseek_records", "default_cache_dir", "download_benchmark",
    "fetch_url", "inline_answers", "minif2f_record", "proofnet_book", "proofnet_record",
    "putnam_record", "putnam_records_from_archive", "split_putnam_file",
]
