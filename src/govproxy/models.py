"""The normalised request every pipeline stage works on.

Each API family (OpenAI chat, Responses, embeddings, Anthropic Messages, Gemini …) is
parsed into this one shape so that DLP, policy, audit and routing never need to know
which wire format the app spoke. Raw bodies stay with the transport; stages read the
``texts`` the model will see.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ProviderKind(StrEnum):
    """The wire format a provider speaks (not the vendor: vLLM speaks ``openai-compatible``)."""

    OPENAI = "openai"
    AZURE_OPENAI = "azure-openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    COHERE = "cohere"
    OPENAI_COMPATIBLE = "openai-compatible"


class EndpointKind(StrEnum):
    CHAT = "chat"  # OpenAI /chat/completions and compatible
    RESPONSES = "responses"  # OpenAI Responses API
    EMBEDDINGS = "embeddings"
    COMPLETIONS = "completions"  # legacy text completions
    MESSAGES = "messages"  # Anthropic Messages
    COUNT_TOKENS = "count_tokens"
    GENERATE_CONTENT = "generate_content"  # Gemini generateContent / streamGenerateContent
    EMBED_CONTENT = "embed_content"  # Gemini embedContent
    COHERE_CHAT = "cohere_chat"
    MODELS = "models"  # listing models: no prompt content
    UNKNOWN = "unknown"  # a known provider's host, a path we do not parse: still governed


class TextRole(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"  # tool / function results fed back to the model
    TOOL_CALL = "tool_call"  # function-call arguments the model produced earlier
    INPUT = "input"  # embeddings / completions input


class TextSegment(BaseModel):
    """One piece of text the model will read, with a JSON pointer to where it lives in the body.

    The pointer lets transform stages rewrite exactly that string (redaction) without
    re-deriving the structure of each API family.
    """

    model_config = ConfigDict(frozen=True)

    role: TextRole
    text: str
    pointer: str = Field(description="RFC 6901 JSON pointer to the string in the request body")


class Identity(BaseModel):
    """Who is calling. ``authenticated`` is true only when proxy auth proved the tenant."""

    model_config = ConfigDict(frozen=True)

    tenant: str = "default"
    app: str | None = None
    source: str | None = Field(default=None, description="client address 'ip:port'")
    authenticated: bool = False


class LLMRequest(BaseModel):
    """The normalised form of one outbound LLM API call."""

    model_config = ConfigDict(frozen=True)

    provider: str = Field(description="configured provider name, e.g. 'openai', 'local'")
    provider_kind: ProviderKind
    endpoint: EndpointKind
    method: str
    scheme: str
    host: str
    port: int
    path: str
    model: str | None = None
    stream: bool = False
    texts: tuple[TextSegment, ...] = ()
    images: int = Field(default=0, description="non-text parts (images, audio, files): counted, not scanned")
    token_estimate: int = 0
    identity: Identity = Identity()
    parse_error: str | None = Field(
        default=None, description="why the body could not be parsed; such a request is still governed"
    )
