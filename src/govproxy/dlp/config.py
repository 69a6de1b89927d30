"""The ``dlp`` section of govproxy.yaml.

Everything is validated up front (regexes compile, validator names exist, dictionary files
are readable) so that a bad rule fails at start-up with the key that is wrong, not on the
first request that happens to trigger it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from govproxy.dlp.model import Action, Category, Sensitivity


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomDetectorConfig(_Strict):
    """A user regex with an optional validator and context words.

    ``keywords`` (literal strings, any of which must occur in the text) let the scanner skip
    the regex on texts that cannot match; without them the regex runs over every text.
    """

    entity_type: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,40}$")
    pattern: str
    ignore_case: bool = False
    validator: str | None = Field(
        default=None, description="name from govproxy.dlp.validators.NAMED_VALIDATORS"
    )
    context: list[str] = Field(
        default_factory=list, description="words one of which must be near the match"
    )
    context_window: int = Field(default=60, ge=1, le=1000)
    keywords: list[str] = Field(default_factory=list)
    group: int = Field(
        default=0, ge=0, description="regex group holding the sensitive value"
    )
    category: Category = Category.CUSTOM
    max_length: int = Field(default=256, ge=1, le=10_000)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        from govproxy.dlp.regex_safety import check_pattern

        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from None
        check_pattern(v)
        return v

    @field_validator("validator")
    @classmethod
    def _known_validator(cls, v: str | None) -> str | None:
        from govproxy.dlp.validators import NAMED_VALIDATORS

        if v is not None and v not in NAMED_VALIDATORS:
            raise ValueError(
                f"unknown validator {v!r}; known: {', '.join(sorted(NAMED_VALIDATORS))}"
            )
        return v


class DictionaryConfig(_Strict):
    """Exact-match terms (project code names, customer lists), inline or one per line in files."""

    entity_type: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,40}$")
    terms: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    case_sensitive: bool = False
    category: Category = Category.CUSTOM

    def load_terms(self, base_dir: Path | None = None) -> list[str]:
        terms = [t.strip() for t in self.terms if t.strip()]
        for name in self.files:
            path = Path(name)
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ValueError(
                    f"dictionary file {str(path)!r} for {self.entity_type}: {exc.strerror or exc}"
                ) from None
            terms.extend(
                line.strip()
                for line in lines
                if line.strip() and not line.lstrip().startswith("#")
            )
        return terms


class CombinationRule(_Strict):
    """If every type in ``all_of`` occurs at least ``min_count`` times, sensitivity is at least ``level``."""

    all_of: list[str] = Field(min_length=1)
    min_count: int = Field(default=1, ge=1)
    level: Sensitivity


class SensitivityConfig(_Strict):
    levels: dict[str, Sensitivity] = Field(
        default_factory=dict,
        description="entity type -> level, overrides the built-in defaults",
    )
    category_levels: dict[Category, Sensitivity] = Field(
        default_factory=lambda: {
            Category.SECRET: Sensitivity.CRITICAL,
            Category.CUSTOM: Sensitivity.CONFIDENTIAL,
            Category.PII: Sensitivity.INTERNAL,
        },
        description="level for a type that has no entry in 'levels' or the built-in table",
    )
    rules: list[CombinationRule] = Field(
        default_factory=lambda: [
            # a profile (contact details together with a birth date) is more than contact data
            CombinationRule(
                all_of=["EMAIL_ADDRESS", "DATE_OF_BIRTH"],
                level=Sensitivity.CONFIDENTIAL,
            ),
            CombinationRule(
                all_of=["PHONE_NUMBER", "DATE_OF_BIRTH"], level=Sensitivity.CONFIDENTIAL
            ),
            CombinationRule(
                all_of=["STREET_ADDRESS", "DATE_OF_BIRTH"],
                level=Sensitivity.CONFIDENTIAL,
            ),
            # a bulk list of contacts looks like an export
            CombinationRule(
                all_of=["EMAIL_ADDRESS"], min_count=20, level=Sensitivity.CONFIDENTIAL
            ),
            CombinationRule(
                all_of=["PHONE_NUMBER"], min_count=20, level=Sensitivity.CONFIDENTIAL
            ),
        ]
    )


class AllowListConfig(_Strict):
    """Values never reported. ``values`` are exact (case-insensitive), ``patterns`` full-match regexes."""

    values: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "0.0.0.0", "::1", "255.255.255.255"]
    )
    patterns: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compile(cls, v: list[str]) -> list[str]:
        from govproxy.dlp.regex_safety import check_pattern

        for p in v:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(
                    f"allow pattern {p!r} does not compile: {exc}"
                ) from None
            check_pattern(p)
        return v


class DlpConfig(_Strict):
    """YAML key ``dlp``."""

    enabled: bool = True
    detectors: list[str] | None = Field(
        default=None,
        description="built-in detectors to run (names from 'govproxy scan --list'); None = all",
    )
    disabled_detectors: list[str] = Field(default_factory=list)
    custom: list[CustomDetectorConfig] = Field(default_factory=list)
    dictionaries: list[DictionaryConfig] = Field(default_factory=list)
    sensitivity: SensitivityConfig = Field(default_factory=SensitivityConfig)
    actions: dict[str, Action] = Field(
        default_factory=dict, description="entity type -> default action"
    )
    default_action: Action = Field(
        default=Action.PSEUDONYMISE, description="for PII and custom types"
    )
    secret_action: Action = Field(
        default=Action.MASK, description="for secrets/credentials"
    )
    allow: AllowListConfig = Field(default_factory=AllowListConfig)
    time_budget_ms: float = Field(
        default=250.0, gt=0, description="a scan over this marks the request critical"
    )
    time_budget_ms_per_mb: float = Field(
        default=100.0,
        ge=0,
        description="added to time_budget_ms per MB of text, so long contexts are not refused",
    )
    phone_regions: list[str] = Field(
        default_factory=lambda: [
            "US",
            "GB",
            "DE",
            "FR",
            "ES",
            "IT",
            "NL",
            "CA",
            "AU",
            "IN",
            "BR",
            "CH",
            "SE",
        ],
        description="regions whose numbering plans validate a phone number without context words",
    )
    hmac_key_file: str | None = Field(
        default=None,
        description="file whose bytes key the HMAC for 'hash' and finding hashes",
    )
    hmac_key_env: str | None = Field(
        default=None, description="environment variable holding that key"
    )
    vault_ttl_seconds: float = Field(
        default=3600.0, gt=0, description="conversation-scoped pseudonym cache TTL"
    )
    vault_max_conversations: int = Field(default=10_000, ge=1)

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, v: list[str]) -> list[str]:
        import phonenumbers

        bad = [r for r in v if r.upper() not in phonenumbers.SUPPORTED_REGIONS]
        if bad:
            raise ValueError(
                f"unknown phone region(s) {bad}; use ISO 3166 codes such as US, GB, DE"
            )
        return [r.upper() for r in v]

    @classmethod
    def from_section(cls, raw: dict | None, source: str = "<config>") -> DlpConfig:
        """Validate the ``dlp`` section; a bad value is a ValueError naming ``source: dlp.<key>``."""
        try:
            return cls.model_validate(raw or {})
        except ValidationError as exc:
            lines = [
                f"{source}: dlp.{'.'.join(str(x) for x in e['loc'])}: {e['msg']}"
                for e in exc.errors()
            ]
            raise ValueError("\n".join(lines)) from None

    @model_validator(mode="after")
    def _known_detectors(self) -> DlpConfig:
        from govproxy.dlp.detectors import BUILTIN_DETECTORS

        names = {d.name for d in BUILTIN_DETECTORS}
        for n in list(self.detectors or []) + self.disabled_detectors:
            if n not in names:
                raise ValueError(
                    f"unknown detector {n!r}; known: {', '.join(sorted(names))}"
                )
        return self


class HmacKeyError(Exception):
    """The configured HMAC key source cannot be read (the message never contains the key)."""


def load_hmac_key(config: DlpConfig, base_dir: Path | None = None) -> bytes | None:
    """Read the key named by ``hmac_key_file``/``hmac_key_env``; None when neither is set.

    The key is never hard-coded; when none is configured the Scanner uses a random
    per-process key, so hashes correlate within one process only.
    """
    if config.hmac_key_file:
        path = Path(config.hmac_key_file).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise HmacKeyError(
                f"dlp.hmac_key_file {str(path)!r}: {exc.strerror or exc}"
            ) from None
        if len(key) < 16:
            raise HmacKeyError(
                f"dlp.hmac_key_file {str(path)!r}: key shorter than 16 bytes"
            )
        return key
    if config.hmac_key_env:
        value = os.environ.get(config.hmac_key_env)
        if not value:
            raise HmacKeyError(
                f"dlp.hmac_key_env: environment variable {config.hmac_key_env!r} is not set"
            )
        if len(value) < 16:
            raise HmacKeyError(
                f"dlp.hmac_key_env: {config.hmac_key_env!r} is shorter than 16 bytes"
            )
        return value.encode()
    return None
