"""Tests for `benchmarks.datasets` and `benchmarks.download`: loading the three benchmarks from
the shared data (read in place, never copied into the repository), the variants (revised
miniF2F, PutnamBench with and without the answer), the error messages, and the upstream
conversion, download and cache. No test touches the network: the upstream files are rebuilt
from the shared records (which the README documents as byte-for-byte upstream) and served by an
injected fetch function or by an HTTP server on 127.0.0.1.
"""
from __future__ import annotations

import functools
import http.server
import io
import json
import re
import socket
import tarfile
import threading
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import download as dl
from benchmarks.datasets import (
    BENCHMARKS,
    REVISION_PREFERENCE,
    SPLITS,
    BenchmarkItem,
    DatasetError,
    as_tactic_block,
    category_of,
    load_benchmark,
)
from lean_bridge.goals import find_declaration
from lean_bridge.text import (
    find_sorry_proofs,
    parse_file,
    replace_proof,
    split_header,
)

TACTIC = ":= by\n"
SORRY = "  sorry"


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def bench(shared) -> Path:
    return shared / "benchmarks"


@pytest.fixture(scope="module")
def loaded(bench) -> dict[str, list[BenchmarkItem]]:
    return {b: load_benchmark(b, data=bench) for b in BENCHMARKS}


# -- loading the shared data ---------------------------------------------------------------------

def test_counts_per_split_and_file_order(bench, loaded):
    expected = {("minif2f", "valid"): 244, ("minif2f", "test"): 244, ("proofnet", "valid"): 185,
                ("proofnet", "test"): 186, ("putnambench", "test"): 672}
    for benchmark in BENCHMARKS:
        records = _jsonl(bench / f"{benchmark}.jsonl")
        items = loaded[benchmark]
        assert [i.name for i in items] == [r["name"] for r in records]  # file order
        assert all(i.benchmark == benchmark and i.record["name"] == i.name for i in items)
        for split in SPLITS[benchmark]:
            part = load_benchmark(benchmark, data=bench / f"{benchmark}.jsonl", split=split)
            assert len(part) == expected[benchmark, split]
            assert [i.name for i in part] == [i.name for i in items if i.split == split]
    assert sum(len(v) for v in loaded.values()) == 1531


def test_names_unique_and_problem_name_is_the_lean_declaration(bench, loaded):
    for benchmark, items in loaded.items():
        assert len({i.name for i in items}) == len(items)
        for item in items:
            assert item.problem.statement.endswith(TACTIC)
            assert item.problem.header == item.record["header"]
            assert item.problem.source == item.record["source"]
    proofnet = loaded["proofnet"]
    # ProofNet's Lean names repeat across textbooks: the item id is unique, the audit name not.
    assert len({i.problem.name for i in proofnet}) < len(proofnet)
    for item in proofnet:
        assert item.problem.name == item.record["theorem_name"] != item.name
        assert item.name.endswith("_" + item.problem.name)
        assert item.problem.informal == item.record["informal_prefix"]
    for item in loaded["minif2f"] + loaded["putnambench"]:
        assert item.problem.name == item.name
    assert all(i.problem.informal is None for i in loaded["putnambench"])  # docstring in statement
    assert all(i.problem.informal.startswith("/--") for i in loaded["minif2f"])


def test_proofnet_statements_become_tactic_blocks_and_defs_stay_defs(loaded):
    defs = 0
    for item in loaded["proofnet"]:
        formal = item.record["formal_statement"]
        assert formal.endswith(":=")
        assert item.problem.statement == formal + " by\n"
        kind = item.record["decl_kind"]
        assert re.match(rf"(noncomputable )?{kind} {item.problem.name}\s", item.problem.statement)
        if kind == "def":  # data-valued: the README flags every one of them
            defs += 1
            assert item.known_issue
    assert defs > 0


def test_as_tactic_block():
    assert as_tactic_block("theorem t : True := by\n") == "theorem t : True := by\n"
    assert as_tactic_block("theorem t : True :=") == "theorem t : True := by\n"
    assert as_tactic_block("theorem t : True :=  \n") == "theorem t : True := by\n"
    assert as_tactic_block("theorem t : True := by") == "theorem t : True := by\n"
    with pytest.raises(DatasetError, match="does not end in"):
        as_tactic_block("theorem t : True := by\n  trivial")


