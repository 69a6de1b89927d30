"""The inspect stage: texts in, findings and a sensitivity out, failing closed.

Built once from config (all patterns compiled up front), then ``scan`` is called per
request. A detector that raises, or a scan that exceeds its time budget, does not let the
request through with a partial result: the result is marked ``critical`` with the reason.
"""

from __future__ import annotations

import bisect
import logging
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from govproxy.dlp.config import DlpConfig, load_hmac_key
from govproxy.dlp.detectors import BUILTIN_DETECTORS
from govproxy.dlp.detectors.base import Claims, Detector, Numeric, TextState
from govproxy.dlp.detectors.custom import custom_detector, dictionary_detector
from govproxy.dlp.detectors.pii import make_phone_detector
from govproxy.dlp.model import Action, Category, Finding, ScanResult, Sensitivity
from govproxy.dlp.redact import KeyedHasher, redact_texts, tenant_key
from govproxy.dlp.sensitivity import SensitivityClassifier
from govproxy.dlp.vault import PseudonymVault
from govproxy.models import LLMRequest

log = logging.getLogger(__name__)
_JOIN = "\n\x00\n"  # no built-in pattern matches across NUL
_BATCH_LIMIT = 16_384  # texts shorter than this are scanned together
_CATEGORY_NAME = {c: c.value for c in Category}


