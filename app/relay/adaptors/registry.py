"""Channel type -> adaptor. Azure (3), Anthropic (14) and Gemini (24) register here when they land."""

from __future__ import annotations

from app.relay.adaptors.base import Adaptor
from app.relay.adaptors.openai import OpenAIAdaptor
from app.relay.adaptors.openai_compatible import PROVIDERS, compatible_adaptors


class ChannelType:
    """The new-api ids the relay knows by name (the full list lives in the compatible table)."""

    OPENAI = 1
    AZURE = 3
    CUSTOM = 8
    ANTHROPIC = 14
    GEMINI = 24
    DEEPSEEK = 43


ADAPTORS: dict[int, Adaptor] = {ChannelType.OPENAI: OpenAIAdaptor(), **compatible_adaptors()}
NAMES: dict[int, str] = {ChannelType.OPENAI: "OpenAI", **{row.type: row.name for row in PROVIDERS}}


def register(channel_type: int, adaptor: Adaptor, name: str | None = None) -> None:
    """Add or replace the adaptor of `channel_type` (for provider modules that are not OpenAI-shaped)."""
    ADAPTORS[channel_type] = adaptor
    NAMES[channel_type] = name or adaptor.name


def get_adaptor(channel_type: int) -> Adaptor | None:
    return ADAPTORS.get(channel_type)


def type_name(channel_type: int) -> str:
    return NAMES.get(channel_type, "unknown")
