"""REPL processes and the pool against the fake REPL: real subprocesses on real pipes."""
from __future__ import annotations

import asyncio
import json
import resource

import pytest
from conftest import fake_repl_command, process_alive
from fake_counters import fake_stats, logged_imports

from lean_bridge.errors import (
    HeaderError,
    NoAvailableRepl,
    ReplCrashed,
    ReplTimeout,
    ReplUnavailable,
)
from lean_bridge.pool import PoolConfig, ReplPool
from lean_bridge.process import (
    GIB,
    ProcessLimits,
    ReplProcess,
    ReplSpec,
    ResolvedLimits,
)
from lean_bridge.protocol import (
    CommandRequest,
    CommandResponse,
    ReplErrorResponse,
)

HEADER = "import Mathlib\nopen Real\n"


def spec(*args: str, memory: int | None = 4 * GIB) -> ReplSpec:
    return ReplSpec(fake_repl_command(*args), limits=ProcessLimits(memory_bytes=memory))


async def started(*args: str, **kw) -> ReplProcess:
    return await ReplProcess(spec(*args, **kw)).start()


async def test_commands_get_typed_answers_and_env_ids_count_up():
    p = await started()
    try:
        first = await p.request(CommandRequest(cmd="def f := 37"), timeout=10)
        second = await p.request(CommandRequest(cmd="theorem t : f = 37 := by sorry", env=first.env), timeout=10)
        unknown = await p.request(CommandRequest(cmd="def g := 1", env=99), timeout=10)
    finally:
        await p.close()
    assert isinstance(first, CommandResponse) and first.env == 0
    assert second.env == 1 and len(second.sorries) == 1
    assert isinstance(unknown, ReplErrorResponse) and unknown.message == "Unknown environment."
    assert p.requests_served == 3


async def test_hang_becomes_timeout_and_the_group_is_killed():
    p = await started("--hang-on", "spin")
    pid = p.pid
    with pytest.raises(ReplTimeout):
        await p.request(CommandRequest(cmd="theorem t : True := by spin"), timeout=0.5)
    assert not p.alive and not process_alive(pid)


async def test_crash_mid_response_is_classified():
    p = await started("--crash-on", "boom")
    with pytest.raises(ReplCrashed) as info:
        await p.request(CommandRequest(cmd="theorem t : True := by boom"), timeout=10)
    assert info.value.cause in ("signal", "exit") and info.value.returncode == 134
    assert "Stack overflow" in info.value.detail


async def test_garbage_output_is_a_crash_and_the_process_is_killed():
    p = await started("--garbage-on", "weird")
    pid = p.pid
    with pytest.raises(ReplCrashed) as info:
        await p.request(CommandRequest(cmd="weird"), timeout=10)
    assert info.value.cause == "garbage"
    assert not process_alive(pid)


async def test_memory_balloon_dies_under_the_address_space_cap():
    p = await started("--balloon-on", "huge", memory=512 * 1024 * 1024)
    with pytest.raises(ReplCrashed) as info:
        await p.request(CommandRequest(cmd="huge"), timeout=60)
    assert info.value.cause == "out_of_memory"


async def test_stderr_is_drained_so_a_chatty_repl_does_not_block():
    # 1 MiB of stderr per request fills an undrained 64 KiB pipe and the REPL would block.
    p = await started("--stderr-bytes", str(1024 * 1024))
    try:
        for i in range(3):
            r = await p.request(CommandRequest(cmd=f"def x{i} := {i}"), timeout=20)
            assert r.env == i
    finally:
        await p.close()


async def test_missing_executable_is_unavailable():
    with pytest.raises(ReplUnavailable, match="prover setup"):
        await ReplProcess(ReplSpec(("/nonexistent/repl",))).start()


async def test_limits_are_visible_inside_the_child(tmp_path):
    script = tmp_path / "show_limits.py"
    script.write_text(
        "import resource, json, os, sys\n"
        "print(json.dumps([resource.getrlimit(resource.RLIMIT_AS)[0], "
        "resource.getrlimit(resource.RLIMIT_CPU)[0], os.getpgid(0) == os.getpid()]))\n"
        "sys.stdout.write('\\n'); sys.stdout.flush()\n"
    )
    import sys
    limits = ProcessLimits(memory_bytes=3 * GIB, cpu_seconds=77)
    p = await ReplProcess(ReplSpec((sys.executable, str(script)), limits=limits)).start()
    line = await asyncio.wait_for(p._proc.stdout.readline(), 10)
    await p.close()
    assert json.loads(line) == [3 * GIB, 77, True]


