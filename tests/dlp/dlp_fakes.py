"""Realistic-format fake credentials, built at run time from a seeded RNG.

Nothing here is a real secret, and because the values are assembled in code no token
literal is committed (so secret scanners and push protection have nothing to flag).
"""

from __future__ import annotations

import base64
import json
import random
import string

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "_-"
HEX = "0123456789abcdef"


def rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + rand(rng, string.digits, length - len(prefix) - 1)
    for check in string.digits:
        cand = body + check
        total = 0
        for i, ch in enumerate(reversed(cand)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return cand
    raise AssertionError("unreachable")


def provider_tokens(seed: int = 7) -> list[tuple[str, str, str]]:
    """(entity type, text containing the token, the token itself)."""
    rng = random.Random(seed)
    t: list[tuple[str, str, str]] = []

    def add(entity: str, template: str, token: str) -> None:
        t.append((entity, template.format(tok=token), token))

    add(
        "AWS_ACCESS_KEY_ID",
        "aws_access_key_id = {tok}",
        "AKIA" + rand(rng, string.ascii_uppercase + "234567", 16),
    )
    add(
        "AWS_ACCESS_KEY_ID",
        "export AWS_ACCESS_KEY_ID={tok}",
        "ASIA" + rand(rng, string.ascii_uppercase + "234567", 16),
    )
    secret = rand(rng, B64, 38) + "Zz"
    add("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key = {tok}", secret)
    add(
        "GCP_API_KEY",
        "https://maps.googleapis.com/maps/api/geocode/json?key={tok}",
        "AIza" + rand(rng, URLSAFE, 35),
    )
    acct = rand(rng, B64, 86) + "=="
    add(
        "AZURE_STORAGE_KEY",
        "DefaultEndpointsProtocol=https;AccountName=demo;AccountKey={tok};EndpointSuffix=core.windows.net",
        acct,
    )
    add(
        "GITHUB_TOKEN",
        "git clone https://{tok}@github.com/org/repo.git",
        "ghp_" + rand(rng, ALNUM, 36),
    )
    add("GITHUB_TOKEN", "GH_TOKEN: {tok}", "gho_" + rand(rng, ALNUM, 36))
    add(
        "GITHUB_TOKEN",
        "token {tok}",
        "github_pat_" + rand(rng, ALNUM, 22) + "_" + rand(rng, ALNUM, 59),
    )
    add("GITLAB_TOKEN", "PRIVATE-TOKEN: {tok}", "glpat-" + rand(rng, URLSAFE, 20))
    add(
        "SLACK_TOKEN",
        "SLACK_BOT_TOKEN={tok}",
        "xoxb-"
        + rand(rng, string.digits, 12)
        + "-"
        + rand(rng, string.digits, 13)
        + "-"
        + rand(rng, ALNUM, 24),
    )
    add(
        "SLACK_TOKEN",
        "user token {tok}",
        "xoxp-"
        + rand(rng, string.digits, 12)
        + "-"
        + rand(rng, string.digits, 12)
        + "-"
        + rand(rng, string.digits, 13)
        + "-"
        + rand(rng, HEX, 32),
    )
    add(
        "SLACK_WEBHOOK",
        "curl -X POST https://{tok}",
        "hooks.slack.com/services/T"
        + rand(rng, string.ascii_uppercase + string.digits, 8)
        + "/B"
        + rand(rng, string.ascii_uppercase + string.digits, 10)
        + "/"
        + rand(rng, ALNUM, 24),
    )
    add("STRIPE_KEY", "stripe.api_key = '{tok}'", "sk_live_" + rand(rng, ALNUM, 24))
    add("STRIPE_KEY", "STRIPE_KEY={tok}", "rk_test_" + rand(rng, ALNUM, 99))
    add("TWILIO_API_KEY", "twilio key sid {tok}", "SK" + rand(rng, HEX, 32))
    add("TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN={tok}", rand(rng, HEX, 32))
    add(
        "SENDGRID_API_KEY",
        "SENDGRID_API_KEY={tok}",
        "SG." + rand(rng, URLSAFE, 22) + "." + rand(rng, URLSAFE, 43),
    )
    add(
        "OPENAI_API_KEY",
        "OPENAI_API_KEY={tok}",
        "sk-proj-" + rand(rng, URLSAFE, 74) + "T3BlbkFJ" + rand(rng, URLSAFE, 74),
    )
    add(
        "OPENAI_API_KEY",
        'client = OpenAI(api_key="{tok}")',
        "sk-" + rand(rng, ALNUM, 48),
    )
    add(
        "ANTHROPIC_API_KEY",
        "x-api-key: {tok}",
        "sk-ant-api03-" + rand(rng, URLSAFE, 93) + "AA",
    )
    add(
        "HUGGINGFACE_TOKEN",
        "HF_TOKEN={tok}",
        "hf_" + rand(rng, string.ascii_letters, 34),
    )
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(
        json.dumps(
            {"sub": "1234567890", "name": "Test User", "iat": 1516239022}
        ).encode()
    )
    add(
        "JWT",
        "Authorization: Bearer {tok}",
        f"{header}.{payload}.{b64url(rng.randbytes(32))}",
    )
    pem_body = "\n".join(rand(rng, B64, 64) for _ in range(6))
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{pem_body}\n-----END RSA PRIVATE KEY-----"
    add("PRIVATE_KEY", "here is my key:\n{tok}\nthanks", pem)
    ossh = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{pem_body}\n-----END OPENSSH PRIVATE KEY-----"
    add("PRIVATE_KEY", "{tok}", ossh)
    gcp_pem = (
        "-----BEGIN PRIVATE KEY-----\\n"
        + "\\n".join(rand(rng, B64, 64) for _ in range(4))
        + "\\n-----END PRIVATE KEY-----\\n"
    )
    key_id = rand(rng, HEX, 40)
    sa = json.dumps(
        {
            "type": "service_account",
            "project_id": "demo-project",
            "private_key_id": key_id,
            "private_key": "PEM",
        }
    )
    t.append(("GCP_SERVICE_ACCOUNT_KEY", sa, key_id))
    add(
        "PRIVATE_KEY",
        '{{"type": "service_account", "private_key": "{tok}"}}',
        gcp_pem.rstrip("\\n"),
    )
    pw = rand(rng, ALNUM, 14)
    add("URL_CREDENTIALS", "DATABASE_URL=postgres://app:{tok}@db.internal:5432/app", pw)
    add(
        "URL_CREDENTIALS",
        "mongodb+srv://admin:{tok}@cluster0.example.net/test",
        rand(rng, ALNUM, 12),
    )
    add(
        "URL_CREDENTIALS",
        "fetch https://deploy:{tok}@git.example.com/repo.git",
        rand(rng, ALNUM, 10) + "!9",
    )
    add("PASSWORD", 'password = "{tok}"', "hunter2-" + rand(rng, ALNUM, 6))
    add("PASSWORD", "DB_PASSWORD: {tok}", "Tr0ub4dor&3")
    add(
        "PASSWORD",
        "Server=db;Database=app;User Id=sa;Password={tok};",
        "P@ssw0rd" + rand(rng, string.digits, 3),
    )
    add("GENERIC_SECRET", 'api_key = "{tok}"', rand(rng, HEX, 32))
    add("GENERIC_SECRET", '{{"client_secret": "{tok}"}}', rand(rng, URLSAFE, 40))
    add("GENERIC_SECRET", "Authorization: Bearer {tok}", rand(rng, ALNUM, 40))
    return t


def hard_negatives(seed: int = 11) -> list[tuple[str, str]]:
    """(what it is, text) that must produce no secret findings."""
    rng = random.Random(seed)
    sri = "sha384-" + base64.b64encode(rng.randbytes(48)).decode()
    sha512 = "sha512-" + base64.b64encode(rng.randbytes(64)).decode()
    git_sha = rand(rng, HEX, 40)
    return [
        (
            "uuid",
            f"request id {rand(rng, HEX, 8)}-{rand(rng, HEX, 4)}-4{rand(rng, HEX, 3)}-a{rand(rng, HEX, 3)}-{rand(rng, HEX, 12)} failed",
        ),
        (
            "uuid as token value",
            f"token: {rand(rng, HEX, 8)}-{rand(rng, HEX, 4)}-4{rand(rng, HEX, 3)}-a{rand(rng, HEX, 3)}-{rand(rng, HEX, 12)}",
        ),
        (
            "npm lockfile",
            f'"node_modules/left-pad": {{"version": "1.3.0", "resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz", "integrity": "{sha512}"}}',
        ),
        (
            "cargo lockfile",
            f'[[package]]\nname = "serde"\nversion = "1.0.203"\nchecksum = "{rand(rng, HEX, 64)}"',
        ),
        (
            "poetry lockfile",
            f'{{file = "requests-2.32.3-py3-none-any.whl", hash = "sha256:{rand(rng, HEX, 64)}"}}',
        ),
        (
            "SRI hash",
            f'<script src="https://cdn.example.com/lib.js" integrity="{sri}" crossorigin="anonymous"></script>',
        ),
        (
            "git sha",
            f"commit {git_sha}\nAuthor: Dev <dev@example.com>\n\n    Fix token refresh",
        ),
        ("git sha in key path", f"cache key: deps-{git_sha}"),
        (
            "camelCase identifiers",
            "const accessTokenExpiresAt = computeTokenExpiry(refreshTokenLifetimeSeconds);",
        ),
        (
            "identifier assignment",
            "apiKey: process.env.OPENAI_API_KEY,\nsecretKey = settings.SECRET_KEY_NAME",
        ),
        ("env reference", "password: ${DB_PASSWORD}\napi_key: $API_KEY"),
        (
            "template placeholder",
            'api_key: "{{ secrets.API_KEY }}"\npassword = "<your-password>"',
        ),
        ("masked value", 'password: "********"\nsecret = "xxxxxxxxxxxxxxxx"'),
        (
            "prose about passwords",
            "Please reset your password: click the link we sent you. The token limit is 4096: keep prompts short.",
        ),
        (
            "scikit-learn",
            "pip install scikit-learn; import sklearn  # sk-learn is the old name",
        ),
        (
            "python keyword args",
            "response = client.chat(max_tokens=1024, temperature=0.2, api_key=key)",
        ),
        (
            "our own placeholders",
            "password = [PASSWORD_1] and token = [GENERIC_SECRET:3fa9c2d1e0b4]",
        ),
        ("getpass call", "password = getpass.getpass('Password: ')"),
        (
            "keyed field names",
            "password_min_length: 12\npassword_reset_url: https://example.com/reset\ntoken_type: bearer",
        ),
    ]