def _header_note(parsed, problem) -> str:
    """'' when lean_bridge splits off exactly the record's header, else which known shape."""
    if parsed.header == problem.header:
        return ""
    if problem.header.startswith(parsed.header):
        # The record's header carries definitions the statement needs (ProofNet): the rest of
        # it holds no header command of its own.
        tail = problem.header[len(parsed.header):]
        assert tail.strip() and split_header(tail)[0] == "", tail
        return "record header longer"
    extra = parsed.header[len(problem.header):]
    assert parsed.header.startswith(problem.header) and "set_option" in extra, extra
    return "parsed header longer"


def _check_round_trip(item: BenchmarkItem) -> tuple[str, list[str]]:
    p = item.problem
    file = p.file_with(SORRY)
    assert file == p.header + p.statement + SORRY
    parsed = parse_file(file)
    assert parsed.header + "".join(i.text for i in parsed.items) == file
    note = _header_note(parsed, p)
    decl = find_declaration(file, p.name)
    assert decl is not None and decl == parsed.declarations[-1], item.name
    assert decl.name == p.name and decl.kind == item.record.get("decl_kind", "theorem")
    # The declaration's signature is the statement up to its final `:=`; the proof is what
    # follows: ` by\n` from the statement and the appended tactic.
    assert file[:decl.body_start] == p.header + p.statement[:-len(" by\n")]
    assert decl.end == len(file) and decl.proof(file) == " by\n" + SORRY
    assert replace_proof(file, decl, " by\n  norm_num") == p.file_with("  norm_num")
    sorry_names = [d.name for d in find_sorry_proofs(file, ("theorem", "def", "abbrev"))]
    return note, sorry_names


def test_every_statement_assembles_into_a_file_that_lean_bridge_splits_back(bench, loaded):
    notes: Counter = Counter()
    for benchmark, items in loaded.items():
        for item in items:
            note, sorry_names = _check_round_trip(item)
            assert sorry_names == [item.problem.name]
            notes[benchmark, note] += 1
    # Every miniF2F header is split off exactly; the exceptions are ProofNet headers that hold
    # the statement's own definitions and one PutnamBench statement with a top-level set_option.
    assert notes["minif2f", ""] == 488
    assert set(notes) <= {("minif2f", ""), ("proofnet", ""), ("proofnet", "record header longer"),
                          ("putnambench", ""), ("putnambench", "parsed header longer")}
    assert notes["proofnet", ""] > 300 and notes["putnambench", ""] > 600


def test_no_answer_and_revised_statements_round_trip_too(bench):
    for item in load_benchmark("putnambench", data=bench, no_answer=True):
        _, sorry_names = _check_round_trip(item)
        # The no-answer task leaves the answer abbrev as `:= sorry` for the prover to fill.
        abbrev = [item.name + "_solution"] if item.record["has_answer"] else []
        assert sorry_names == abbrev + [item.problem.name]
    revised = [i for i in load_benchmark("minif2f", data=bench, revised=True) if i.revision]
    assert revised
    for item in revised:
        assert _check_round_trip(item) == ("", [item.problem.name])


def test_putnambench_with_answer_by_default_and_no_answer_on_request(bench, loaded):
    with_answer = loaded["putnambench"]
    no_answer = load_benchmark("putnambench", data=bench, no_answer=True)
    assert [i.name for i in no_answer] == [i.name for i in with_answer]
    answered = 0
    for w, n in zip(with_answer, no_answer):
        r = w.record
        assert w.problem.statement == r["formal_statement_with_answer"]
        assert n.problem.statement == r["formal_statement"]
        solution = w.name + "_solution"
        if r["has_answer"]:
            answered += 1
            assert re.search(rf"abbrev {solution} :.*:= sorry\n", n.problem.statement)
            assert solution not in w.problem.statement
            answer = r["answer"]
            inner = answer[1:-1] if answer.startswith("(") and answer.endswith(")") else answer
            assert f"(({inner}) : " in w.problem.statement
        else:
            assert w.problem.statement == n.problem.statement
    assert answered == sum(r["has_answer"] for r in _jsonl(bench / "putnambench.jsonl")) > 300


