"""Secrets and credentials: provider token formats, private keys, credentials in URLs and assignments.

Provider tokens carry fixed prefixes (``ghp_``, ``xoxb-``, ``AKIA``…), which are both the
cheap anchor and most of the precision. Formats without a prefix (AWS secret keys, Twilio
auth tokens, ``password = …``) are only reported next to a keyword, and generic values
must look random (length, character mix, entropy) so identifiers, hashes in lock files,
UUIDs and SRI digests are not reported.
"""

from __future__ import annotations

import base64
import json
import re

from govproxy.dlp import validators as v
from govproxy.dlp.detectors.base import (
    Anchor,
    AnyOf,
    BackFrom,
    Detector,
    KeywordBeforeOperator,
    Literal,
    RegexAnchor,
    TextState,
)
from govproxy.dlp.model import Category

SECRET = Category.SECRET

_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_SRI = re.compile(r"^sha(?:1|256|384|512)-", re.IGNORECASE)
_ENV_REF = re.compile(
    r"^\$[A-Za-z_][A-Za-z0-9_]{0,100}$|^%[A-Za-z_][A-Za-z0-9_]{0,100}%$"
)
_OUR_PLACEHOLDER = re.compile(r"^\[[A-Z][A-Z0-9_]{0,48}(?::[0-9a-f]{4,64})?\]$")
_PLACEHOLDER_WORDS = frozenset(
    {"none", "null", "nil", "true", "false", "undefined", "redacted", "hidden", "secret", "password",
     "your_password", "yourpassword", "your-password", "your_api_key", "your-api-key", "api_key", "xxx", "todo",
     "changeme_in_prod", "example", "dummy", "placeholder", "string", "str", "required", "optional"}
)  # fmt: skip


_MASK_CHARS = "*xX.•#-_ "


def is_placeholder(value: str) -> bool:
    """Template variables, env references, masks and our own placeholders are not secrets."""
    s = value.strip()
    low = s.lower()
    if not s or low in _PLACEHOLDER_WORDS:
        return True
    if (
        "${" in s
        or "{{" in s
        or "{%" in s
        or "%(" in s
        or s.startswith("<")
        or s.startswith("{")
    ):
        return True
    # both patterns begin with one of these characters: most values skip the two matches
    if s[0] in "$%[" and (_ENV_REF.match(s) or _OUR_PLACEHOLDER.match(s)):
        return True
    if (
        "process.env" in s
        or "os.environ" in s
        or "getenv" in low
        or "secretkeyref" in low
    ):
        return True
    # made only of mask characters: nothing is left once they are stripped from both ends
    # (one C call, where set(s) <= set(...) built two sets per value)
    if not s.strip(_MASK_CHARS) or s.count("*") >= 3:
        return True
    return False


def looks_random(value: str, min_len: int = 16, min_entropy: float = 3.0) -> bool:
    """A generated token: long enough, letters and digits, high entropy, not a UUID/SRI/URL/path."""
    if len(value) < min_len or len(value) > 1024:
        return False
    if (
        is_placeholder(value)
        or _UUID.match(value)
        or _SRI.match(value)
        or "://" in value
    ):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    if not (has_digit and has_alpha):
        return False
    return v.shannon_entropy(value) >= min_entropy


def _prefixed(
    name: str,
    entity_type: str,
    anchor: Anchor,
    pattern: str,
    max_len: int,
    *,
    validate: object = None,
    description: str = "",
    priority: int = 90,
    before: int = 0,
) -> Detector:
    """A token with a fixed prefix. ``before`` > 0: the anchor hit lies that far inside the token."""
    return Detector(
        name=name,
        entity_type=entity_type,
        category=SECRET,
        anchor=anchor,
        pattern=re.compile(pattern),
        before=before,
        after=max_len + 2,
        validate=validate,  # type: ignore[arg-type]
        priority=priority,
        anchored=before == 0,
        description=description,
    )


