"""Shared state behind budgets, circuit breakers and explanations: SQLite or Redis.

Both backends offer the same four small primitives, so the rules (when a circuit opens,
when a budget is spent) are written once, in plain Python, and each backend only has to
make its primitive atomic:

* counters — integer pairs (micro-USD, tokens) that are only ever incremented, so two
  instances adding at once never lose an update (SQLite transaction / Redis ``HINCRBY``);
* ``reserve`` — check-then-increment against limits as one step (SQLite ``BEGIN IMMEDIATE``
  / a Redis Lua script), so two instances can never both take the last of a budget;
* JSON documents updated by read-modify-write (SQLite ``BEGIN IMMEDIATE`` / Redis
  ``WATCH``/``MULTI`` with retry), used for circuit state;
* append-only document logs (one SQLite row / Redis ``RPUSH`` per entry), used for
  explanations: several stages add to one request's explanation without reading it first.

The calls are synchronous: a SQLite row or a loopback Redis round trip costs tens of
microseconds, less than handing the work to a thread would.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from govproxy.routing.config import StateConfig

JsonDoc = dict[str, Any]
Updater = Callable[[JsonDoc | None], JsonDoc | None]


@dataclass(frozen=True, slots=True)
class CounterDelta:
    """An increment of one counter, with optional limits checked by :meth:`StateStore.reserve`."""

    key: str
    usd_micro: int
    tokens: int
    ttl_s: float
    limit_usd_micro: int | None = None
    limit_tokens: int | None = None


class StateStoreError(Exception):
    """The shared state cannot be reached or used; the message never carries credentials."""


class StateStore(Protocol):
    def incr_counters(self, deltas: Iterable[CounterDelta]) -> None: ...

    def get_counters(self, keys: Iterable[str]) -> dict[str, tuple[int, int]]: ...

    def reserve(self, deltas: Iterable[CounterDelta]) -> str | None:
        """Apply all deltas if none would pass its limit; else apply none and return the first key that would."""
        ...

    def get_json(self, key: str) -> JsonDoc | None: ...

    def get_json_many(self, keys: Iterable[str]) -> dict[str, JsonDoc | None]: ...

    def update_json(self, key: str, fn: Updater, ttl_s: float | None = None) -> JsonDoc | None:
        """Atomically replace the document with ``fn(current)``; ``fn`` returning None writes nothing."""
        ...

    def append_doc(self, key: str, doc: JsonDoc, ttl_s: float) -> None:
        """Add a document to the log under ``key`` (write-only: no read, no lock)."""
        ...

    def get_docs(self, key: str) -> list[JsonDoc]:
        """Every document appended under ``key``, oldest first."""
        ...

    def close(self) -> None: ...


def _dumps(doc: JsonDoc) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


class SQLiteStateStore:
    """State in one SQLite file (WAL), shared safely by several processes on one host."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, usd INTEGER NOT NULL,"
                " tokens INTEGER NOT NULL, expires REAL NOT NULL)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS docs (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS doc_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL,"
                " value TEXT NOT NULL, expires REAL NOT NULL)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS doc_log_key ON doc_log (key, seq)")
        except sqlite3.Error as exc:
            raise StateStoreError(f"cannot open state database {self.path}: {exc}") from exc
        self._lock = threading.Lock()
        self._next_purge = 0.0
        with self._lock:
            self._purge_locked()

    _PURGE_EVERY_S = 600.0

    def _purge_locked(self) -> None:
        """Drop expired rows (old days' counters, old explanations) so the file stays small."""
        now = self._clock()
        self._next_purge = now + self._PURGE_EVERY_S
        self._db.execute("DELETE FROM counters WHERE expires < ?", (now,))
        self._db.execute("DELETE FROM docs WHERE expires IS NOT NULL AND expires < ?", (now,))
        self._db.execute("DELETE FROM doc_log WHERE expires < ?", (now,))

    def _apply(self, deltas: list[CounterDelta], now: float) -> None:
        self._db.executemany(
            "INSERT INTO counters (key, usd, tokens, expires) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET usd = usd + excluded.usd, tokens = tokens + excluded.tokens,"
            " expires = max(expires, excluded.expires)",
            [(d.key, d.usd_micro, d.tokens, now + d.ttl_s) for d in deltas],
        )

    def incr_counters(self, deltas: Iterable[CounterDelta]) -> None:
        items = list(deltas)
        if not items:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._apply(items, self._clock())
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read_counters(self, keys: list[str]) -> dict[str, tuple[int, int]]:
        out = {k: (0, 0) for k in keys}
        if not keys:
            return out
        marks = ",".join("?" * len(keys))
        for key, usd, tokens in self._db.execute(f"SELECT key, usd, tokens FROM counters WHERE key IN ({marks})", keys):
            out[key] = (int(usd), int(tokens))
        return out

    def get_counters(self, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
        with self._lock:
            return self._read_counters(list(keys))

    def reserve(self, deltas: Iterable[CounterDelta]) -> str | None:
        items = list(deltas)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                current = self._read_counters([d.key for d in items])
                for d in items:
                    usd, tokens = current[d.key]
                    if _over(d, usd, tokens):
                        self._db.execute("ROLLBACK")
                        return d.key
                self._apply(items, self._clock())
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return None

    def _read_doc(self, key: str, now: float) -> JsonDoc | None:
        row = self._db.execute("SELECT value, expires FROM docs WHERE key = ?", (key,)).fetchone()
        if row is None or (row[1] is not None and row[1] < now):
            return None
        doc = json.loads(row[0])
        return doc if isinstance(doc, dict) else None

    def get_json(self, key: str) -> JsonDoc | None:
        with self._lock:
            return self._read_doc(key, self._clock())

    def get_json_many(self, keys: Iterable[str]) -> dict[str, JsonDoc | None]:
        names = list(keys)
        out: dict[str, JsonDoc | None] = dict.fromkeys(names)
        if not names:
            return out
        now = self._clock()
        marks = ",".join("?" * len(names))
        with self._lock:
            rows = self._db.execute(f"SELECT key, value, expires FROM docs WHERE key IN ({marks})", names).fetchall()
        for key, value, expires in rows:
            if expires is None or expires >= now:
                out[key] = _loads(value)
        return out

    def update_json(self, key: str, fn: Updater, ttl_s: float | None = None) -> JsonDoc | None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                now = self._clock()
                current = self._read_doc(key, now)
                new = fn(current)
                if new is None:
                    self._db.execute("ROLLBACK")
                    return current
                expires = now + ttl_s if ttl_s is not None else None
                self._db.execute(
                    "INSERT INTO docs (key, value, expires) VALUES (?, ?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires",
                    (key, _dumps(new), expires),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            if now >= self._next_purge:
                self._purge_locked()
            return new

    def append_doc(self, key: str, doc: JsonDoc, ttl_s: float) -> None:
        now = self._clock()
        with self._lock:
            self._db.execute(
                "INSERT INTO doc_log (key, value, expires) VALUES (?, ?, ?)", (key, _dumps(doc), now + ttl_s)
            )  # autocommit: one implicit transaction
            if now >= self._next_purge:
                self._purge_locked()

    def get_docs(self, key: str) -> list[JsonDoc]:
        now = self._clock()
        with self._lock:
            rows = self._db.execute(
                "SELECT value FROM doc_log WHERE key = ? AND expires >= ? ORDER BY seq", (key, now)
            ).fetchall()
        return [d for (v,) in rows if (d := _loads(v)) is not None]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _over(d: CounterDelta, usd: int, tokens: int) -> bool:
    if d.limit_usd_micro is not None and usd + d.usd_micro > d.limit_usd_micro:
        return True
    return d.limit_tokens is not None and tokens + d.tokens > d.limit_tokens


# All-or-nothing check-and-increment. KEYS are counter hashes; ARGV holds five numbers per
# key: usd delta, token delta, usd limit, token limit (-1 = none), ttl seconds.
_RESERVE_LUA = """
for i, k in ipairs(KEYS) do
  local b = (i - 1) * 5
  local lu = tonumber(ARGV[b + 3])
  local lt = tonumber(ARGV[b + 4])
  local cu = tonumber(redis.call('HGET', k, 'u') or '0')
  local ct = tonumber(redis.call('HGET', k, 't') or '0')
  if (lu >= 0 and cu + tonumber(ARGV[b + 1]) > lu) or (lt >= 0 and ct + tonumber(ARGV[b + 2]) > lt) then
    return i
  end
end
for i, k in ipairs(KEYS) do
  local b = (i - 1) * 5
  redis.call('HINCRBY', k, 'u', ARGV[b + 1])
  redis.call('HINCRBY', k, 't', ARGV[b + 2])
  redis.call('EXPIRE', k, ARGV[b + 5])
end
return 0
"""


# Unconditional increments: ARGV holds three numbers per key (usd delta, token delta, ttl).
_INCR_LUA = """
for i, k in ipairs(KEYS) do
  local b = (i - 1) * 3
  redis.call('HINCRBY', k, 'u', ARGV[b + 1])
  redis.call('HINCRBY', k, 't', ARGV[b + 2])
  redis.call('EXPIRE', k, ARGV[b + 3])
end
return 0
"""

# Read many counter hashes in one round trip, flattened: u1, t1, u2, t2, ...
_READ_LUA = """
local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('HMGET', k, 'u', 't')
  out[2 * i - 1] = v[1] or '0'
  out[2 * i] = v[2] or '0'
end
return out
"""


class RedisStateStore:
    """State in Redis, shared by every govproxy instance pointed at it."""

    def __init__(self, url: str, *, key_prefix: str = "govproxy:", clock: Callable[[], float] = time.time) -> None:
        import redis

        self._redis_mod = redis
        self._prefix = key_prefix
        self._clock = clock
        try:
            self._r = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            self._r.ping()
        except (redis.RedisError, ValueError) as exc:
            # The URL may carry a password: name only the error type.
            raise StateStoreError(f"cannot reach Redis state store: {type(exc).__name__}") from None
        self._scripts = {name: _text(self._r.script_load(src)) for name, src in _SCRIPTS.items()}

    def _ck(self, key: str) -> str:
        return f"{self._prefix}c:{key}"

    def _jk(self, key: str) -> str:
        return f"{self._prefix}j:{key}"

    def _eval(self, name: str, keys: list[str], args: list[int]) -> Any:
        """EVALSHA (one round trip), reloading the script if Redis restarted and forgot it."""
        try:
            return self._r.evalsha(self._scripts[name], len(keys), *keys, *args)
        except self._redis_mod.exceptions.NoScriptError:
            self._scripts[name] = _text(self._r.script_load(_SCRIPTS[name]))
            return self._r.evalsha(self._scripts[name], len(keys), *keys, *args)

    def incr_counters(self, deltas: Iterable[CounterDelta]) -> None:
        items = list(deltas)
        if not items:
            return
        args: list[int] = []
        for d in items:
            args += [d.usd_micro, d.tokens, max(1, int(d.ttl_s))]
        self._eval("incr", [self._ck(d.key) for d in items], args)

    def get_counters(self, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
        names = list(keys)
        if not names:
            return {}
        flat = self._eval("read", [self._ck(k) for k in names], [])
        return {k: (int(flat[2 * i]), int(flat[2 * i + 1])) for i, k in enumerate(names)}

    def reserve(self, deltas: Iterable[CounterDelta]) -> str | None:
        items = list(deltas)
        if not items:
            return None
        args: list[int] = []
        for d in items:
            args += [
                d.usd_micro,
                d.tokens,
                -1 if d.limit_usd_micro is None else d.limit_usd_micro,
                -1 if d.limit_tokens is None else d.limit_tokens,
                max(1, int(d.ttl_s)),
            ]
        failed = int(self._eval("reserve", [self._ck(d.key) for d in items], args))
        return None if failed == 0 else items[failed - 1].key

    def get_json(self, key: str) -> JsonDoc | None:
        raw = self._r.get(self._jk(key))
        return _loads(raw)

    def get_json_many(self, keys: Iterable[str]) -> dict[str, JsonDoc | None]:
        names = list(keys)
        if not names:
            return {}
        values = self._r.mget([self._jk(k) for k in names])
        return {k: _loads(v) for k, v in zip(names, values, strict=True)}

    def update_json(self, key: str, fn: Updater, ttl_s: float | None = None) -> JsonDoc | None:
        k = self._jk(key)
        with self._r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(k)  # type: ignore[no-untyped-call]
                    current = _loads(pipe.get(k))
                    new = fn(current)
                    if new is None:
                        pipe.unwatch()
                        return current
                    pipe.multi()
                    if ttl_s is not None:
                        pipe.set(k, _dumps(new), px=max(1, int(ttl_s * 1000)))
                    else:
                        pipe.set(k, _dumps(new))
                    pipe.execute()
                    return new
                except self._redis_mod.WatchError:
                    continue

    def append_doc(self, key: str, doc: JsonDoc, ttl_s: float) -> None:
        k = f"{self._prefix}l:{key}"
        pipe = self._r.pipeline(transaction=False)
        pipe.rpush(k, _dumps(doc))
        pipe.expire(k, max(1, int(ttl_s)))
        pipe.execute()

    def get_docs(self, key: str) -> list[JsonDoc]:
        raw = self._r.lrange(f"{self._prefix}l:{key}", 0, -1)
        return [d for v in raw if (d := _loads(v)) is not None]

    def close(self) -> None:
        self._r.close()


_SCRIPTS = {"incr": _INCR_LUA, "read": _READ_LUA, "reserve": _RESERVE_LUA}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _loads(raw: bytes | str | None) -> JsonDoc | None:
    if raw is None:
        return None
    doc = json.loads(raw)
    return doc if isinstance(doc, dict) else None


def open_state_store(config: StateConfig, *, clock: Callable[[], float] = time.time) -> StateStore:
    """The store named by the ``state`` section."""
    if config.backend == "redis":
        return RedisStateStore(config.resolved_redis_url(), key_prefix=config.key_prefix, clock=clock)
    return SQLiteStateStore(config.sqlite_path(), clock=clock)


def merge_docs(base: Mapping[str, Any] | None, extra: Mapping[str, Any]) -> JsonDoc:
    """Deep-merge ``extra`` into ``base``: nested mappings merge, lists extend, other values replace."""
    out: JsonDoc = dict(base or {})
    for key, value in extra.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, Mapping):
            out[key] = merge_docs(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            out[key] = old + list(value)
        else:
            out[key] = value
    return out