def test_revised_swaps_exactly_the_flagged_problems_with_an_accepted_revision(bench, loaded):
    rows = _jsonl(bench / "minif2f_revisions.jsonl")
    accepted: dict[str, list[dict]] = {}
    for row in rows:
        if row["revision"] in REVISION_PREFERENCE:
            accepted.setdefault(row["name"], []).append(row)
    flagged = {i.name for i in loaded["minif2f"] if i.known_issue}
    revised = load_benchmark("minif2f", data=bench / "minif2f.jsonl", revised=True,
                             revisions=bench / "minif2f_revisions.jsonl")
    changed = set()
    for base, rev in zip(loaded["minif2f"], revised):
        assert (base.name, base.split, base.category, base.known_issue) == \
            (rev.name, rev.split, rev.category, rev.known_issue)
        if rev.revision is None:
            assert rev.problem == base.problem
            continue
        changed.add(rev.name)
        best = min(accepted[rev.name], key=lambda row: REVISION_PREFERENCE.index(row["revision"]))
        assert rev.revision == best["revision"]
        assert (rev.problem.header, rev.problem.statement, rev.problem.source) == \
            (best["header"], best["formal_statement"], best["source"])
        assert rev.problem.statement != base.problem.statement
        assert rev.problem.informal == base.problem.informal  # the same problem
    assert changed == flagged & set(accepted)
    # The documented rule, spelled out: Goedel-V2 (Kimina lineage) first, then DeepSeek-V2,
    # never yangky11's Lean v4.24 statements.
    goedel, deepseek = "goedel_prover_v2_testset (Kimina-rectified lineage)", "deepseek_prover_v2"
    used = {r.name: r.revision for r in revised if r.revision}
    by_name: dict[str, set[str]] = {}
    for row in rows:
        by_name.setdefault(row["name"], set()).add(row["revision"])
    assert all(used[n] == goedel for n in used if goedel in by_name[n])
    assert all(used[n] == deepseek for n in used if goedel not in by_name[n])
    assert any({goedel, deepseek} <= revs for revs in by_name.values())
    # Flagged problems whose only revision targets another Lean version keep their statement.
    assert flagged - changed
    assert {r.revision for r in revised} == {None, *REVISION_PREFERENCE}
    # The default revisions file is the sibling of the data file.
    assert [i.problem for i in load_benchmark("minif2f", data=bench, revised=True)] == \
        [i.problem for i in revised]


def test_categories(bench, loaded):
    minif2f = Counter(i.category for i in loaded["minif2f"])
    assert set(minif2f) == {"mathd", "amc", "aime", "imo", "induction", "algebra", "numbertheory"}
    for item in loaded["minif2f"]:
        assert item.name.startswith("mathd_" if item.category == "mathd" else item.category)
    for item in loaded["proofnet"]:
        assert item.category == item.record["proofnet_id"].split("|")[0]
    assert "Dummit-Foote" in {i.category for i in loaded["proofnet"]}
    years = {i.category for i in loaded["putnambench"]}
    assert all(i.category == i.name.split("_")[1] for i in loaded["putnambench"])
    assert min(years) == "1962" and max(years) == "2025"


@pytest.mark.parametrize("which, name, category", [
    ("minif2f", "mathd_algebra_10", "mathd"), ("minif2f", "mathd_numbertheory_3", "mathd"),
    ("minif2f", "amc12a_2019_p21", "amc"), ("minif2f", "amc12_2001_p9", "amc"),
    ("minif2f", "amc8_2020_p1", "amc"), ("minif2f", "aimeII_2001_p3", "aime"),
    ("minif2f", "imosl_2007_algebra_p6", "imo"), ("minif2f", "induction_12dvd4expnp1p20", "induction"),
    ("minif2f", "algebra_sqineq_at2malt1", "algebra"), ("minif2f", "numbertheory_2dvd4expn", "numbertheory"),
    ("minif2f", "mathd_geometry_1", "mathd"), ("minif2f", "putnam_1999_b6", "other"),
    ("proofnet", "Rudin_exercise_1_1a", "Rudin"), ("proofnet", "Dummit_Foote_exercise_1_1_2", "Dummit-Foote"),
    ("proofnet", "exercise_1_1a", "other"), ("putnambench", "putnam_1962_a1", "1962"),
    ("putnambench", "putnam_2025_b6", "2025"), ("putnambench", "other_2025_b6", "other"),
])
def test_category_of(which, name, category):
    assert category_of(which, name) == category