# Shared anchors: one literal-first pass finds the prefixes of a whole family of token formats.
_A_FAMILY = re.compile(r"A(?:KIA|SIA|BIA|CCA|IDA|ROA|IPA|NPA|NVA|PKA|GPA|Iza)")
_S_FAMILY = re.compile(r"S(?:K[0-9a-f]{32}|G\.)")
_G_FAMILY = re.compile(r"g(?:h[pousr]_|ithub_pat_|l(?:pat|dt|rt|ptt|cbt|oas|soat)-)")
_UNDERSCORE_FAMILY = re.compile(r"_(?:live_|test_|(?<=whsec_)|(?<=hf_)|(?<=api_)org_)")
_DASH_FAMILY = re.compile(r"-(?:(?<=sk-)|(?<=xox[abprse]-)|(?<=xapp-)|----BEGIN)")

_B = r"(?<![A-Za-z0-9_\-])"  # token boundary on the left
_E = r"(?![A-Za-z0-9_\-])"  # and on the right

AWS_ACCESS_KEY_ID = Detector(
    name="aws_access_key_id",
    entity_type="AWS_ACCESS_KEY_ID",
    category=SECRET,
    anchor=RegexAnchor(_A_FAMILY, gate="A"),
    pattern=re.compile(
        r"(?<![A-Za-z0-9])A(?:KIA|SIA|BIA|CCA|IDA|ROA|IPA|NPA|NVA|PKA|GPA)[A-Z2-7]{16}(?![A-Za-z0-9])"
    ),
    before=1,
    after=22,
    priority=92,
    description="AWS access key ids (AKIA/ASIA… + 16 base32 characters)",
)

AWS_SECRET_ACCESS_KEY = Detector(
    name="aws_secret_access_key",
    entity_type="AWS_SECRET_ACCESS_KEY",
    category=SECRET,
    anchor=Literal(("secret",), ignore_case=True),
    pattern=re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
    before=0,
    after=120,
    context=("aws",),
    context_before=120,
    context_after=0,
    validate=lambda s: (
        looks_random(s, 40, 4.0)
        and any(c.isupper() for c in s)
        and any(c.islower() for c in s)
    ),
    priority=91,
    description="AWS secret access keys (40 base64 characters) after an AWS secret keyword",
)

GCP_SERVICE_ACCOUNT = Detector(
    name="gcp_service_account",
    entity_type="GCP_SERVICE_ACCOUNT_KEY",
    category=SECRET,
    anchor=Literal(('"private_key_id"',), gate='"', pivot=0),
    pattern=re.compile(r'"private_key_id"[ \t]{0,4}:[ \t\r\n]{0,8}"([0-9a-f]{40})"'),
    group=1,
    before=0,
    after=80,
    priority=93,
    description="GCP service-account JSON key id (the private key itself is caught as a PEM key)",
)

GCP_API_KEY = Detector(
    name="gcp_api_key",
    entity_type="GCP_API_KEY",
    category=SECRET,
    anchor=RegexAnchor(_A_FAMILY, gate="A"),
    pattern=re.compile(_B + r"AIza[0-9A-Za-z_\-]{35}" + _E),
    before=1,
    after=40,
    priority=90,
    description="Google API keys (AIza…)",
)

AZURE_STORAGE_KEY = Detector(
    name="azure_storage_key",
    entity_type="AZURE_STORAGE_KEY",
    category=SECRET,
    anchor=AnyOf(
        (
            Literal(("AccountKey=",), gate="=", pivot=7),  # the 'K'
            Literal(("azure_storage_key",), ignore_case=True, gate="_", pivot=5),
        )
    ),
    pattern=re.compile(r"(?<![A-Za-z0-9+/])([A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])"),
    group=1,
    before=0,
    after=140,
    priority=92,
    description="Azure storage account keys (88-character base64) in connection strings or after AZURE_STORAGE_KEY",
)

GITHUB_TOKEN = _prefixed(
    "github_token",
    "GITHUB_TOKEN",
    RegexAnchor(_G_FAMILY, gate="_"),
    _B + r"(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})" + _E,
    270,
    description="GitHub tokens (ghp_/gho_/ghu_/ghs_/ghr_, fine-grained github_pat_)",
)

