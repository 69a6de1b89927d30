"""API format translation between OpenAI Chat Completions (and Azure / OpenAI-compatible
servers), Anthropic Messages and Gemini generateContent — requests, responses, errors and
SSE streams — plus the text-transform seam used to restore DLP pseudonyms in responses.

Pure functions over parsed JSON and bytes: no mitmproxy, no I/O. See ``kinds`` for the
base-URL/path convention.
"""

from govproxy.translate.api import (
    TranslatedRequest,
    extract_usage,
    translate_request,
    translate_response,
)
from govproxy.translate.errors import TranslationError
from govproxy.translate.errors_map import translate_error
from govproxy.translate.ir import Usage
from govproxy.translate.kinds import endpoint_path
from govproxy.translate.stream import (
    StreamTranslator,
    request_stream_usage,
    wants_stream_usage,
)
from govproxy.translate.transform import (
    TextTransform,
    TransformFactory,
    transform_json_response,
)

__all__ = [
    "StreamTranslator",
    "TextTransform",
    "TransformFactory",
    "TranslatedRequest",
    "TranslationError",
    "Usage",
    "endpoint_path",
    "extract_usage",
    "request_stream_usage",
    "transform_json_response",
    "translate_error",
    "translate_request",
    "translate_response",
    "wants_stream_usage",
]
