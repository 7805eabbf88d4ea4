"""Pure translations between OpenAI chat, Anthropic Messages and Google Gemini wire formats.

Every function takes and returns plain dicts (or `Usage`), does no I/O and keeps no global state;
the stream translators are small state machines fed one parsed event at a time. OpenAI chat is the
pivot: a Claude request meets a Gemini channel as Claude -> OpenAI -> Gemini, and the answer comes
back the same way. Client mistakes (a role the target format cannot express, a tool result that
names no call) raise `TranslationError`, a 400 in whatever shape the client's surface renders.

Modules are named after the direction of the request they translate: `openai_to_claude` turns an
OpenAI chat request into a Claude one (and, for the other direction of the same conversation, a
chat completion into a Claude message).
"""

from app.errors import ValidationError


class TranslationError(ValidationError):
    """The client's request cannot be expressed in the upstream's format (the client's mistake: 400)."""

    code = "invalid_request"


__all__ = ["TranslationError"]