GITLAB_TOKEN = _prefixed(
    "gitlab_token",
    "GITLAB_TOKEN",
    RegexAnchor(_G_FAMILY, gate="-"),
    _B + r"gl(?:pat|dt|rt|ptt|cbt|oas|soat)-[A-Za-z0-9_\-.]{20,80}" + _E,
    90,
    description="GitLab personal/deploy/runner tokens (glpat-…)",
)

SLACK_TOKEN = _prefixed(
    "slack_token",
    "SLACK_TOKEN",
    RegexAnchor(_DASH_FAMILY, gate="-"),
    _B
    + r"(?:xox[abprse]-[0-9A-Za-z\-]{10,250}|xapp-[0-9]-[A-Z0-9]{8,20}-[0-9]{6,20}-[a-f0-9]{32,80})"
    + _E,
    260,
    description="Slack bot/user/app tokens (xoxb-, xoxp-, xapp-…)",
    before=4,
)

SLACK_WEBHOOK = _prefixed(
    "slack_webhook",
    "SLACK_WEBHOOK",
    Literal(("hooks.slack.com/",), gate="/"),
    r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9]{8,12}/[A-Za-z0-9]{8,12}/[A-Za-z0-9]{20,32}"
    + _E,
    120,
    description="Slack incoming-webhook URLs",
)

STRIPE_KEY = Detector(
    name="stripe_key",
    entity_type="STRIPE_KEY",
    category=SECRET,
    anchor=RegexAnchor(_UNDERSCORE_FAMILY, gate="_"),
    pattern=re.compile(
        _B
        + r"(?:[sr]k_(?:live|test)_[0-9A-Za-z]{20,247}|whsec_[0-9A-Za-z]{24,64})"
        + _E
    ),
    before=6,
    after=260,
    priority=90,
    description="Stripe secret/restricted keys and webhook secrets",
)

TWILIO_API_KEY = Detector(
    name="twilio_api_key",
    entity_type="TWILIO_API_KEY",
    category=SECRET,
    anchor=RegexAnchor(_S_FAMILY, gate="S"),
    pattern=re.compile(r"(?<![A-Za-z0-9])SK[0-9a-f]{32}(?![A-Za-z0-9])"),
    before=1,
    after=2,
    priority=88,
    description="Twilio API key SIDs (SK + 32 hex)",
)

TWILIO_AUTH_TOKEN = Detector(
    name="twilio_auth_token",
    entity_type="TWILIO_AUTH_TOKEN",
    category=SECRET,
    anchor=Literal(("twilio",), ignore_case=True),
    pattern=re.compile(r"(?<![A-Za-z0-9])[0-9a-f]{32}(?![A-Za-z0-9])"),
    before=0,
    after=160,
    validate=lambda s: v.shannon_entropy(s) >= 3.0,
    context=("auth", "token", "secret"),
    context_before=120,
    priority=87,
    description="Twilio auth tokens (32 hex) after 'twilio' … 'auth'/'token'",
)

SENDGRID_API_KEY = _prefixed(
    "sendgrid_api_key",
    "SENDGRID_API_KEY",
    RegexAnchor(_S_FAMILY, gate="G"),
    _B + r"SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{40,50}" + _E,
    90,
    description="SendGrid API keys (SG.xxx.yyy)",
)

ANTHROPIC_API_KEY = _prefixed(
    "anthropic_api_key",
    "ANTHROPIC_API_KEY",
    RegexAnchor(_DASH_FAMILY, gate="-"),
    _B + r"sk-ant-(?:api|admin|oat|sid)[0-9]{2}-[A-Za-z0-9_\-]{32,200}" + _E,
    230,
    priority=93,
    description="Anthropic API/admin keys (sk-ant-api03-…)",
    before=2,
)

