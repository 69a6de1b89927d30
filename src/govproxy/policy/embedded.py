"""The embedded engine: regopy in an isolated, persistent worker process, hot-reloaded.

Why a process and not a thread: regopy is native code, and a policy can make it
segfault or spin forever; only a separate process can be killed and replaced without
the proxy noticing. The cost is one pipe round trip per decision (see bench/).

Recovery is immediate because a *spare* worker, already holding the compiled policy
set, waits beside the active one: when the active one crashes or is killed on timeout,
the spare takes over for the next request and a new spare is built in the background.

Hot reload polls the directory's names/sizes/mtimes. A changed set is compiled in a new
worker first; only if that succeeds are the workers swapped (atomically, between two
decisions). A set that fails to compile is rejected with file:line errors, logged, and
the previous set stays active.
"""

from __future__ import annotations

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
                 reload_interval_s: float = 1.0, probe_input: bytes | None = None) -> None:
        self.policy_dir = Path(policy_dir)
        self.ref = ref
        # Evaluated once per newly compiled set: rego-cpp reports an unknown function or a
        # rule conflict only at evaluation, and such a set must be rejected like a syntax error.
        self.probe_input = probe_input
        self.reload_interval_s = reload_interval_s
        self._source: PolicySource | None = None
        self._active: WorkerProcess | None = None
        self._spare: WorkerProcess | None = None
        self._swap_lock = threading.Lock()  # guards the worker pointers
        self._call_lock = threading.Lock()  # one decision at a time per worker pair
        self._alock: tuple[Any, Any] | None = None  # (loop, asyncio.Lock)
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

    def ready(self) -> bool:
        """True when a live worker holds the active set and a spare stands by."""
        with self._swap_lock:
            return (self._active is not None and not self._active.dead
                    and self._spare is not None and not self._spare.dead)

    def worker_pids(self) -> tuple[int | None, int | None]:
        with self._swap_lock:
            return (self._active.pid if self._active else None, self._spare.pid if self._spare else None)

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
        with self._call_lock, self._swap_lock:
            old = (self._active, self._spare)
            self._active, self._spare, self._source = worker, None, source
            self.cache_ignore = ignore
        for w in old:
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

    def _build_spare(self) -> None:
        """Until both an active and a spare worker hold the current set, build one more."""
        while not self._closed.is_set():
            source = self._source
            if source is None:
                return
            with self._swap_lock:
                have_active = self._active is not None and not self._active.dead
                have_spare = self._spare is not None and not self._spare.dead
            if have_active and have_spare:
                return
            try:
                worker: WorkerProcess | None = self._spawn_loaded(source)
            except (WorkerCompileError, WorkerFailure, OSError) as exc:
                log.error("could not start a spare policy worker: %s", exc)
                return
            with self._swap_lock:
                if self._source is source and not self._closed.is_set():
                    if self._active is None or self._active.dead:
                        self._active, worker = worker, None
                        self.worker_restarts += 1
                    elif self._spare is None or self._spare.dead:
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

    def _current(self) -> WorkerProcess:
        with self._swap_lock:
            w = self._active
            if w is not None and not w.dead and w.proc.poll() is not None:
                w.kill()  # died while idle (OOM killer, signal): notice before sending it a request
            if w is None or w.dead:
                if self._spare is not None and not self._spare.dead:
                    self._active, self._spare = self._spare, None
                    w = self._active
                    self.worker_restarts += 1
                else:
                    w = None
        if self._spare is None or self._spare.dead:
            self._refill_spare()
        if w is None:
            if self._source is None:
                detail = "; ".join(str(i) for i in self.load_issues) or "no policy set loaded"
                raise PolicyEngineError("unavailable", f"no valid policy set: {detail}")
            raise PolicyEngineError("unavailable", "policy worker restarting")
        return w

    def _result(self, frame: bytes) -> Any:
        kind, value, issues = parse_eval_reply(frame)
        if kind == "value":
            return value
        if kind == "undefined":
            raise PolicyEngineError("undefined", f"{self.ref} is undefined for this input")
        raise PolicyEngineError("error", "; ".join(str(i) for i in issues) or "evaluation error")

    def evaluate_json_sync(self, input_json: bytes, timeout: float) -> Any:
        with self._call_lock:
            worker = self._current()
            try:
                frame = worker.call_sync(b"E" + input_json, timeout)
            except WorkerFailure as exc:
                self._after_failure()
                raise PolicyEngineError(exc.kind if exc.kind in ("timeout", "crash") else "error", str(exc)) from None
        return self._result(frame)

    async def evaluate_json(self, input_json: bytes, timeout: float) -> Any:
        import asyncio

        loop = asyncio.get_running_loop()
        if self._alock is None or self._alock[0] is not loop:
            self._alock = (loop, asyncio.Lock())
        async with self._alock[1]:
            with self._call_lock:
                worker = self._current()
                try:
                    frame = await worker.call(b"E" + input_json, timeout)
                except WorkerFailure as exc:
                    self._after_failure()
                    kind = exc.kind if exc.kind in ("timeout", "crash") else "error"
                    raise PolicyEngineError(kind, str(exc)) from None
        return self._result(frame)

    def _after_failure(self) -> None:
        log.warning("policy worker failed; switching to the spare")
        self._current_or_none()

    def _current_or_none(self) -> None:
        try:
            self._current()
        except PolicyEngineError:
            pass

    def evaluate_sync(self, input_doc: dict[str, Any], timeout: float) -> Any:
        return self.evaluate_json_sync(json.dumps(input_doc).encode(), timeout)

    async def evaluate(self, input_doc: dict[str, Any], timeout: float) -> Any:
        return await self.evaluate_json(json.dumps(input_doc).encode(), timeout)

    def close(self) -> None:
        self._closed.set()
        with self._swap_lock:
            workers = (self._active, self._spare)
            self._active = self._spare = None
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