def inherited(**hard: int):
    """A ``hard_limit`` lookup: the given hard limits, every other one unlimited."""
    names = {resource.RLIMIT_AS: "AS", resource.RLIMIT_CPU: "CPU", resource.RLIMIT_NOFILE: "NOFILE"}
    return lambda which: hard.get(names[which], resource.RLIM_INFINITY)


def test_limits_are_as_configured_when_nothing_is_inherited():
    resolved = ProcessLimits(memory_bytes=16 * GIB, cpu_seconds=100, open_files=4096).resolve(inherited())
    assert resolved.memory_bytes == 16 * GIB
    assert set(resolved.settings) == {(resource.RLIMIT_AS, 16 * GIB, 16 * GIB),
                                      (resource.RLIMIT_CPU, 100, 101),
                                      (resource.RLIMIT_NOFILE, 4096, 4096)}


def test_each_limit_is_capped_at_the_inherited_hard_limit():
    inherited_as = 8_000_000 * 1024  # `ulimit -v 8000000`
    resolved = ProcessLimits(memory_bytes=16 * GIB, cpu_seconds=4 * 3600, open_files=65536).resolve(
        inherited(AS=inherited_as, CPU=600, NOFILE=1024))
    assert resolved.memory_bytes == inherited_as
    assert set(resolved.settings) == {(resource.RLIMIT_AS, inherited_as, inherited_as),
                                      (resource.RLIMIT_CPU, 600, 600),
                                      (resource.RLIMIT_NOFILE, 1024, 1024)}
    # No configured cap: the child simply keeps the inherited one, and says so.
    free = ProcessLimits(memory_bytes=None).resolve(inherited(AS=2 * GIB))
    assert free.memory_bytes == 2 * GIB and all(s[0] != resource.RLIMIT_AS for s in free.settings)


def test_an_inherited_address_space_below_what_lean_needs_is_refused_naming_the_setting():
    with pytest.raises(ReplUnavailable) as info:
        ProcessLimits(memory_bytes=16 * GIB).resolve(inherited(AS=600 * 2**20))
    assert "PROVER_MEMORY_GB" in str(info.value) and "600 MiB" in str(info.value)
    with pytest.raises(ReplUnavailable):
        ProcessLimits(memory_bytes=None).resolve(inherited(AS=600 * 2**20))
    # A cap the user chose below the inherited limit is theirs to choose, however small.
    small = ProcessLimits(memory_bytes=512 * 2**20).resolve(inherited(AS=600 * 2**20))
    assert small.memory_bytes == 512 * 2**20


async def test_a_limit_that_fails_in_the_child_is_unavailable_not_a_raw_preexec_error():
    class Impossible(ProcessLimits):
        def resolve(self, hard_limit=None):
            # soft above hard: setrlimit raises ValueError between fork and exec.
            return ResolvedLimits(None, ((resource.RLIMIT_CPU, 10, 5),))

    with pytest.raises(ReplUnavailable, match="resource limits") as info:
        await ReplProcess(ReplSpec(fake_repl_command(), limits=Impossible())).start()
    assert "PROVER_MEMORY_GB" in str(info.value)


# -- the pool ---------------------------------------------------------------------------------


async def test_header_elaborated_once_per_process(tmp_path):
    log = tmp_path / "requests.log"
    pool = ReplPool(spec("--log", str(log)), PoolConfig(max_processes=2))
    try:
        for i in range(5):
            async with pool.acquire(HEADER) as w:
                r = await w.request(CommandRequest(cmd=f"theorem t{i} : True := trivial", env=w.header_env), timeout=10)
                assert r.env > w.header_env
    finally:
        await pool.close()
    requests = [json.loads(line) for line in log.read_text().splitlines()]
    imports = [r for r in requests if "env" not in r and "cmd" in r]
    assert len(imports) == 1 and pool.stats.header_imports == 1
    assert all(r.get("env") == 0 for r in requests if r not in imports)


async def test_concurrent_checks_use_up_to_max_processes_then_wait():
    pool = ReplPool(spec("--latency", "0.2"), PoolConfig(max_processes=2))
    in_use, peak = 0, 0

    async def job(i):
        nonlocal in_use, peak
        async with pool.acquire(HEADER) as w:
            in_use += 1
            peak = max(peak, in_use)
            await w.request(CommandRequest(cmd=f"def y{i} := {i}", env=w.header_env), timeout=10)
            in_use -= 1

    try:
        await asyncio.gather(*(job(i) for i in range(6)))
    finally:
        await pool.close()
    assert peak == 2 and pool.stats.started == 2


