"""The OpenAI-compatible family as data: one row per channel type, no class per provider.

Type ids and default base URLs follow new-api (constant/channel.go); Groq has no new-api id and
takes one-api's 29. `stream_usage` marks providers known to accept `stream_options.include_usage`
(new-api's list of stream-options channels); for the others the client's own `stream_options` is sent
unchanged and usage comes from the provider's last chunk or our estimate. A channel can turn the
forcing off with `{"stream_usage": false}` in its settings (the `other` JSON). `path_prefix` replaces
the "/v1" of OpenAI paths for providers that serve them elsewhere ("" for none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.relay.adaptors.base import Fetch
from app.relay.adaptors.openai import ALL_MODES, OpenAIAdaptor, join_url
from app.relay.types import Mode, RelayContext

CHAT = frozenset({Mode.CHAT})
TEXT = frozenset({Mode.CHAT, Mode.COMPLETIONS})
TEXT_EMBED = frozenset({Mode.CHAT, Mode.COMPLETIONS, Mode.EMBEDDINGS})


@dataclass(frozen=True)
class Compatible:
    type: int
    name: str
    base_url: str
    stream_usage: bool = True
    path_prefix: str | None = None
    modes: frozenset[str] = ALL_MODES
    balance: str | None = None  # which balance endpoint: "openai", "deepseek", "openrouter", "siliconflow"


PROVIDERS: tuple[Compatible, ...] = (
    Compatible(4, "Ollama", "http://localhost:11434", modes=TEXT_EMBED),
    Compatible(6, "OpenAIMax", "https://api.openaimax.com", balance="openai"),
    Compatible(7, "OhMyGPT", "https://api.ohmygpt.com", balance="openai"),
    Compatible(8, "Custom", "", balance="openai"),
    Compatible(9, "AILS", "https://api.caipacity.com", balance="openai"),
    Compatible(10, "AIProxy", "https://api.aiproxy.io", balance="openai"),
    Compatible(12, "API2GPT", "https://api.api2gpt.com", balance="openai"),
    Compatible(13, "AIGC2D", "https://api.aigc2d.com", balance="openai"),
    Compatible(17, "Ali", "https://dashscope.aliyuncs.com", path_prefix="/compatible-mode/v1", modes=TEXT_EMBED),
    Compatible(20, "OpenRouter", "https://openrouter.ai/api", modes=TEXT_EMBED, balance="openrouter"),
    Compatible(25, "Moonshot", "https://api.moonshot.cn", stream_usage=False, modes=CHAT),
    Compatible(26, "ZhipuV4", "https://open.bigmodel.cn", path_prefix="/api/paas/v4",
               modes=frozenset({Mode.CHAT, Mode.EMBEDDINGS, Mode.IMAGES})),
    Compatible(27, "Perplexity", "https://api.perplexity.ai", stream_usage=False, path_prefix="", modes=CHAT),
    Compatible(29, "Groq", "https://api.groq.com/openai",
               modes=frozenset({Mode.CHAT, Mode.TRANSCRIPTION, Mode.TRANSLATION, Mode.SPEECH})),
    Compatible(31, "LingYiWanWu", "https://api.lingyiwanwu.com", stream_usage=False, modes=CHAT),
    Compatible(38, "Jina", "https://api.jina.ai", stream_usage=False, modes=frozenset({Mode.EMBEDDINGS})),
    Compatible(40, "SiliconFlow", "https://api.siliconflow.cn", stream_usage=False, balance="siliconflow",
               modes=frozenset({Mode.CHAT, Mode.COMPLETIONS, Mode.EMBEDDINGS, Mode.IMAGES, Mode.SPEECH,
                                Mode.TRANSCRIPTION})),
    Compatible(42, "Mistral", "https://api.mistral.ai", stream_usage=False,
               modes=frozenset({Mode.CHAT, Mode.EMBEDDINGS, Mode.MODERATIONS})),
    Compatible(43, "DeepSeek", "https://api.deepseek.com", modes=TEXT, balance="deepseek"),
    Compatible(45, "VolcEngine", "https://ark.cn-beijing.volces.com", path_prefix="/api/v3",
               modes=frozenset({Mode.CHAT, Mode.EMBEDDINGS, Mode.IMAGES})),
    Compatible(46, "BaiduV2", "https://qianfan.baidubce.com", path_prefix="/v2",
               modes=frozenset({Mode.CHAT, Mode.EMBEDDINGS, Mode.IMAGES})),
    Compatible(47, "Xinference", "", stream_usage=False),
    Compatible(48, "xAI", "https://api.x.ai", modes=frozenset({Mode.CHAT, Mode.COMPLETIONS, Mode.IMAGES})),
)


class CompatibleAdaptor(OpenAIAdaptor):
    """OpenAIAdaptor configured from a `Compatible` row."""

    def __init__(self, row: Compatible) -> None:
        super().__init__(name=row.name.lower(), default_base_url=row.base_url, modes=row.modes,
                         supports_stream_usage=row.stream_usage, path_prefix=row.path_prefix)
        self.row = row

    def forced_usage(self, ctx: RelayContext) -> bool:
        settings = ctx.channel.settings if ctx.channel else None
        if settings and settings.get("stream_usage") is False:
            return False
        return super().forced_usage(ctx)

    def balance(self, base_url: str, key: str, fetch: Fetch) -> float | None:
        kind = self.row.balance
        base = (base_url or self.default_base_url).rstrip("/")
        headers = {"Authorization": "Bearer " + key}
        if kind == "openai":
            return super().balance(base_url, key, fetch)
        if kind == "deepseek":  # https://api-docs.deepseek.com/api/get-user-balance
            infos = fetch(base + "/user/balance", headers).get("balance_infos") or []
            return float(infos[0].get("total_balance") or 0) if infos else 0.0
        if kind == "openrouter":  # https://openrouter.ai/docs/api-reference/get-credits
            data = fetch(join_url(base, "/v1/credits"), headers).get("data") or {}
            return round(float(data.get("total_credits") or 0) - float(data.get("total_usage") or 0), 6)
        if kind == "siliconflow":  # https://docs.siliconflow.cn/api-reference/userinfo/get-user-info
            data: Any = fetch(join_url(base, "/v1/user/info"), headers).get("data") or {}
            return float(data.get("totalBalance") or 0)
        return None


def compatible_adaptors() -> dict[int, CompatibleAdaptor]:
    return {row.type: CompatibleAdaptor(row) for row in PROVIDERS}