OPENAI_API_KEY = _prefixed(
    "openai_api_key",
    "OPENAI_API_KEY",
    RegexAnchor(_DASH_FAMILY, gate="-"),
    _B + r"sk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,200}" + _E,
    220,
    validate=lambda s: looks_random(s[3:], 20, 3.5),
    description="OpenAI API keys (sk-, sk-proj-, sk-svcacct-, sk-admin-)",
    before=2,
)

HUGGINGFACE_TOKEN = _prefixed(
    "huggingface_token",
    "HUGGINGFACE_TOKEN",
    RegexAnchor(_UNDERSCORE_FAMILY, gate="_"),
    _B + r"(?:hf_|api_org_)[A-Za-z0-9]{30,40}" + _E,
    52,
    validate=lambda s: v.shannon_entropy(s) >= 3.5,
    description="Hugging Face user and org tokens (hf_…)",
    before=3,
)


def _jwt_ok(value: str) -> bool:
    header = value.split(".", 1)[0]
    try:
        decoded = json.loads(
            base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        )
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


JWT = _prefixed(
    "jwt",
    "JWT",
    Literal(("eyJ",), gate="J", pivot=2),
    _B
    + r"eyJ[A-Za-z0-9_\-]{8,4000}\.[A-Za-z0-9_\-]{2,12000}\.[A-Za-z0-9_\-]{0,4000}(?![A-Za-z0-9_\-.])",
    20010,
    validate=_jwt_ok,
    priority=89,
    description="JSON Web Tokens (header decodes to JSON with 'alg')",
)

PRIVATE_KEY = _prefixed(
    "private_key",
    "PRIVATE_KEY",
    RegexAnchor(_DASH_FAMILY, gate="-"),
    r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[^\x00]{0,40000}?-----END[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\:\-]{0,40000})",
    40200,
    priority=95,
    description="PEM/OpenSSH/PGP private keys, multi-line or with escaped \\n (as in JSON)",
)

# ---------------------------------------------------------------- credentials in URLs and assignments
_URL_CRED = re.compile(
    r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{1,30}://([^\s:/?#@\"'<>\x00]{1,128}):([^\s/?#@\"'<>\x00]{1,256})@[A-Za-z0-9.\-\[\]_]{1,255}"
)


def _url_password_match(m: re.Match[str], state: TextState) -> list[tuple[int, int]]:
    """The password group of a credential-URL match, unless it is a placeholder.

    Works on the detector's own anchored match: its window (700 characters past '://')
    is longer than the pattern's longest match (~650), so no second, unwindowed match
    is needed to be sure the span is whole.
    """
    s, e = m.span(2)
    if is_placeholder(m.group(2)) or is_placeholder(m.group(1) + ":" + m.group(2)):
        return []
    return [(s, e)]


URL_CREDENTIALS = Detector(
    name="url_credentials",
    entity_type="URL_CREDENTIALS",
    category=SECRET,
    anchor=BackFrom(
        "://",
        frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-"),
        gate="@",
    ),
    pattern=_URL_CRED,
    before=0,
    after=700,
    refine_match=_url_password_match,
    priority=94,
    anchored=True,
    description="passwords in basic-auth URLs and connection strings (postgres://user:PASSWORD@host); only the password is reported",
)

_ASSIGN_VALUE = (
    r"[\"']?(?:[ \t]{0,4}(?:=>|:=|==|=|:)[ \t]{0,4}|[ \t]{1,4}(?=[\"']?[A-Za-z0-9]))"
    r"(?:\"([^\"\r\n\x00]{1,300})\"|'([^'\r\n\x00]{1,300})'|((?:[^\s\"'`,;&<>\x00]|&(?![A-Za-z_][A-Za-z0-9_]{0,30}=)){1,300}))"
)
_PASSWORD_ASSIGN = re.compile(
    r"(?:password|passwd|passphrase|pwd)([A-Za-z0-9_\-]{0,24})" + _ASSIGN_VALUE,
    re.IGNORECASE,
)
_SECRET_ASSIGN = re.compile(
    r"(?:secret|key|token|bearer)"
    r"([A-Za-z0-9_\-]{0,24})" + _ASSIGN_VALUE,
    re.IGNORECASE,
)
_NOT_THE_SECRET = ("url", "uri", "hash", "field", "policy", "len", "min", "max", "reset", "label", "prompt", "hint",
                   "required", "expir", "rule", "strength", "file", "path", "name", "type", "count", "limit", "id",
                   "header", "endpoint", "usage", "_at", "version")  # fmt: skip


