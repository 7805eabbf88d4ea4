"""A real HTTP mock of upstream LLM providers for tests (OpenAI wire format so far).

    from tests.mock_upstream import Behaviour, MockUpstream

    with MockUpstream() as upstream:           # 127.0.0.1, free port, background thread
        upstream.base_url                      # "http://127.0.0.1:PORT/v1"
        upstream.enqueue(Behaviour(status=429))
        ...
        upstream.requests[-1].json             # what the relay sent

See ``behaviour.py`` for every knob and the ``mock-...`` model-name shorthand.
"""

from .behaviour import DEFAULT_CONTENT, DEFAULT_MODELS, Behaviour, apply_model, overrides_from_model
from .server import Call, MockUpstream, Provider, RecordedRequest, UploadedFile

__all__ = [
    "DEFAULT_CONTENT",
    "DEFAULT_MODELS",
    "Behaviour",
    "Call",
    "MockUpstream",
    "Provider",
    "RecordedRequest",
    "UploadedFile",
    "apply_model",
    "overrides_from_model",
]