# -- errors --------------------------------------------------------------------------------------

def _write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _rec(name: str = "t1", split: str = "test", statement: str | None = None) -> str:
    return json.dumps({"name": name, "split": split, "header": "import Mathlib\n\n",
                       "formal_statement": statement or f"theorem {name} : True := by\n"})


@pytest.mark.parametrize("lines, kwargs, message", [
    ([_rec()], {"which": "minif2f_v2"}, "unknown benchmark 'minif2f_v2'"),
    ([_rec()], {"split": "train"}, "minif2f has no split 'train'; splits: valid, test"),
    ([_rec(), "{not json"], {}, r"x\.jsonl:2: not valid JSON"),
    ([_rec(), "[1, 2]"], {}, r"x\.jsonl:2: expected a JSON object, got list"),
    ([_rec(), "", '{"name": "t2", "split": "test"}'], {},
     r"x\.jsonl:3: record lacks string field\(s\) header, formal_statement"),
    ([_rec(), _rec()], {}, r"x\.jsonl:2: duplicate name 't1' \(first at .*x\.jsonl:1\)"),
    ([_rec(split="train")], {}, r"x\.jsonl:1: split 'train' is not a minif2f split"),
    ([_rec(statement="theorem t1 : True := trivial\n")], {}, r"x\.jsonl:1: formal statement does not end"),
    ([_rec()], {"which": "proofnet"}, r"x\.jsonl:1: record lacks string field\(s\) theorem_name"),
    ([_rec()], {"which": "putnambench"}, "lacks string field.*formal_statement_with_answer"),
    ([_rec()], {"which": "putnambench", "split": "valid"}, "putnambench has no split 'valid'"),
    ([_rec()], {"which": "proofnet", "revised": True}, "revised statements exist for minif2f only"),
    ([_rec()], {"no_answer": True}, "no_answer applies to putnambench only"),
    ([_rec()], {"revised": True}, r"revised miniF2F needs minif2f_revisions\.jsonl, not found at"),
])
def test_errors_say_what_is_wrong_and_where(tmp_path, lines, kwargs, message):
    path = _write(tmp_path / "x.jsonl", *lines)
    kwargs = {"which": "minif2f", **kwargs}
    with pytest.raises(DatasetError, match=message):
        load_benchmark(kwargs.pop("which"), data=path, **kwargs)


def test_missing_data_and_revision_rows_that_do_not_fit(tmp_path):
    with pytest.raises(DatasetError, match=r"minif2f: data file .*nowhere\.jsonl does not exist"):
        load_benchmark("minif2f", data=tmp_path / "nowhere.jsonl")
    with pytest.raises(DatasetError, match=r"proofnet: data file .*proofnet\.jsonl does not exist"):
        load_benchmark("proofnet", data=tmp_path)  # a directory without the benchmark's file
    data = _write(tmp_path / "minif2f.jsonl", _rec(), _rec("t2", "valid"))
    revision = {"name": "t1", "split": "test", "revision": REVISION_PREFERENCE[1],
                "header": "import Mathlib\n\n", "formal_statement": "theorem t1 : 1 = 1 := by\n"}
    revs = _write(tmp_path / "minif2f_revisions.jsonl", json.dumps(revision),
                  json.dumps({**revision, "revision": "yangky11_head",
                              "formal_statement": "theorem t1 : 2 = 2 := by\n"}))
    items = load_benchmark("minif2f", data=data, revised=True)
    assert [(i.name, i.revision, i.problem.statement) for i in items] == [
        ("t1", REVISION_PREFERENCE[1], "theorem t1 : 1 = 1 := by\n"),
        ("t2", None, "theorem t2 : True := by\n")]
    assert load_benchmark("minif2f", data=data, revised=True, split="valid")[0].revision is None
    _write(revs, json.dumps({**revision, "name": "t3"}))
    with pytest.raises(DatasetError, match=r"minif2f_revisions\.jsonl:1: revision of 't3' \(test\)"):
        load_benchmark("minif2f", data=data, revised=True)
    _write(revs, json.dumps({**revision, "split": "valid"}))
    with pytest.raises(DatasetError, match="matches no problem"):
        load_benchmark("minif2f", data=data, revised=True)


