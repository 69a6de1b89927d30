"""The embedded engine: regopy in an isolated, persistent worker process, hot-reloaded.

Why a process and not a thread: regopy is native code, and a policy can make it
segfault or spin forever; only a separate process can be killed and replaced without
the proxy noticing. The cost is one pipe round trip per decision (see bench/).

Recovery is immediate because a *spare* worker, already holding the compiled policy
set, waits beside the active ones: when an active one crashes or is killed on timeout,
the spare takes over its slot for the next request and a new spare is built in the
background.

A pool of ``workers`` active workers (``policy.workers``) decides concurrent requests in
parallel, so one slow cold decision does not queue the others behind it. Each call holds
one slot; a caller prefers the lowest free slot, so sequential traffic always uses the
same (warm) worker.

Hot reload polls the directory's names/sizes/mtimes. A changed set is compiled in a new
worker first; only if that succeeds are the workers swapped, atomically: a call in
flight finishes on the old set (its worker is killed when the call returns), every later
call uses the new set, and the rest of the pool refills in the background. A set that
fails to compile is rejected with file:line errors, logged, and the previous set stays
active.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govproxy.policy.engine import PolicyEngineError
from govproxy.policy.rego import PolicyIssue
from govproxy.policy.source import (
    PolicySource,
    PolicySourceError,
    fingerprint,
    load_source,
)
from govproxy.policy.workerproc import (
    WorkerCompileError,
    WorkerFailure,
    WorkerProcess,
    parse_eval_reply,
)

log = logging.getLogger("govproxy.policy")

COMPILE_TIMEOUT_S = 60.0
DEFAULT_CACHE_IGNORE: tuple[str, ...] = ("env.time",)


def cache_ignore_ref(decision_ref: str) -> str:
    """``data.govproxy.decision`` -> ``data.govproxy.cache_ignore`` (beside the decision)."""
    return decision_ref.rsplit(".", 1)[0] + ".cache_ignore"


def valid_cache_ignore(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) and v and "." in v for v in value):
        return tuple(sorted(set(value) | set(DEFAULT_CACHE_IGNORE)))
    return None


@dataclass
class ReloadResult:
    ok: bool
    changed: bool
    bundle_hash: str
    issues: list[PolicyIssue] = field(default_factory=list)


class EmbeddedEngine:
    name = "embedded"

    def __init__(self, policy_dir: str | Path, ref: str, *, hot_reload: bool = True,
                 reload_interval_s: float = 1.0, probe_input: bytes | None = None, workers: int = 1) -> None:
        self.policy_dir = Path(policy_dir)
        self.ref = ref
        self.pool_size = max(1, int(workers))
        # Evaluated once per newly compiled set: rego-cpp reports an unknown function or a
        # rule conflict only at evaluation, and such a set must be rejected like a syntax error.
        self.probe_input = probe_input
        self.reload_interval_s = reload_interval_s
        self._source: PolicySource | None = None
        self._pool: list[WorkerProcess | None] = [None] * self.pool_size
        self._busy: list[bool] = [False] * self.pool_size  # a call holds the slot
        self._spare: WorkerProcess | None = None
        self._swap_lock = threading.Lock()  # guards the pool, the busy flags and the spare
        self._slot_free = threading.Condition(self._swap_lock)
        self._aslots: tuple[Any, asyncio.Semaphore] | None = None  # (loop, semaphore) for async callers
        self._closed = threading.Event()
        self._spare_thread: threading.Thread | None = None
        self.load_issues: list[PolicyIssue] = []
        self.cache_ignore: tuple[str, ...] = DEFAULT_CACHE_IGNORE
        self.reloads = 0
        self.rejected_reloads = 0
        self.worker_restarts = 0
        self._seen_fp = fingerprint(self.policy_dir)
        self.reload(force=True)
        self._watcher: threading.Thread | None = None
        if hot_reload:
            self._watcher = threading.Thread(target=self._watch, name="govproxy-policy-reload", daemon=True)
            self._watcher.start()

    # -- state ---------------------------------------------------------------------

    @property
    def bundle_hash(self) -> str:
        return self._source.bundle_hash if self._source else ""

    @property
    def loaded(self) -> bool:
        return self._source is not None

    @property
    def _active(self) -> WorkerProcess | None:
        """The first slot's worker: the one sequential traffic uses."""
        return self._pool[0]

    def ready(self) -> bool:
        """True when every slot holds a live worker with the active set and a spare stands by."""
        with self._swap_lock:
            return all(w is not None and not w.dead for w in self._pool) and _live(self._spare)

    def worker_pids(self) -> tuple[int | None, int | None]:
        """(first slot's worker, spare); ``pool_pids`` lists every slot."""
        with self._swap_lock:
            first = self._pool[0]
            return (first.pid if first else None, self._spare.pid if self._spare else None)

    def pool_pids(self) -> list[int | None]:
        with self._swap_lock:
            return [w.pid if w else None for w in self._pool]

    # -- loading -------------------------------------------------------------------

    def _spawn_loaded(self, source: PolicySource) -> WorkerProcess:
        worker = WorkerProcess()
        try:
            worker.load(source.modules, source.data, self.ref,
                        {k: source.display(k) for k in source.modules}, timeout=COMPILE_TIMEOUT_S)
            if self.probe_input is not None:
                kind, _, issues = parse_eval_reply(worker.call_sync(b"E" + self.probe_input, COMPILE_TIMEOUT_S))
                if kind == "error":
                    raise WorkerCompileError([PolicyIssue(f"{self.ref} fails on a sample input: {i.message}",
                                                          i.file, i.line, i.col, i.code) for i in issues])
        except BaseException:
            worker.kill()
            raise
        return worker

    def reload(self, force: bool = False) -> ReloadResult:
        """Re-read the directory; compile; swap only on success."""
        try:
            source = load_source(self.policy_dir)
        except PolicySourceError as exc:
            return self._reject([PolicyIssue(str(exc))])
        if not force and self._source is not None and source.bundle_hash == self._source.bundle_hash:
            return ReloadResult(True, False, source.bundle_hash)
        try:
            worker = self._spawn_loaded(source)
        except WorkerCompileError as exc:
            return self._reject(exc.issues)
        except (WorkerFailure, OSError) as exc:
            return self._reject([PolicyIssue(f"policy worker failed while compiling: {exc}")])
        ignore = self._read_cache_ignore(source)
        with self._swap_lock:
            retire: list[WorkerProcess | None] = [w for i, w in enumerate(self._pool) if not self._busy[i]]
            retire.append(self._spare)  # a busy old worker is killed when its call returns
            pool: list[WorkerProcess | None] = [None] * self.pool_size
            pool[next((i for i, busy in enumerate(self._busy) if not busy), 0)] = worker
            self._pool = pool
            self._spare, self._source = None, source
            self.cache_ignore = ignore
            self._slot_free.notify_all()
        for w in retire:
            if w is not None:
                w.kill()
        self.load_issues = []
        self.reloads += 1
        log.info("policy set loaded from %s (%s)", self.policy_dir, source.bundle_hash)
        self._refill_spare()
        return ReloadResult(True, True, source.bundle_hash)

    def _read_cache_ignore(self, source: PolicySource) -> tuple[str, ...]:
        """The policy set's own list of input fields it does not read (see decision.rego)."""
        worker = WorkerProcess()
        try:
            worker.load(source.modules, source.data, cache_ignore_ref(self.ref), timeout=COMPILE_TIMEOUT_S)
            kind, value, _ = parse_eval_reply(worker.call_sync(b"E{}", COMPILE_TIMEOUT_S))
        except (WorkerCompileError, WorkerFailure, OSError):
            return DEFAULT_CACHE_IGNORE
        finally:
            worker.kill()
        if kind != "value":
            return DEFAULT_CACHE_IGNORE
        ignore = valid_cache_ignore(value)
        if ignore is None:
            log.warning("%s is not a list of input paths; ignoring it", cache_ignore_ref(self.ref))
            return DEFAULT_CACHE_IGNORE
        return ignore

    def _reject(self, issues: list[PolicyIssue]) -> ReloadResult:
        self.load_issues = issues
        self.rejected_reloads += 1
        keeping = f"keeping {self._source.bundle_hash}" if self._source else "no policy set active: requests fail closed"
        log.error("policy set in %s rejected (%s):\n  %s", self.policy_dir, keeping,
                  "\n  ".join(str(i) for i in issues))
        return ReloadResult(False, False, self.bundle_hash, issues)

    def _refill_spare(self) -> None:
        if self._closed.is_set():
            return
        t = self._spare_thread
        if t is not None and t.is_alive():
            return
        self._spare_thread = threading.Thread(target=self._build_spare, name="govproxy-policy-spare", daemon=True)
        self._spare_thread.start()

    def _empty_slot(self) -> int | None:
        """A slot without a live worker that no call holds (caller holds _swap_lock)."""
        for i, w in enumerate(self._pool):
            if not self._busy[i] and not _live(w):
                return i
        return None

    def _build_spare(self) -> None:
        """Until every slot and the spare hold a live worker with the current set, build one more."""
        while not self._closed.is_set():
            source = self._source
            if source is None:
                return
            with self._swap_lock:
                full = self._empty_slot() is None and _live(self._spare)
            if full:
                return
            try:
                worker: WorkerProcess | None = self._spawn_loaded(source)
            except (WorkerCompileError, WorkerFailure, OSError) as exc:
                log.error("could not start a spare policy worker: %s", exc)
                return
            with self._swap_lock:
                if self._source is source and not self._closed.is_set():
                    slot = self._empty_slot()
                    if slot is not None:
                        if self._pool[slot] is not None:
                            self.worker_restarts += 1  # it replaces a worker that died
                        self._pool[slot], worker = worker, None
                        self._slot_free.notify_all()
                    elif not _live(self._spare):
                        self._spare, worker = worker, None
            if worker is not None:
                worker.kill()

    def _watch(self) -> None:
        while not self._closed.wait(self.reload_interval_s):
            fp = fingerprint(self.policy_dir)
            if fp != self._seen_fp:
                self._seen_fp = fp
                try:
                    self.reload()
                except Exception:
                    log.exception("policy reload failed")

    # -- evaluation ----------------------------------------------------------------

    def _take_slot(self) -> tuple[int, WorkerProcess] | None:
        """Claim the lowest free slot with a live worker (the spare fills a dead one).

        Returns None when every live worker is busy (wait and retry); raises when no live
        worker exists at all. Caller holds _swap_lock.
        """
        for i, w in enumerate(self._pool):
            if not self._busy[i] and w is not None and not w.dead and w.proc.poll() is not None:
                w.kill()  # died while idle (OOM killer, signal): notice before sending it a request
        free = [i for i in range(self.pool_size) if not self._busy[i]]
        slot = next((i for i in free if _live(self._pool[i])), None)
        if slot is None and free and _live(self._spare):
            slot = free[0]
            self._pool[slot], self._spare = self._spare, None
            self.worker_restarts += 1
        if slot is not None:
            self._busy[slot] = True
            worker = self._pool[slot]
            assert worker is not None
            return slot, worker
        if any(self._busy[i] and _live(self._pool[i]) for i in range(self.pool_size)):
            return None
        if self._source is None:
            detail = "; ".join(str(i) for i in self.load_issues) or "no policy set loaded"
            raise PolicyEngineError("unavailable", f"no valid policy set: {detail}")
        raise PolicyEngineError("unavailable", "policy worker restarting")

    def _after_take(self) -> None:
        with self._swap_lock:
            need = self._empty_slot() is not None or not _live(self._spare)
        if need:
            self._refill_spare()

    def _acquire_sync(self) -> tuple[int, WorkerProcess]:
        with self._slot_free:
            while True:
                got = self._take_slot()
                if got is not None:
                    break
                self._slot_free.wait()
        self._after_take()
        return got

    async def _acquire(self) -> tuple[int, WorkerProcess]:
        while True:
            with self._swap_lock:
                got = self._take_slot()
            if got is not None:
                self._after_take()
                return got
            # Every live slot is held by a synchronous caller in another thread (async
            # callers are bounded by the semaphore): rare, so a short poll is enough.
            await asyncio.sleep(0.0005)

    def _release(self, slot: int, worker: WorkerProcess) -> None:
        """Free the slot; a worker swapped out by a reload while it ran is killed now."""
        with self._swap_lock:
            self._busy[slot] = False
            stale = self._pool[slot] is not worker
            if not stale and worker.dead and _live(self._spare):
                self._pool[slot], self._spare = self._spare, None  # switch to the spare at once
                self.worker_restarts += 1
            self._slot_free.notify_all()
        if stale:
            worker.kill()
        if worker.dead:
            log.warning("policy worker failed; switching to the spare")
            self._refill_spare()

    def _result(self, frame: bytes) -> Any:
        kind, value, issues = parse_eval_reply(frame)
        if kind == "value":
            return value
        if kind == "undefined":
            raise PolicyEngineError("undefined", f"{self.ref} is undefined for this input")
        raise PolicyEngineError("error", "; ".join(str(i) for i in issues) or "evaluation error")

    def evaluate_json_sync(self, input_json: bytes, timeout: float) -> Any:
        slot, worker = self._acquire_sync()
        try:
            frame = worker.call_sync(b"E" + input_json, timeout)
        except WorkerFailure as exc:
            raise PolicyEngineError(exc.kind if exc.kind in ("timeout", "crash") else "error", str(exc)) from None
        finally:
            self._release(slot, worker)
        return self._result(frame)

    def _async_slots(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._aslots is None or self._aslots[0] is not loop:
            self._aslots = (loop, asyncio.Semaphore(self.pool_size))
        return self._aslots[1]

    async def evaluate_json(self, input_json: bytes, timeout: float) -> Any:
        async with self._async_slots():
            slot, worker = await self._acquire()
            try:
                frame = await worker.call(b"E" + input_json, timeout)
            except WorkerFailure as exc:
                kind = exc.kind if exc.kind in ("timeout", "crash") else "error"
                raise PolicyEngineError(kind, str(exc)) from None
            finally:
                self._release(slot, worker)
        return self._result(frame)

    def evaluate_sync(self, input_doc: dict[str, Any], timeout: float) -> Any:
        return self.evaluate_json_sync(json.dumps(input_doc).encode(), timeout)

    async def evaluate(self, input_doc: dict[str, Any], timeout: float) -> Any:
        return await self.evaluate_json(json.dumps(input_doc).encode(), timeout)

    def close(self) -> None:
        self._closed.set()
        with self._swap_lock:
            workers = (*self._pool, self._spare)
            self._pool = [None] * self.pool_size
            self._spare = None
            self._slot_free.notify_all()
        for w in workers:
            if w is not None:
                w.kill()
        t = self._spare_thread
        if t is not None and t.is_alive():
            t.join(timeout=5)
        with self._swap_lock:
            late = self._spare
            self._spare = None
        if late is not None:
            late.kill()


def _live(worker: WorkerProcess | None) -> bool:
    return worker is not None and not worker.dead
