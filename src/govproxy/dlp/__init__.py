"""DLP: find, classify and pseudonymise sensitive data in prompts, and restore it in responses.

Typical use in the pipeline (build the Scanner once: it compiles everything and warms up)::

    scanner = Scanner(DlpConfig.model_validate(settings.dlp), hmac_key=key)     # once
    vaults = VaultCache(cfg.vault_ttl_seconds, cfg.vault_max_conversations)      # once, optional

    result = scanner.scan_request(llm_request)            # or scanner.scan(texts, images=n)
    result = result.raised_to(headers.get("X-Govproxy-Sensitivity"))  # ValueError on a bad level
    policy_input["dlp"] = result.summary()                 # types, counts, sensitivity: no values
    vault = vaults.get(conversation_id) if conversation_id else PseudonymVault()
    new_texts = scanner.redact(texts, result, decision.actions, vault, tenant=tenant)
    # write new_texts[i] back at llm_request.texts[i].pointer
    ...
    body = vault.restore_json(response_json)               # content, tool-call arguments
    restorer = StreamRestorer(vault)                       # one per SSE text channel
    out = restorer.feed(delta_text) ... restorer.flush()   # json_escape=True for argument deltas
"""

from govproxy.dlp.config import DlpConfig, HmacKeyError, load_hmac_key
from govproxy.dlp.model import (
    Action,
    Category,
    Finding,
    ScanResult,
    Sensitivity,
    raise_sensitivity,
)
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
