"""Findings → one sensitivity level, from a per-type table plus combination rules."""

from __future__ import annotations

from collections.abc import Mapping

from govproxy.dlp.config import SensitivityConfig
from govproxy.dlp.model import Category, Sensitivity

# The defaults: national identifiers and financial accounts are confidential,
# contact data internal, anything in the secret category critical (via category_levels).
BUILTIN_LEVELS: dict[str, Sensitivity] = {
    "CREDIT_CARD": Sensitivity.CONFIDENTIAL,
    "IBAN_CODE": Sensitivity.CONFIDENTIAL,
    "US_SSN": Sensitivity.CONFIDENTIAL,
    "US_ITIN": Sensitivity.CONFIDENTIAL,
    "UK_NINO": Sensitivity.CONFIDENTIAL,
    "ES_NIF": Sensitivity.CONFIDENTIAL,
    "FR_NIR": Sensitivity.CONFIDENTIAL,
    "IT_FISCAL_CODE": Sensitivity.CONFIDENTIAL,
    "NL_BSN": Sensitivity.CONFIDENTIAL,
    "EU_VAT": Sensitivity.INTERNAL,
    "EMAIL_ADDRESS": Sensitivity.INTERNAL,
    "PHONE_NUMBER": Sensitivity.INTERNAL,
    "IP_ADDRESS": Sensitivity.INTERNAL,
    "MAC_ADDRESS": Sensitivity.INTERNAL,
    "STREET_ADDRESS": Sensitivity.INTERNAL,
    "DATE_OF_BIRTH": Sensitivity.INTERNAL,
    "PERSON": Sensitivity.INTERNAL,
}


class SensitivityClassifier:
    def __init__(
        self, config: SensitivityConfig, type_categories: Mapping[str, Category]
    ) -> None:
        self._config = config
        self._categories = dict(type_categories)
        self._level_cache: dict[str, tuple[Sensitivity, int]] = {}
        self._rules = [
            (r.level, r.level.rank, tuple(r.all_of), r.min_count) for r in config.rules
        ]

    def level_of(self, entity_type: str) -> Sensitivity:
        if entity_type in self._config.levels:
            return self._config.levels[entity_type]
        category = self._categories.get(entity_type, Category.CUSTOM)
        if category is Category.SECRET:
            return self._config.category_levels.get(
                Category.SECRET, Sensitivity.CRITICAL
            )
        if entity_type in BUILTIN_LEVELS:
            return BUILTIN_LEVELS[entity_type]
        return self._config.category_levels.get(category, Sensitivity.CONFIDENTIAL)

    def classify(self, counts: Mapping[str, int]) -> Sensitivity:
        if not counts:
            return Sensitivity.PUBLIC
        cache = self._level_cache
        level = Sensitivity.PUBLIC
        rank = 0
        for entity_type, n in counts.items():
            if n > 0:
                hit = cache.get(entity_type)
                if hit is None:
                    t = self.level_of(entity_type)
                    hit = cache[entity_type] = (t, t.rank)
                if hit[1] > rank:
                    level, rank = hit
        for rule_level, rule_rank, all_of, min_count in self._rules:
            if rule_rank > rank and all(counts.get(t, 0) >= min_count for t in all_of):
                level, rank = rule_level, rule_rank
        return level