_KEY_QUALIFIERS = (
    "api",
    "secret",
    "access",
    "private",
    "auth",
    "client",
    "signing",
    "encryption",
    "master",
    "license",
)


def _qualified_key(lower: str, start: int) -> bool:
    before = lower[max(0, start - 12) : start]
    return any(q in before for q in _KEY_QUALIFIERS)


_NOT_THE_SECRET_RE = re.compile("|".join(_NOT_THE_SECRET), re.IGNORECASE)


def _assignment_spans(generic: bool):
    def refine(m: re.Match[str], state: TextState) -> list[tuple[int, int]]:
        start = m.start()
        suffix = m.group(1)
        if suffix and _NOT_THE_SECRET_RE.search(suffix):
            return []
        quoted = m.group(2) is not None or m.group(3) is not None
        gi = 2 if m.group(2) is not None else 3 if m.group(3) is not None else 4
        value = m.group(gi)
        s, e = m.span(gi)
        if is_placeholder(value) or "://" in value:
            return []
        if generic:
            if not looks_random(value.strip()):
                return []
            if state.lower.startswith("key", start) and not _qualified_key(
                state.lower, start
            ):
                # a bare "key" names many things (cache keys, map keys): only a mixed-case
                # value, as generated API keys are, counts; hex digests and slugs do not
                if not (
                    any(c.isupper() for c in value) and any(c.islower() for c in value)
                ):
                    return []
            return [(s, e)]
        if len(value) < 4 or len(value) > 200:
            return []
        if not quoted and value[-1] in "=:":
            return []  # 'password= password=': the next key, not a value
        if not quoted:
            # an unquoted bare word is usually a variable or prose ("password: please enter"),
            # a call or attribute is code; require something a word would not have
            if (
                value.endswith("(")
                or "(" in value
                or value.isalpha()
                or value.replace("_", "").replace(".", "").isalpha()
            ):
                return []
        return [(s, e)]

    return refine


PASSWORD = Detector(
    name="password_assignment",
    entity_type="PASSWORD",
    category=SECRET,
    anchor=KeywordBeforeOperator(("pass", "pwd")),
    pattern=_PASSWORD_ASSIGN,
    before=0,
    after=345,
    refine_match=_assignment_spans(generic=False),
    priority=86,
    anchored=True,
    description="password = / password: / Password=…; values (quoted literals, or unquoted with digits or symbols)",
)

GENERIC_SECRET = Detector(
    name="generic_secret",
    entity_type="GENERIC_SECRET",
    category=SECRET,
    anchor=AnyOf(
        (
            KeywordBeforeOperator(("secret", "key", "token")),
            Literal(("Bearer ", "BEARER "), gate="B"),
        )
    ),
    pattern=_SECRET_ASSIGN,
    before=0,
    after=345,
    refine_match=_assignment_spans(generic=True),
    priority=85,
    anchored=True,
    description="high-entropy values assigned to secret/api_key/token/credential keys or after 'Bearer'",
)

SECRET_DETECTORS: tuple[Detector, ...] = (
    PRIVATE_KEY,
    URL_CREDENTIALS,
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    GCP_SERVICE_ACCOUNT,
    GCP_API_KEY,
    AZURE_STORAGE_KEY,
    GITHUB_TOKEN,
    GITLAB_TOKEN,
    SLACK_TOKEN,
    SLACK_WEBHOOK,
    STRIPE_KEY,
    TWILIO_API_KEY,
    TWILIO_AUTH_TOKEN,
    SENDGRID_API_KEY,
    ANTHROPIC_API_KEY,
    OPENAI_API_KEY,
    HUGGINGFACE_TOKEN,
    JWT,
    PASSWORD,
    GENERIC_SECRET,
)