def test_items_are_frozen_and_records_read_only(loaded):
    item = loaded["minif2f"][0]
    with pytest.raises(AttributeError):
        item.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        item.record["name"] = "x"  # type: ignore[index]


# -- upstream conversion -------------------------------------------------------------------------

def _upstream_putnam_file(record: dict) -> str:
    # The README's identity, checked for all 672 upstream: this is the upstream file.
    return record["header"] + record["formal_statement"][:-len(TACTIC)] + \
        record["upstream_proof_placeholder"]


def _upstream_deepseek_line(record: dict) -> str:
    """DeepSeek's own record: its `name` is the Lean name (ProofNet's `theorem_name`)."""
    return json.dumps({"name": record.get("theorem_name", record["name"]), "split": record["split"],
                       "informal_prefix": record["informal_prefix"],
                       "formal_statement": record["formal_statement"], "goal": record["goal"],
                       "header": record["header"]}, ensure_ascii=False)


PUTNAM_FIELDS = ("name", "split", "header", "formal_statement", "has_answer", "answer",
                 "formal_statement_with_answer", "upstream_proof_placeholder")


def test_putnam_conversion_reproduces_every_shared_record(bench):
    records = _jsonl(bench / "putnambench.jsonl")
    for record in records:
        converted = dl.putnam_record(record["name"], _upstream_putnam_file(record))
        assert {f: converted[f] for f in PUTNAM_FIELDS} == {f: record[f] for f in PUTNAM_FIELDS}
        assert record["source"].startswith(converted["source"] + ";")
    assert len(records) == 672


def test_putnam_conversion_rules():
    text = ("import Mathlib\nopen Real\n\n-- Note: a comment\nabbrev putnam_2000_a1_solution : "
            "Set ℝ := sorry\n-- ({1, 2})\ntheorem putnam_2000_a1 : putnam_2000_a1_solution = "
            "{1, 2} :=\nsorry\n")
    record = dl.putnam_record("putnam_2000_a1", text)
    assert record["header"] == "import Mathlib\nopen Real\n\n"
    assert record["formal_statement"].endswith("{1, 2} := by\n")
    assert record["answer"] == "({1, 2})" and record["has_answer"]
    assert record["formal_statement_with_answer"] == (
        "-- Note: a comment\n-- ({1, 2})\ntheorem putnam_2000_a1 : (({1, 2}) : Set ℝ ) = {1, 2} := by\n")
    assert record["upstream_proof_placeholder"] == ":=\nsorry\n"
    by_sorry = dl.putnam_record("p", "import Mathlib\n\ntheorem p : True := by\n  sorry")
    assert (by_sorry["formal_statement"], by_sorry["upstream_proof_placeholder"]) == \
        ("theorem p : True := by\n", ":= by\n  sorry")
    assert by_sorry["formal_statement_with_answer"] == by_sorry["formal_statement"]
    with pytest.raises(DatasetError, match=r"p\.lean: does not end in ':= sorry'"):
        dl.putnam_record("p", "import Mathlib\n\ntheorem p : True := trivial\n")
    with pytest.raises(DatasetError, match="p_solution has no '-- answer' comment"):
        dl.putnam_record("p", "abbrev p_solution : ℕ := sorry\ntheorem p : p_solution = 1 := sorry\n")


def test_deepseek_conversion_reproduces_shared_records(bench):
    for benchmark in ("minif2f", "proofnet"):
        records = _jsonl(bench / f"{benchmark}.jsonl")
        text = "\n".join(_upstream_deepseek_line(r) for r in records) + "\n"
        converted = dl.deepseek_records(benchmark, text)
        fields = ["name", "split", "header", "formal_statement", "informal_prefix", "goal"]
        if benchmark == "proofnet":
            fields += ["theorem_name", "proofnet_id", "decl_kind"]
        assert [{f: c[f] for f in fields} for c in converted] == \
            [{f: r[f] for f in fields} for r in records]
        assert all(r["source"].startswith(c["source"] + ";") for c, r in zip(converted, records))


