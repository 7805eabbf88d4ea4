"""The adaptor registry, Azure, and the other native surfaces: /v1/responses, /v1/rerank, the legacy
billing endpoints and /v1/models in Claude's and Gemini's shapes."""

from __future__ import annotations

import json

import pytest
import requests

from app.relay.adaptors.anthropic import AnthropicAdaptor
from app.relay.adaptors.azure import AzureAdaptor
from app.relay.adaptors.gemini import GeminiAdaptor
from app.relay.adaptors.registry import adaptor_for, get_adaptor
from app.relay.translate.bridge import SurfaceBridge
from app.relay.translate.openai_surfaces import RerankAdaptor, ResponsesAdaptor
from app.relay.types import ChannelInfo, Mode, RelayContext
from app.services.channels import CHANNEL_TYPES
from tests.mock_upstream import DEFAULT_CONTENT
from tests.relay.conftest import balances, consume_logs, set_options, wait_for_logs

MESSAGES = [{"role": "user", "content": "Say hello"}]
TASK_TYPES = {2: "midjourney-proxy", 5: "midjourney-proxy plus", 36: "suno"}  # served by task adaptors


@pytest.mark.parametrize("type_id", sorted(CHANNEL_TYPES))
def test_every_channel_type_the_ui_offers_resolves_to_an_adaptor(type_id):
    if type_id in TASK_TYPES and get_adaptor(type_id) is None:
        pytest.skip(f"the {TASK_TYPES[type_id]} task adaptor is not registered yet")
    assert get_adaptor(type_id) is not None, CHANNEL_TYPES[type_id]


def test_which_adaptor_serves_each_surface():
    assert isinstance(adaptor_for(14, Mode.MESSAGES), AnthropicAdaptor)
    assert isinstance(adaptor_for(24, Mode.GEMINI), GeminiAdaptor)
    for type_id in (1, 3, 24, 43):
        assert isinstance(adaptor_for(type_id, Mode.MESSAGES), SurfaceBridge)
    for type_id in (1, 3, 14, 43):
        assert isinstance(adaptor_for(type_id, Mode.GEMINI), SurfaceBridge)
    assert isinstance(adaptor_for(1, Mode.RESPONSES), ResponsesAdaptor)
    assert adaptor_for(3, Mode.RESPONSES) is None and adaptor_for(14, Mode.RESPONSES) is None
    assert isinstance(adaptor_for(38, Mode.RERANK), RerankAdaptor)
    assert adaptor_for(3, Mode.RERANK) is None and adaptor_for(24, Mode.RERANK) is None
    assert adaptor_for(14, Mode.EMBEDDINGS) is None and adaptor_for(14, Mode.CHAT) is get_adaptor(14)
    assert adaptor_for(999, Mode.CHAT) is None


def azure_ctx(settings: dict, model: str = "gpt-3.5-turbo", stream: bool = False) -> RelayContext:
    channel = ChannelInfo(id=1, type=3, name="az", base_url="https://res.openai.azure.com/", keys=("k",),
                          key_status={}, multi_key_mode="random", model_mapping={}, param_override={},
                          header_override={}, settings=settings, status_code_mapping={})
    body = {"model": model, "messages": MESSAGES}
    return RelayContext(mode=Mode.CHAT, origin_model=model, stream=stream, body=body,
                        raw_body=json.dumps(body).encode(), channel=channel, api_key="azure-key",
                        upstream_model=model)


def test_azure_deployment_url_version_and_key():
    req = AzureAdaptor().build_request(azure_ctx({}))
    assert req.url == ("https://res.openai.azure.com/openai/deployments/gpt-35-turbo/chat/completions"
                       "?api-version=2024-10-21")
    assert req.headers["api-key"] == "azure-key" and "Authorization" not in req.headers
    req = AzureAdaptor().build_request(azure_ctx({"api_version": "2024-12-01-preview"}, stream=True))
    assert req.url.endswith("?api-version=2024-12-01-preview")
    assert json.loads(req.data)["stream_options"] == {"include_usage": True}


def test_azure_channel_with_the_openai_sdk(make_channel, make_token, sdk, mock_upstream):
    make_channel(channel_type=3, models=("gpt-3.5-turbo",), other={"api_version": "2025-01-01"})
    set_options(ModelRatio={"gpt-3.5-turbo": 1}, CompletionRatio={"gpt-3.5-turbo": 1}, PreConsumedQuota=0)
    key = make_token()
    reply = sdk(key.key).chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES)
    assert reply.choices[0].message.content == DEFAULT_CONTENT
    sent = mock_upstream.last_request
    assert sent.path == "/openai/deployments/gpt-35-turbo/chat/completions"
    assert sent.query == {"api-version": "2025-01-01"} and sent.header("api-key") == "sk-upstream-good"
    assert sent.header("authorization") is None
    [log] = consume_logs(key.user_id)
    assert log["quota"] == 17


@pytest.fixture
def priced(make_channel, make_token):
    make_channel(models=("gpt-4o-mini", "mock-resp-cached-4", "mock-resp-cut-2", "jina-reranker-v2"))
    set_options(ModelRatio={"gpt-4o-mini": 1, "mock-resp-cached-4": 1, "mock-resp-cut-2": 1,
                            "jina-reranker-v2": 2},
                CompletionRatio={"gpt-4o-mini": 3, "mock-resp-cached-4": 3}, CacheRatio={"mock-resp-cached-4": 0.5},
                PreConsumedQuota=0)
    return make_token()


