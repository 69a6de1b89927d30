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
    def __init__(self, config: SensitivityConfig, type_categories: Mapping[str, Category]) -> None:
        self._config = config
        self._categories = dict(type_categories)

    def level_of(self, entity_type: str) -> Sensitivity:
        if entity_type in self._config.levels:
            return self._config.levels[entity_type]
        category = self._categories.get(entity_type, Category.CUSTOM)
        if category is Category.SECRET:
            return self._config.category_levels.get(Category.SECRET, Sensitivity.CRITICAL)
        if entity_type in BUILTIN_LEVELS:
            return BUILTIN_LEVELS[entity_type]
        return self._config.category_levels.get(category, Sensitivity.CONFIDENTIAL)

    def classify(self, counts: Mapping[str, int]) -> Sensitivity:
        if not counts:
            return Sensitivity.PUBLIC
        level = Sensitivity.PUBLIC
        for entity_type, n in counts.items():
            if n > 0:
                t = self.level_of(entity_type)
                if t.rank > level.rank:
                    level = t
        for rule in self._config.rules:
            if rule.level.rank > level.rank and all(counts.get(t, 0) >= rule.min_count for t in rule.all_of):
                level = rule.level
        return level
