"""api = "azure" in the endpoints file: Azure OpenAI's deployment URL and api-key header (the Azure OpenAI REST
reference, https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference, and its specification
Azure/azure-rest-api-specs .../AzureOpenAI/inference/stable/2024-10-21/inference.json: server
https://{endpoint}/openai, path /deployments/{deployment-id}/chat/completions, query api-version required,
security scheme apiKey = header "api-key"). Validated with messages naming the file, the endpoint and the field;
the key comes from the environment only and is redacted like any other."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from modelmatch.chat.endpoints import (Endpoint, EndpointsFileError, chat_request_target, load_endpoints,
                                       parse_endpoints, resolve_api_key)
from modelmatch.chat.openai_client import astream_chat
from modelmatch.chat.types import ChatMessage, ChatRequest
from tests.conftest import REPO_ROOT
from tests.openai_server import Script, ScriptedServer, answer_script

KEY = "azure-secret-key-5f4e3d2c1b0a99887766"
REQUEST = ChatRequest(messages=(ChatMessage("user", "hi"),), max_tokens=16)


def entry(**changes) -> dict:
    base = {"name": "Azure mini", "kind": "openai", "api": "azure", "base_url": "https://res.openai.azure.com",
            "deployment": "gpt-4o-mini", "api_version": "2024-10-21", "model": "gpt-4o-mini",
            "api_key_env": "AZURE_OPENAI_API_KEY"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def parse(**changes) -> Endpoint:
    (endpoint,) = parse_endpoints({"endpoint": [entry(**changes)]}, "ops/endpoints.toml")
    return endpoint


def test_the_azure_url_and_key_header():
    endpoint = parse(query={"x-trace": "on"}, headers={"X-Team": "search"})
    url, headers = chat_request_target(endpoint, KEY, dict(endpoint.headers))
    assert url == ("https://res.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions"
                   "?api-version=2024-10-21&x-trace=on")
    assert headers == {"X-Team": "search", "api-key": KEY}


def test_the_openai_dialect_is_unchanged():
    endpoint = Endpoint(name="o", kind="openai", model="m", base_url="https://api.example.com/v1",
                        query=(("a", "1"),))
    assert chat_request_target(endpoint, KEY) == ("https://api.example.com/v1/chat/completions?a=1",
                                                  {"Authorization": f"Bearer {KEY}"})
    assert chat_request_target(endpoint, None) == ("https://api.example.com/v1/chat/completions?a=1", {})


@pytest.mark.parametrize("changes, field, says", [
    ({"deployment": None}, "deployment", "needs the deployment name"),
    ({"deployment": "my deployment"}, "deployment", "needs the deployment name"),
    ({"api_version": None}, "api_version", "needs the API version"),
    ({"api_version": "latest"}, "api_version", "needs the API version"),
    ({"api_version": 20241021}, "api_version", "quoted date"),
    ({"base_url": "https://res.openai.azure.com/openai"}, "base_url", "resource endpoint only"),
    ({"base_url": "https://res.openai.azure.com/openai/deployments/x"}, "base_url", "resource endpoint only"),
    ({"query": {"api-version": "2024-10-21"}}, "query.api-version", "write api_version instead"),
    ({"headers": {"api-key": {"env": "AZURE_OPENAI_API_KEY"}}}, "headers.api-key", "read from api_key_env"),
    ({"api_key_env": None}, "api_key_env", "needs the key's environment variable"),
    ({"api": "bedrock"}, "api", "must be one of openai, azure"),
    ({"api": "openai"}, "deployment", 'only applies with api = "azure"'),
])
def test_a_wrong_azure_entry_names_the_file_the_endpoint_and_the_field(changes, field, says):
    with pytest.raises(EndpointsFileError) as raised:
        parse(**changes)
    message = str(raised.value)
    assert message.startswith("ops/endpoints.toml, endpoint 'Azure mini', " + field), message
    assert says in message


def test_azure_fields_belong_to_the_openai_kind():
    with pytest.raises(EndpointsFileError) as raised:
        parse_endpoints({"endpoint": [{"name": "local", "kind": "transformers", "model": "x/y", "api": "azure"}]},
                        "e.toml")
    assert "only apply to kind 'openai'" in str(raised.value)


@pytest.mark.parametrize("transport", ["sdk", "timing"])
def test_the_example_file_has_an_azure_entry_and_it_sends_azures_request(monkeypatch, transport):
    endpoints, _ = load_endpoints(REPO_ROOT / "endpoints.example.toml")
    (azure,) = [e for e in endpoints if e.api == "azure"]
    assert (azure.deployment, azure.api_version, azure.api_key_env) == ("gpt-4o-mini", "2024-10-21",
                                                                      "AZURE_OPENAI_API_KEY")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    with ScriptedServer(answer_script(["Hi"])) as server:
        endpoint = dataclasses.replace(azure, base_url=server.origin)
        events = asyncio.run(_collect(endpoint, resolve_api_key(endpoint), transport))
        (got,) = server.received
    assert events[-1].kind == "done"
    assert got.path == "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
    assert got.headers["api-key"] == KEY and "Authorization" not in got.headers


@pytest.mark.parametrize("transport", ["sdk", "timing"])
def test_the_azure_key_is_redacted_from_an_echoed_error(transport):
    body = ('{"error": {"code": "401", "message": "Access denied due to invalid subscription key ' + KEY
            + ' or wrong API endpoint."}}').encode()
    with ScriptedServer(Script(status=401, headers={"Content-Type": "application/json"},
                               steps=[(0, body)])) as server:
        endpoint = dataclasses.replace(parse(), base_url=server.origin)
        events = asyncio.run(_collect(endpoint, KEY, transport))
    assert events[-1].kind == "error" and "HTTP 401" in events[-1].text
    assert KEY not in events[-1].text and "[redacted]" in events[-1].text


async def _collect(endpoint: Endpoint, key: str | None, transport: str) -> list:
    # Both clients send Azure's request: the SDK (playground, evals) and the timing client (measurements).
    return [event async for event in astream_chat(endpoint, key, REQUEST, transport=transport)]