async def test_backpressure_deadline_raises_no_available():
    pool = ReplPool(spec(), PoolConfig(max_processes=1))
    try:
        async with pool.acquire(HEADER):
            with pytest.raises(NoAvailableRepl):
                async with pool.acquire(HEADER, wait=0.3):
                    pass
    finally:
        await pool.close()


async def test_timeout_destroys_the_worker_and_the_next_request_works():
    pool = ReplPool(spec("--hang-on", "spin"), PoolConfig(max_processes=1))
    try:
        async with pool.acquire(HEADER) as w:
            dead_pid = w.process.pid
            with pytest.raises(ReplTimeout):
                await w.request(CommandRequest(cmd="theorem a : True := by spin", env=w.header_env), timeout=0.5)
        assert not process_alive(dead_pid)
        async with pool.acquire(HEADER) as w:
            assert w.process.pid != dead_pid
            r = await w.request(CommandRequest(cmd="theorem b : True := trivial", env=w.header_env), timeout=10)
            assert isinstance(r, CommandResponse) and not r.errors
    finally:
        await pool.close()
    assert pool.stats.destroyed == 1 and pool.stats.started == 2


async def test_lru_eviction_for_a_new_header():
    pool = ReplPool(spec(), PoolConfig(max_processes=2))
    try:
        for header in ("import A\n", "import B\n", "import A\n", "import C\n"):
            async with pool.acquire(header) as w:
                assert w.header == header
        headers = sorted(w.header for w in pool._free)
    finally:
        await pool.close()
    # B was least recently used when C arrived.
    assert headers == ["import A\n", "import C\n"] and pool.stats.evicted == 1


async def test_recycling_after_max_requests():
    pool = ReplPool(spec(), PoolConfig(max_processes=1, max_requests=3))
    pids = []
    try:
        for i in range(4):
            async with pool.acquire(HEADER) as w:
                pids.append(w.process.pid)
                await w.request(CommandRequest(cmd=f"def z{i} := 1", env=w.header_env), timeout=10)
    finally:
        await pool.close()
    # header + 2 requests = 3 served: the first process is recycled after its second job.
    assert pids[0] == pids[1] != pids[2] and pool.stats.recycled >= 1


async def test_recycling_above_rss_limit():
    pool = ReplPool(spec(), PoolConfig(max_processes=1, max_rss_bytes=1))
    try:
        async with pool.acquire(HEADER) as w:
            first = w.process.pid
        async with pool.acquire(HEADER) as w:
            second = w.process.pid
    finally:
        await pool.close()
    assert first != second and pool.stats.recycled == 2


async def test_header_that_fails_is_an_error_and_leaves_nothing_running():
    pool = ReplPool(spec("--error-on", "NoSuchModule"), PoolConfig(max_processes=1))
    with pytest.raises(HeaderError):
        async with pool.acquire("import NoSuchModule\n"):
            pass
    await pool.close()
    assert pool.stats.started == 1 and not pool._free and not pool._busy


async def cancel_when_asked(body) -> None:
    """Run ``body(asked)`` as a task, cancel it 0.2 s after it sets ``asked``."""
    asked = asyncio.Event()
    task = asyncio.create_task(body(asked))
    await asyncio.wait_for(asked.wait(), 10)
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def abandon_slow_request(pool: ReplPool, timeout: float) -> int:
    """Send ``def slow`` on a worker of ``pool`` and cancel its caller mid-request; its pid."""
    pids = []

    async def abandoned(asked):
        async with pool.acquire(HEADER) as w:
            pids.append(w.process.pid)
            asked.set()
            await w.request(CommandRequest(cmd="def slow := 1", env=w.header_env), timeout=timeout)

    await cancel_when_asked(abandoned)
    return pids[0]


async def test_a_request_cancelled_midway_is_answered_in_the_background_and_the_process_kept(tmp_path):
    stats, log = tmp_path / "stats.jsonl", tmp_path / "requests.log"
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"on": "cmd", "match": "slow", "sleep": 0.8}]}))
    pool = ReplPool(spec("--script", str(rules), "--stats", str(stats), "--log", str(log)),
                    PoolConfig(max_processes=1))
    try:
        pids = [await abandon_slow_request(pool, timeout=30)]
        # Not lent while its answer is still coming: the pool holds it as busy.
        assert not pool._free and len(pool._busy) == 1
        async with pool.acquire(HEADER) as w:
            pids.append(w.process.pid)
            # The answer is this request's own, not the abandoned one's (no sorry there).
            r = await w.request(CommandRequest(cmd="theorem t : True := by sorry", env=w.header_env),
                                timeout=10)
            assert isinstance(r, CommandResponse) and len(r.sorries) == 1 and r.env == 2
    finally:
        await pool.close()
    assert pids[0] == pids[1]
    assert pool.stats.resynced == 1 and pool.stats.destroyed == 0 and pool.stats.started == 1
    counters = fake_stats(stats)
    assert list(counters) == [pids[0]] and counters[pids[0]]["header_imports"] == 1
    assert counters[pids[0]]["by_kind"] == {"command": 3} and logged_imports(log) == 1


