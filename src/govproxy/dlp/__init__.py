"""DLP: find, classify and pseudonymise sensitive data in prompts, and restore it in responses.

Typical use in the pipeline::

    scanner = Scanner(DlpConfig.model_validate(settings.dlp), hmac_key=key)   # once
    result = scanner.scan([seg.text for seg in request.texts], images=request.images)
    result = result.raised_to(headers.get("X-Govproxy-Sensitivity"))
    vault = PseudonymVault()                  # or vault_cache.get(conversation_id)
    new_texts = scanner.redact(texts, result, decision_actions, vault, tenant=tenant)
    ...
    body = vault.restore_json(response_json)  # or StreamRestorer(vault).feed(chunk)
"""

from govproxy.dlp.config import DlpConfig, HmacKeyError, load_hmac_key
from govproxy.dlp.model import Action, Category, Finding, ScanResult, Sensitivity, raise_sensitivity
from govproxy.dlp.redact import keyed_hash, redact
from govproxy.dlp.restore import StreamRestorer
from govproxy.dlp.scanner import Scanner
from govproxy.dlp.vault import PLACEHOLDER_RE, PseudonymVault, VaultCache

__all__ = [
    "PLACEHOLDER_RE",
    "Action",
    "Category",
    "DlpConfig",
    "Finding",
    "HmacKeyError",
    "PseudonymVault",
    "ScanResult",
    "Scanner",
    "Sensitivity",
    "StreamRestorer",
    "VaultCache",
    "keyed_hash",
    "load_hmac_key",
    "raise_sensitivity",
    "redact",
]
