"""Channel type -> adaptor, and (with app.relay.translate.bridge) which adaptor serves a mode on a channel."""

from __future__ import annotations

from app.relay.adaptors.anthropic import AnthropicAdaptor
from app.relay.adaptors.azure import AzureAdaptor
from app.relay.adaptors.base import Adaptor
from app.relay.adaptors.gemini import GeminiAdaptor
from app.relay.adaptors.openai import OpenAIAdaptor
from app.relay.adaptors.openai_compatible import PROVIDERS, compatible_adaptors
from app.relay.translate import bridge


class ChannelType:
    """The new-api ids the relay knows by name (the full list lives in the compatible table)."""

    OPENAI = 1
    AZURE = 3
    CUSTOM = 8
    ANTHROPIC = 14
    GEMINI = 24
    DEEPSEEK = 43


ADAPTORS: dict[int, Adaptor] = {ChannelType.OPENAI: OpenAIAdaptor(), **compatible_adaptors(),
                                ChannelType.AZURE: AzureAdaptor(), ChannelType.ANTHROPIC: AnthropicAdaptor(),
                                ChannelType.GEMINI: GeminiAdaptor()}
NAMES: dict[int, str] = {ChannelType.OPENAI: "OpenAI", **{row.type: row.name for row in PROVIDERS},
                         ChannelType.AZURE: "Azure", ChannelType.ANTHROPIC: "Anthropic", ChannelType.GEMINI: "Gemini"}


def register(channel_type: int, adaptor: Adaptor, name: str | None = None) -> None:
    """Add or replace the adaptor of `channel_type` (for provider modules that are not OpenAI-shaped)."""
    ADAPTORS[channel_type] = adaptor
    NAMES[channel_type] = name or adaptor.name


def get_adaptor(channel_type: int) -> Adaptor | None:
    return ADAPTORS.get(channel_type)


def adaptor_for(channel_type: int, mode: str) -> Adaptor | None:
    """The adaptor serving `mode` on a channel of `channel_type`: the channel's own, a bridge that
    translates the client's surface (Claude, Gemini, Responses, rerank), or None when neither can."""
    return bridge.wrap(ADAPTORS.get(channel_type), mode)


def type_name(channel_type: int) -> str:
    return NAMES.get(channel_type, "unknown")


# Asynchronous task platforms (served by /mj, /suno and /v1/videos, app.relay.tasks; never by the /v1
# pipeline).
from app.relay.tasks import video  # noqa: E402 - kept with the registrations
from app.relay.tasks.common import TaskAdaptor  # noqa: E402
from app.relay.tasks.midjourney import MidjourneyAdaptor  # noqa: E402
from app.relay.tasks.suno import SunoAdaptor  # noqa: E402

register(2, MidjourneyAdaptor(), "Midjourney Proxy")
register(5, MidjourneyAdaptor(), "Midjourney Proxy Plus")
register(36, SunoAdaptor(), "Suno API")


def task_adaptor(channel_type: int, platform: str) -> TaskAdaptor | None:
    """The adaptor submitting and polling `platform` tasks on a channel of `channel_type`, or None.

    Midjourney and Suno have channel types of their own; videos ride on the OpenAI-shaped types.
    """
    adaptor = ADAPTORS.get(channel_type)
    if platform == video.PLATFORM:
        return video.VideoAdaptor(adaptor) if video.serves(adaptor) else None
    return adaptor if isinstance(adaptor, TaskAdaptor) and adaptor.platform == platform else None