def test_deepseek_conversion_errors():
    line = {"name": "exercise_1", "split": "test", "header": "import Mathlib\n\nopen Unheard\n\n",
            "formal_statement": "theorem exercise_1 : True :=", "informal_prefix": "", "goal": ""}
    with pytest.raises(DatasetError, match=r"proofnet\.jsonl:1: cannot tell the textbook of 'exercise_1'"):
        dl.deepseek_records("proofnet", json.dumps(line))
    line["header"] = "import Mathlib\n\nopen Real\nopen scoped BigOperators\n\n"
    [record] = dl.deepseek_records("proofnet", json.dumps(line))
    assert (record["name"], record["proofnet_id"]) == ("Ireland_Rosen_exercise_1", "Ireland-Rosen|exercise_1")
    with pytest.raises(DatasetError, match=r"proofnet\.jsonl: problem ids are not unique"):
        dl.deepseek_records("proofnet", json.dumps(line) + "\n" + json.dumps(line))
    with pytest.raises(DatasetError, match=r"minif2f\.jsonl:2: not valid JSON"):
        dl.deepseek_records("minif2f", json.dumps(line) + "\n<html>")
    with pytest.raises(DatasetError, match=r"minif2f\.jsonl:1: needs string fields"):
        dl.deepseek_records("minif2f", json.dumps({"name": "x"}))


# -- download and cache --------------------------------------------------------------------------