async def test_a_cancelled_request_that_then_outlives_its_timeout_kills_the_group():
    pool = ReplPool(spec("--hang-on", "slow"), PoolConfig(max_processes=1))
    try:
        pids = [await abandon_slow_request(pool, timeout=1.0)]
        assert process_alive(pids[0])  # still within its timeout
        async with pool.acquire(HEADER) as w:  # waits for the timeout, then a fresh process
            pids.append(w.process.pid)
            r = await w.request(CommandRequest(cmd="def fine := 1", env=w.header_env), timeout=10)
            assert isinstance(r, CommandResponse)
    finally:
        await pool.close()
    assert pids[0] != pids[1] and not process_alive(pids[0])
    assert pool.stats.destroyed == 1 and pool.stats.resynced == 0


async def test_a_bare_process_serves_the_next_request_after_a_cancelled_one(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"on": "cmd", "match": "slow", "sleep": 0.5}]}))
    p = await started("--script", str(rules))
    try:
        task = asyncio.create_task(p.request(CommandRequest(cmd="def slow := 1"), timeout=30))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not p.in_sync
        # Queued behind the abandoned answer, and given its own.
        r = await p.request(CommandRequest(cmd="theorem t : True := by sorry"), timeout=10)
        assert p.in_sync and p.alive and p.answers_dropped == 1
        assert isinstance(r, CommandResponse) and r.env == 1 and len(r.sorries) == 1
    finally:
        await p.close()


async def test_a_header_import_whose_caller_is_cancelled_is_finished_and_kept(tmp_path):
    stats = tmp_path / "stats.jsonl"
    pool = ReplPool(spec("--import-latency", "0.6", "--stats", str(stats)), PoolConfig(max_processes=1))

    async def importing(asked):
        asked.set()
        async with pool.acquire(HEADER):
            pass

    try:
        await cancel_when_asked(importing)
        async with pool.acquire(HEADER) as w:
            r = await w.request(CommandRequest(cmd="def x := 1", env=w.header_env), timeout=10)
            assert isinstance(r, CommandResponse) and not r.errors
    finally:
        await pool.close()
    counters = fake_stats(stats)
    assert len(counters) == 1 and sum(c["header_imports"] for c in counters.values()) == 1
    assert pool.stats.started == pool.stats.header_imports == 1


async def test_closing_the_pool_while_an_answer_is_read_in_the_background_leaves_nothing_running():
    pool = ReplPool(spec("--hang-on", "slow"), PoolConfig(max_processes=1))
    pid = await abandon_slow_request(pool, timeout=60)
    await asyncio.wait_for(pool.close(), 10)
    assert not process_alive(pid) and not pool._background


async def test_sandbox_scrubs_environment_gives_private_tmp_and_no_network(tmp_path, monkeypatch):
    import sys

    from lean_bridge.sandbox import network_isolation_prefix

    monkeypatch.setenv("OPENAI_API_KEY", "secret-token")
    monkeypatch.setenv("ELAN_HOME", "/opt/elan")
    script = tmp_path / "probe.py"
    script.write_text(
        "import json, os, socket, sys\n"
        "ifaces = sorted(name for _, name in socket.if_nameindex())\n"
        "print(json.dumps({'env': sorted(os.environ), 'tmp': os.environ.get('TMPDIR'), 'ifaces': ifaces,"
        " 'elan': os.environ.get('ELAN_HOME')}))\n"
        "sys.stdout.flush()\n"
    )
    p = await ReplProcess(ReplSpec((sys.executable, str(script)))).start()
    line = await asyncio.wait_for(p._proc.stdout.readline(), 10)
    seen = json.loads(line)
    tmp = seen["tmp"]
    import os
    assert os.path.isdir(tmp)
    await p.close()
    assert "OPENAI_API_KEY" not in seen["env"] and seen["elan"] == "/opt/elan"
    assert tmp.startswith("/") and "prover-repl-" in tmp and not os.path.exists(tmp)
    if network_isolation_prefix() is not None:
        assert seen["ifaces"] == ["lo"]  # a fresh network namespace holds only loopback
