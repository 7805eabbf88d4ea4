"""Sensitive-word filtering of prompts (new-api's CheckSensitiveEnabled / CheckSensitiveOnPromptEnabled /
SensitiveWords): a request whose prompt text holds a listed word is refused with a 400
`sensitive_words_detected` before anything is reserved or sent upstream.

Matching is case-insensitive substring matching, as new-api's. The words are compiled into one
Aho-Corasick automaton per option version (the options cache hands out a new list object on every
reload, so the matcher is rebuilt only when the list really changed); a request then pays one walk of
its prompt fields and one scan of their text, and nothing at all while the switches are off.

Only what the client sends is checked: the upstream's answer never is (new-api's completion check is
disabled too). The refusal names neither the matched word nor the text around it, and nothing of the
body is logged.
"""

from __future__ import annotations

import threading
from typing import Any

import ahocorasick

from app.errors import ValidationError
from app.relay.types import Mode

# The body fields that carry prompt text, per surface. Moderations are left out: checking text is what
# that endpoint is for.
PROMPT_FIELDS: dict[str, tuple[str, ...]] = {
    Mode.CHAT: ("messages",),
    Mode.COMPLETIONS: ("prompt",),
    Mode.EMBEDDINGS: ("input",),
    Mode.IMAGES: ("prompt",),
    Mode.SPEECH: ("input",),
    Mode.MESSAGES: ("system", "messages"),
    Mode.CLAUDE_COUNT: ("system", "messages"),
    Mode.GEMINI: ("systemInstruction", "system_instruction", "contents"),
    Mode.GEMINI_COUNT: ("contents", "generateContentRequest"),
    Mode.GEMINI_EMBED: ("content",),
    Mode.GEMINI_BATCH_EMBED: ("requests",),
    Mode.RESPONSES: ("instructions", "input"),
    Mode.RERANK: ("query", "documents"),
    # The asynchronous task submits, by platform (app.relay.tasks), on the body as it goes upstream: fields
    # a platform does not forward (Suno's `lyrics`, not in suno.FIELDS) never reach a provider.
    "midjourney": ("prompt",),
    "suno": ("prompt", "gpt_description_prompt"),
    "video": ("prompt",),
}
# Keys under which a string is not text someone wrote: media, ids, roles, opaque signatures.
NOT_TEXT = frozenset({
    "type", "role", "id", "name", "model", "tool_call_id", "call_id", "file_id", "url", "image_url", "source",
    "data", "inline_data", "inlineData", "file_data", "fileData", "input_audio", "mime_type", "mimeType",
    "cache_control", "signature", "encrypted_content", "detail", "status",
})


class SensitiveWordsDetected(ValidationError):
    code = "sensitive_words_detected"


class _Matcher:
    """One automaton for one word list (the list object is kept so identity can stand for its version)."""

    __slots__ = ("words", "automaton")

    def __init__(self, words: list[str]) -> None:
        self.words = words
        lowered = {word.lower() for word in words if word}
        self.automaton: Any = None
        if lowered:
            automaton = ahocorasick.Automaton()
            for word in lowered:
                automaton.add_word(word, word)
            automaton.make_automaton()
            self.automaton = automaton

    def first_match(self, text: str) -> str | None:
        if self.automaton is None or not text:
            return None
        for _end, word in self.automaton.iter(text.lower()):
            return word
        return None


_current: _Matcher | None = None
_build_lock = threading.Lock()


def matcher_for(words: list[str]) -> _Matcher:
    """The matcher for this exact list object, built once (the options store makes a new list per version)."""
    global _current
    current = _current
    if current is not None and current.words is words:
        return current
    with _build_lock:
        if _current is None or _current.words is not words:
            _current = _Matcher(words)
        return _current


def prompt_text(mode: str, body: dict[str, Any] | None) -> str:
    """Every piece of text in the request's prompt fields, one per line (words never hold a newline)."""
    if not body:
        return ""
    pieces: list[str] = []
    stack: list[Any] = [body.get(name) for name in reversed(PROMPT_FIELDS.get(mode, ()))]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.startswith("data:"):  # inline base64 media
                pieces.append(item)
        elif isinstance(item, dict):
            stack.extend(value for key, value in item.items() if key not in NOT_TEXT)
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return "\n".join(pieces)


def check_prompt(store, mode: str, body: dict[str, Any] | None) -> None:
    """Raise SensitiveWordsDetected when prompt checking is on and the prompt holds a listed word."""
    if not (store.get("CheckSensitiveEnabled") and store.get("CheckSensitiveOnPromptEnabled")):
        return
    words = store.get("SensitiveWords")
    if not words:
        return
    if matcher_for(words).first_match(prompt_text(mode, body)) is not None:
        raise SensitiveWordsDetected("the request was refused: its prompt contains sensitive words")