class Scanner:
    """Compile detectors from a ``DlpConfig`` once; ``scan`` many times (thread-safe, no state)."""

    def __init__(
        self,
        config: DlpConfig | None = None,
        *,
        hmac_key: bytes | None = None,
        base_dir: Path | None = None,
        extra_detectors: Iterable[Detector] = (),
    ) -> None:
        self.config = config or DlpConfig()
        key = hmac_key if hmac_key is not None else load_hmac_key(self.config, base_dir)
        if key is None:
            # never hard-coded: without a configured key hashes correlate within this process only
            key = secrets.token_bytes(32)
            self.ephemeral_key = True
        else:
            self.ephemeral_key = False
        self._key = key
        self._hasher = KeyedHasher(key)
        self._tenant_keys: dict[str, bytes] = {}
        self._default_actions: dict[str, Action] | None = None
        # highest priority first: their findings claim spans lower-priority detectors then skip
        built = self._build(base_dir) + tuple(extra_detectors)
        self.detectors: tuple[Detector, ...] = tuple(
            sorted(built, key=lambda d: -d.priority)
        )
        self.categories: dict[str, Category] = {}
        for d in self.detectors:
            self.categories.setdefault(d.entity_type, d.category)
        # each detector with its digit-run anchor, or None: those hits the scanner computes
        # itself, skipping the detector without a generator when no run qualifies
        self._plan: tuple[tuple[Detector, Numeric | None], ...] = tuple(
            (d, d.anchor if isinstance(d.anchor, Numeric) else None)
            for d in self.detectors
        )
        self.classifier = SensitivityClassifier(
            self.config.sensitivity, self.categories
        )
        allow = self.config.allow
        self._allow_values = frozenset(v.lower() for v in allow.values)
        import re

        self._allow_patterns = tuple(re.compile(p) for p in allow.patterns)
        # pay lazy costs (imports, libphonenumber metadata, regex caches) now, not on a request
        self.scan(
            [
                (
                    "warm-up: +44 20 7946 0958, 0612345678 call, (212) 555-0142 a@b.example "
                    "GB82 WEST 1234 5698 7654 32 4111 1111 1111 1111 born 1990-01-02 password: x1"
                )
            ]
        )

    def __repr__(self) -> str:
        return f"Scanner({len(self.detectors)} detectors)"

    def _build(self, base_dir: Path | None) -> tuple[Detector, ...]:
        cfg = self.config
        selected = set(cfg.detectors) if cfg.detectors is not None else None
        disabled = set(cfg.disabled_detectors)
        out: list[Detector] = []
        for d in BUILTIN_DETECTORS:
            if (selected is not None and d.name not in selected) or d.name in disabled:
                continue
            if d.name == "phone":
                d = make_phone_detector(tuple(cfg.phone_regions))
            out.append(d)
        for i, c in enumerate(cfg.custom):
            out.append(custom_detector(c, i))
        for i, dc in enumerate(cfg.dictionaries):
            det = dictionary_detector(dc, i, base_dir)
            if det is not None:
                out.append(det)
        return tuple(out)

    # ------------------------------------------------------------------ scanning
    def scan(self, texts: Sequence[str], *, images: int = 0) -> ScanResult:
        """Scan the texts the model will read (message contents, tool results, arguments)."""
        t0 = time.perf_counter()
        total = 0
        for t in texts:
            if isinstance(t, str):
                total += len(t)
        budget_ms = (
            self.config.time_budget_ms
            + self.config.time_budget_ms_per_mb * total / 1_000_000
        )
        deadline = t0 + budget_ms / 1000.0
        errors: list[str] = []
        findings: list[Finding] = []
        chars = 0
        if not self.config.enabled:
            return ScanResult(
                (),
                {},
                Sensitivity.PUBLIC,
                (),
                images,
                sum(len(t) for t in texts),
                0.0,
                {},
            )
        # Short texts (chat messages) are scanned together, joined by "\n\0\n": the fixed
        # per-text cost (one call per detector) is paid once per batch, not once per message.
        # No built-in pattern matches NUL; a custom one that does is clipped to its text.
        batch: list[tuple[int, str]] = []
        batch_len = 0
        for idx, text in enumerate(texts):
            if not isinstance(text, str):
                errors.append(f"text {idx}: not a string ({type(text).__name__})")
                continue
            chars += len(text)
            if not text:
                continue
            if len(text) >= _BATCH_LIMIT:
                findings.extend(self._scan_text(idx, text, errors, deadline))
            else:
                batch.append((idx, text))
                batch_len += len(text) + len(_JOIN)
                if batch_len >= _BATCH_LIMIT:
                    findings.extend(self._scan_batch(batch, errors, deadline))
                    batch, batch_len = [], 0
            if time.perf_counter() > deadline:
                errors.append(
                    f"time budget of {budget_ms:.0f} ms exceeded after text {idx + 1} of {len(texts)}"
                )
                batch = []
                break
        if batch:
            findings.extend(self._scan_batch(batch, errors, deadline))
        if len(findings) > 1:
            findings.sort(key=lambda f: (f.text_index, f.start))
        counts: dict[str, int] = {}
        cats: dict[str, int] = {}
        for f in findings:
            counts[f.entity_type] = counts.get(f.entity_type, 0) + 1
            c = _CATEGORY_NAME[f.category]
            cats[c] = cats.get(c, 0) + 1
        level = Sensitivity.CRITICAL if errors else self.classifier.classify(counts)
        elapsed = (time.perf_counter() - t0) * 1e6
        if errors:
            log.warning("dlp scan failed closed: %s", "; ".join(errors))
        return ScanResult(
            tuple(findings), counts, level, tuple(errors), images, chars, elapsed, cats
        )

    def _scan_batch(
        self, batch: list[tuple[int, str]], errors: list[str], deadline: float
    ) -> list[Finding]:
        if len(batch) == 1:
            return self._scan_text(batch[0][0], batch[0][1], errors, deadline)
        joined = _JOIN.join(t for _, t in batch)
        starts: list[int] = []
        pos = 0
        for _, t in batch:
            starts.append(pos)
            pos += len(t) + len(_JOIN)
        out: list[Finding] = []
        for f in self._scan_text(-1, joined, errors, deadline):
            i = bisect.bisect_right(starts, f.start) - 1
            idx, text = batch[i]
            base = starts[i]
            start, end = f.start - base, min(f.end - base, len(text))
            if start >= len(text) or end <= start:
                continue  # inside the separator: cannot happen with the built-in patterns
            value_hash = f.value_hash
            if (
                end != f.end - base
            ):  # clipped at the end of its text (a PEM body that ran on)
                value_hash = self._hasher(f.entity_type, text[start:end])
            out.append(
                f._replace(text_index=idx, start=start, end=end, value_hash=value_hash)
            )
        if errors:
            errors[:] = [
                e.replace(
                    "on text -1", "on texts " + ",".join(str(i) for i, _ in batch)
                )
                for e in errors
            ]
        return out

    def scan_request(self, request: LLMRequest) -> ScanResult:
        """Scan a normalised request: its ``texts`` (what the model reads), images counted as unscanned.

        Finding ``text_index`` values index ``request.texts``, so redacted strings can be
        written back through each segment's JSON pointer.
        """
        return self.scan([seg.text for seg in request.texts], images=request.images)

    def _scan_text(
        self, idx: int, text: str, errors: list[str], deadline: float = float("inf")
    ) -> list[Finding]:
        state = TextState(text)
        check_time = (
            len(text) > 16_384
        )  # per-detector deadline checks only where a text is large
        taken = Claims()
        out: list[Finding] = []
        # no allow list (the default): no per-finding call to test one
        check_allow = bool(self._allow_values or self._allow_patterns)
        # whether the text has digit runs at all, asked of the state once (at the first
        # numeric detector) rather than by each of the fifteen
        any_runs: bool | None = None
        # by priority: a span goes to the first detector that claims it
        for det, numeric in self._plan:
            try:
                if numeric is not None:
                    if any_runs is None:
                        any_runs = state.has_runs()
                    if not any_runs:  # no digits at all: every numeric detector skips
                        continue
                    hits = numeric.unclaimed_hits(state, taken)
                    if not hits:
                        continue
                    found = det.find_at(state, hits)
                elif det.anchor.absent(state):
                    continue
                else:
                    found = det.find(state, taken)
                for s, e in found:
                    if taken.overlaps(s, e):
                        continue
                    value = text[s:e]
                    if check_allow and self._allowed(value):
                        continue
                    taken.add(s, e)
                    out.append(  # positional: a NamedTuple built from keywords costs more
                        Finding(
                            det.entity_type,  # entity_type
                            det.category,  # category
                            idx,  # text_index
                            s,  # start
                            e,  # end
                            det.name,  # detector
                            self._hasher(det.entity_type, value),  # value_hash
                        )
                    )
            except Exception as exc:  # noqa: BLE001  fail closed; the message may contain text, so only the type
                errors.append(
                    f"detector {det.name} failed on text {idx}: {type(exc).__name__}"
                )
            if check_time and time.perf_counter() > deadline:
                break  # scan() records the budget error
        out.sort(key=lambda f: f.start)
        return out

    def _allowed(self, value: str) -> bool:
        if self._allow_values and value.lower() in self._allow_values:
            return True
        if not self._allow_patterns:  # the default: no generator to start per finding
            return False
        return any(p.fullmatch(value) for p in self._allow_patterns)

    # ------------------------------------------------------------------ transforming
    def default_actions(self) -> dict[str, Action]:
        """Action per known entity type from config (policy decisions may override per type)."""
        if self._default_actions is None:
            out: dict[str, Action] = {}
            for t, cat in self.categories.items():
                out[t] = (
                    self.config.secret_action
                    if cat is Category.SECRET
                    else self.config.default_action
                )
            out.update(self.config.actions)
            self._default_actions = out
        return dict(self._default_actions)

    def hash_key_for(self, tenant: str) -> bytes:
        """The tenant's hash key, derived once (an HMAC per redaction showed in profiles)."""
        key = self._tenant_keys.get(tenant)
        if key is None:
            if (
                len(self._tenant_keys) >= 4096
            ):  # bounded: memory stays flat with many tenants
                self._tenant_keys.clear()
            key = self._tenant_keys[tenant] = tenant_key(self._key, tenant)
        return key

    def redact(
        self,
        texts: Sequence[str],
        result: ScanResult,
        actions: Mapping[str, Action] | None = None,
        vault: PseudonymVault | None = None,
        *,
        tenant: str = "default",
    ) -> list[str]:
        """Redact with ``actions`` layered over the configured defaults; hashes keyed per tenant."""
        if actions:
            merged = self.default_actions()
            merged.update(actions)
        else:  # read-only below: the cached defaults themselves, no copy per request
            if self._default_actions is None:
                self.default_actions()
            merged = self._default_actions  # type: ignore[assignment]
        return redact_texts(
            texts,
            result,
            merged,
            vault if vault is not None else PseudonymVault(),
            hash_key=self.hash_key_for(tenant),
        )