def _tarball(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def upstream(bench) -> dict[str, bytes]:
    """What each upstream URL serves, rebuilt from the shared records."""
    served = {}
    for benchmark in ("minif2f", "proofnet"):
        lines = [_upstream_deepseek_line(r) for r in _jsonl(bench / f"{benchmark}.jsonl")]
        served[dl.UPSTREAMS[benchmark].url] = ("\n".join(lines) + "\n").encode("utf-8")
    top = f"PutnamBench-{dl.PUTNAM_COMMIT}"
    files = {f"{top}/README.md": "not Lean", f"{top}/lean4/putnam_1962.lean": "-- a year file",
             f"{top}/lean4/src/helpers/putnam_x.lean": "-- nested: not a problem"}
    for r in reversed(_jsonl(bench / "putnambench.jsonl")):  # archive order is not problem order
        files[f"{top}/lean4/src/{r['name']}.lean"] = _upstream_putnam_file(r)
    served[dl.UPSTREAMS["putnambench"].url] = _tarball(files)
    return served


def _comparable(item: BenchmarkItem) -> tuple:
    p = item.problem
    return (item.name, item.split, item.category, p.name, p.header, p.statement, p.informal)


@pytest.mark.parametrize("which", BENCHMARKS)
def test_download_converts_caches_and_reuses(which, bench, upstream, tmp_path):
    benchmark = which
    fetched, said = [], []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return upstream[url]

    download = functools.partial(dl.download_benchmark, fetch=fetch, say=said.append)
    items = load_benchmark(benchmark, cache_dir=tmp_path, download=download)
    url = dl.UPSTREAMS[benchmark].url
    assert fetched == [url]
    assert any(url in line and dl.UPSTREAMS[benchmark].repo in line for line in said)
    cached = dl.cache_path(benchmark, tmp_path)
    assert cached.is_file() and dl.UPSTREAMS[benchmark].commit in cached.name
    assert [p.name for p in tmp_path.iterdir()] == [cached.name]  # no temporary file left
    assert [_comparable(i) for i in items] == \
        [_comparable(i) for i in load_benchmark(benchmark, data=bench)]
    if benchmark == "putnambench":  # both statement forms survive the round trip
        assert [i.problem.statement for i in load_benchmark(benchmark, cache_dir=tmp_path,
                                                            download=download, no_answer=True)] \
            == [i.problem.statement for i in load_benchmark(benchmark, data=bench, no_answer=True)]
    said.clear()
    again = load_benchmark(benchmark, cache_dir=tmp_path, download=download, split="test")
    assert fetched == [url] and said == [f"{benchmark}: using cached {cached}"]
    assert [i.name for i in again] == [i.name for i in items if i.split == "test"]


def test_revised_with_downloaded_minif2f_needs_the_revisions_path(bench, upstream, tmp_path):
    download = functools.partial(dl.download_benchmark, fetch=upstream.__getitem__,
                                 say=lambda _: None)
    with pytest.raises(DatasetError, match="not downloadable"):
        load_benchmark("minif2f", cache_dir=tmp_path, download=download, revised=True)
    items = load_benchmark("minif2f", cache_dir=tmp_path, download=download, revised=True,
                           revisions=bench / "minif2f_revisions.jsonl")
    assert [_comparable(i) for i in items] == \
        [_comparable(i) for i in load_benchmark("minif2f", data=bench, revised=True)]


@pytest.mark.parametrize("which, failure, message", [
    ("minif2f", DatasetError("HTTP 503 for the url"), "could not download .*HTTP 503"),
    ("proofnet", OSError("network is unreachable"), "could not download .*unreachable"),
    ("minif2f", b"<html>rate limited</html>", "is not what was expected: .*not valid JSON"),
    ("putnambench", b"<html>rate limited</html>", "is not what was expected: not a readable tar"),
    ("putnambench", _tarball({"PutnamBench-x/README.md": "no Lean"}), "no lean4/src/putnam_"),
])
def test_download_failures_suggest_data_and_cache_nothing(tmp_path, which, failure, message):
    def fetch(url: str) -> bytes:
        if isinstance(failure, Exception):
            raise failure
        return failure

    with pytest.raises(DatasetError, match=message) as caught:
        dl.download_benchmark(which, tmp_path, fetch=fetch, say=lambda _: None)
    assert dl.UPSTREAMS[which].url in str(caught.value) and "--data PATH" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PROVER_CACHE", str(tmp_path / "pc"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert dl.default_cache_dir() == tmp_path / "pc" / "benchmarks"
    monkeypatch.delenv("PROVER_CACHE")
    assert dl.default_cache_dir() == tmp_path / "xdg" / "prover" / "benchmarks"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert dl.default_cache_dir() == tmp_path / "home" / ".cache" / "prover" / "benchmarks"
    assert dl.cache_path("proofnet") == \
        tmp_path / "home" / ".cache" / "prover" / "benchmarks" / f"proofnet-{dl.DEEPSEEK_COMMIT}.jsonl"
    with pytest.raises(DatasetError, match="unknown benchmark"):
        dl.cache_path("lean-workbook")


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the stdlib's name)
        if self.path == "/data.jsonl":
            body = _rec().encode("utf-8") + b"\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/data.jsonl")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_error(404)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def local_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_fetch_url_against_a_local_server(local_server, monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    assert dl.fetch_url(f"{local_server}/data.jsonl") == _rec().encode("utf-8") + b"\n"
    assert dl.fetch_url(f"{local_server}/moved") == _rec().encode("utf-8") + b"\n"
    with pytest.raises(DatasetError, match=r"HTTP 404 for http://127\.0\.0\.1:\d+/missing"):
        dl.fetch_url(f"{local_server}/missing")
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(DatasetError, match="ConnectError"):
        dl.fetch_url(f"http://127.0.0.1:{closed}/data.jsonl", timeout=5)


def test_lines_end_at_newline_only(tmp_path):
    # JSON may carry U+2028 (and other characters str.splitlines breaks at) unescaped.
    record = json.loads(_rec())
    record["informal_prefix"] = "/-- one\u2028two\x85three -/\n"
    path = tmp_path / "minif2f.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    [item] = load_benchmark("minif2f", data=path)
    assert item.problem.informal == record["informal_prefix"]
    upstream = {**record, "header": "import Mathlib\n\nopen Real\n\n", "name": "exercise_1",
                "formal_statement": "theorem exercise_1 : True :=", "goal": "⊢ True"}
    [converted] = dl.deepseek_records("proofnet", json.dumps(upstream, ensure_ascii=False))
    assert converted["informal_prefix"] == record["informal_prefix"]
    text = "import Mathlib\u2028\n\n/-- a\u2028b -/\ntheorem p : True :=\nsorry\n"
    assert dl.split_putnam_file(text) == ("import Mathlib\u2028\n\n",
                                          "/-- a\u2028b -/\ntheorem p : True ", ":=\nsorry\n")