def test_responses_plain_and_stream_billed_from_usage(priced, sdk, mock_upstream):
    key = priced
    before = balances(key)
    client = sdk(key.key)
    response = client.responses.create(model="mock-resp-cached-4", input="Say hello")
    assert response.output_text == DEFAULT_CONTENT
    assert mock_upstream.last_request.path == "/v1/responses"
    assert "stream_options" not in mock_upstream.last_request.json
    [log] = consume_logs(key.user_id)
    assert log["quota"] == 6 + 2 + 21 and balances(key) == (before[0] - 29, before[1] - 29)  # 4 cached at 0.5

    events = list(client.responses.create(model="gpt-4o-mini", input="Say hello", stream=True))
    assert events[-1].type == "response.completed" and events[-1].response.usage.output_tokens == 7
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == DEFAULT_CONTENT
    assert "stream_options" not in mock_upstream.last_request.json
    logs = wait_for_logs(key.user_id, 2)
    assert logs[1]["quota"] == 10 + 21 and logs[1]["is_stream"]


def test_responses_stream_cut_is_billed_as_delivered(priced, relay_url, mock_upstream):
    key = priced
    r = requests.post(relay_url + "/responses", headers={"Authorization": f"Bearer {key.key}"}, timeout=10,
                      json={"model": "mock-resp-cut-2", "input": "Say hello", "stream": True})
    assert r.text.count("event: response.output_text.delta") == 2
    assert r.text.endswith("\n\n") and '\nevent: error\ndata: {"type":"error","code":"upstream_broken"' in r.text
    [log] = wait_for_logs(key.user_id, 1)
    assert log["prompt_tokens"] > 0 and log["completion_tokens"] > 0


def test_rerank(priced, relay_url, mock_upstream):
    key = priced
    before = balances(key)
    r = requests.post(relay_url + "/rerank", headers={"Authorization": f"Bearer {key.key}"}, timeout=10, json={
        "model": "jina-reranker-v2", "query": "red apple", "top_n": 2, "return_documents": True,
        "documents": ["a green pear", "a red apple", {"text": "an apple pie"}]})
    assert r.status_code == 200
    results = r.json()["results"]
    assert len(results) == 2 and results[0]["index"] == 1 and results[0]["document"] == {"text": "a red apple"}
    assert mock_upstream.last_request.path == "/v1/rerank"
    [log] = consume_logs(key.user_id)
    assert log["prompt_tokens"] == 10 and log["quota"] == 20 and balances(key)[1] == before[1] - 20
    for body in ({"model": "jina-reranker-v2", "query": "", "documents": ["a"]},
                 {"model": "jina-reranker-v2", "query": "q", "documents": []},
                 {"model": "jina-reranker-v2", "query": "q", "documents": [1]}):
        r = requests.post(relay_url + "/rerank", headers={"Authorization": f"Bearer {key.key}"}, json=body,
                          timeout=10)
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_legacy_billing_endpoints(make_token, relay_url, app):
    key = make_token(remain_quota=1_000_000)
    set_options(QuotaPerUnit=500000)
    origin = relay_url.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {key.key}"}
    for prefix in ("", "/v1"):
        sub = requests.get(f"{origin}{prefix}/dashboard/billing/subscription", headers=headers, timeout=10).json()
        assert sub["object"] == "billing_subscription" and sub["hard_limit_usd"] == 2.0
        assert sub["access_until"] == 0
        usage = requests.get(f"{origin}{prefix}/dashboard/billing/usage", headers=headers, timeout=10).json()
        assert usage == {"object": "list", "daily_costs": [], "total_usage": 0.0}
    unlimited = make_token(quota=250_000, unlimited=True)
    sub = requests.get(f"{origin}/dashboard/billing/subscription", timeout=10,
                       headers={"Authorization": f"Bearer {unlimited.key}"}).json()
    assert sub["hard_limit_usd"] == 0.5  # the user's balance
    r = requests.get(f"{origin}/dashboard/billing/usage", headers={"Authorization": "Bearer sk-nope"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_models_list_in_each_clients_shape(make_channel, make_token, relay_url, genai_sdk, claude_sdk):
    make_channel(models=("gpt-4o-mini", "gemini-2.5-flash"))
    key = make_token()
    claude = claude_sdk(key.key)
    assert [m.id for m in claude.models.list()] == ["gemini-2.5-flash", "gpt-4o-mini"]
    gemini = genai_sdk(key.key)
    assert sorted(m.name for m in gemini.models.list()) == ["models/gemini-2.5-flash", "models/gpt-4o-mini"]
    r = requests.get(relay_url + "/models", headers={"x-goog-api-key": key.key}, timeout=10)
    assert sorted(m["name"] for m in r.json()["models"]) == ["models/gemini-2.5-flash", "models/gpt-4o-mini"]
    r = requests.get(relay_url + "/models", headers={"Authorization": f"Bearer {key.key}"}, timeout=10)
    assert r.json()["object"] == "list"
    r = requests.get(relay_url + "/models", headers={"x-api-key": "sk-nope", "anthropic-version": "2023-06-01"},
                     timeout=10)
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
