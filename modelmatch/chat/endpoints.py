"""Chat endpoints, owned by the operator: an endpoints file names each one; visitors only ever pick a name.

URLs and key locations come from the operator's file (default `endpoints.toml`, see `endpoints.example.toml`);
keys themselves come from environment variables or Streamlit secrets, never from the file, the UI or a URL.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping, get_args
from urllib.parse import quote, urlencode, urlparse

EndpointKind = Literal["openai", "transformers"]
# How an "openai"-kind endpoint is addressed: "openai" = {base_url}/chat/completions with `Authorization: Bearer`;
# "azure" = Azure OpenAI's deployment URL with the key in the `api-key` header (see chat_request_target).
ApiDialect = Literal["openai", "azure"]
API_DIALECTS: tuple[str, ...] = get_args(ApiDialect)
# Azure OpenAI's dated data-plane versions, e.g. 2024-10-21 (GA) or 2025-04-01-preview.
AZURE_API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
# A deployment name as the Azure portal allows it: letters, digits, '-', '_' and '.', at most 64 characters.
AZURE_DEPLOYMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# qwen3-enable-thinking: chat_template_kwargs {"enable_thinking": ...} (Qwen3 on vLLM/SGLang, and locally);
# deepseek-v31-template: chat_template_kwargs {"thinking": ...} (DeepSeek-V3.1's template on vLLM/SGLang, and locally);
# deepseek-thinking: DeepSeek's own API, top-level "thinking": {"type": "enabled"|"disabled"}.
ThinkingControl = Literal["none", "qwen3-enable-thinking", "deepseek-v31-template", "deepseek-thinking", "always"]
THINKING_CONTROLS: tuple[str, ...] = get_args(ThinkingControl)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,63}$")
ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
# The time limits an endpoint may set, each with the most seconds it accepts.
SECONDS_FIELDS = {"connect_timeout_s": 3600, "first_byte_timeout_s": 3600, "stall_timeout_s": 3600,
                  "max_duration_s": 86400}


class EndpointsFileError(Exception):
    """The endpoints file is wrong; the message names the file, the endpoint and the field."""


@dataclass(frozen=True)
class Endpoint:
    name: str
    kind: EndpointKind
    model: str  # the server's model name (openai) or the Hugging Face repo id / local folder (transformers)
    model_id: str | None = None  # catalog model it serves, for prices and cards
    base_url: str | None = None  # openai kind only, e.g. http://127.0.0.1:8000/v1
    api_key_env: str | None = None  # environment variable holding the key
    api_key_secret: str | None = None  # st.secrets key holding the key (checked after the environment)
    max_tokens_cap: int = 2048
    requests_per_minute: int = 30
    thinking: ThinkingControl = "none"
    think_tags: bool = True  # parse <think>...</think> in the text when the server has no reasoning parser
    starts_in_thinking: bool = False  # chat template opens <think> itself (DeepSeek-R1 distills)
    provider: str | None = None  # price row to use: catalog prices.provider
    provider_model: str | None = None  # price row to use: catalog prices.provider_model
    connect_timeout_s: float = 10.0
    first_byte_timeout_s: float = 120.0
    stall_timeout_s: float = 60.0
    max_response_bytes: int = 20_000_000
    max_duration_s: float = 900.0  # a reply may take at most this long in all, however steadily it streams
    max_usd_per_day: float | None = None  # the operator's spend cap for this endpoint per UTC day, all visitors
    embedded_default: bool = False
    # Sent on every request (see endpoints.example.toml). Kept as tuples and JSON text so an Endpoint stays hashable.
    headers: tuple[tuple[str, str], ...] = ()  # literal values, never a secret
    header_envs: tuple[tuple[str, str], ...] = ()  # header name -> environment variable holding its (secret) value
    header_secret_names: tuple[tuple[str, str], ...] = ()  # header name -> Streamlit secret (after the environment)
    query: tuple[tuple[str, str], ...] = ()  # added to the chat completions URL
    extra_body_json: str = ""  # a JSON object merged into every request body under the request's own fields
    api: ApiDialect = "openai"  # "azure": Azure OpenAI (deployment URL, api-version, api-key header)
    deployment: str | None = None  # api "azure": the deployment name in the URL
    api_version: str | None = None  # api "azure": the api-version query parameter

    @property
    def has_key(self) -> bool:
        return bool(self.api_key_env or self.api_key_secret)

    @property
    def extra_body(self) -> dict:
        return json.loads(self.extra_body_json) if self.extra_body_json else {}


DEFAULT_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(name="Qwen2.5-0.5B-Instruct (local)", kind="transformers", model="Qwen/Qwen2.5-0.5B-Instruct",
             model_id="Qwen/Qwen2.5-0.5B-Instruct", max_tokens_cap=1024, requests_per_minute=20,
             embedded_default=True),
    Endpoint(name="DeepSeek-R1-Distill-Qwen-1.5B (local)", kind="transformers",
             model="deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", model_id="deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
             max_tokens_cap=2048, requests_per_minute=20, thinking="always", starts_in_thinking=True,
             embedded_default=True),
)

_FIELDS = ({f for f in Endpoint.__dataclass_fields__
            if f not in ("name", "embedded_default", "header_envs", "header_secret_names", "extra_body_json")} | {"extra_body"})
# Headers the client sets itself (framing, the body's type, the key's own header): an endpoint may not override them.
RESERVED_HEADERS = frozenset({"authorization", "proxy-authorization", "host", "content-length", "transfer-encoding",
                              "connection", "content-type", "accept", "te", "upgrade", "expect"})
# Body fields the request itself owns: the model served, the conversation, streaming (the client reads only a
# stream, with usage), and the length cap the spending limits are computed from.
RESERVED_BODY_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "max_tokens",
                                  "max_completion_tokens"})
SECRET_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")  # a Streamlit secret's name
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")  # an HTTP token
# A header or query parameter whose name says it carries a credential: its value must come from the environment.
SECRET_NAME_RE = re.compile(r"(?i)(auth|key|token|secret|passw|cookie|session|signature|credential|\bsig\b)")
# Values that look like a credential pasted inline, whatever the header is called.
SECRET_VALUE_RE = re.compile(r"(?i)^(bearer|basic|token)\s|^(sk|rk|pk)[-_][A-Za-z0-9]|^ey[A-Za-z0-9_-]{10,}\.")


def _check_url(url: str, where: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise EndpointsFileError(f"{where}: base_url must be an http(s) URL with a host, got {url!r}")
    if parsed.username or parsed.password:
        raise EndpointsFileError(f"{where}: base_url must not contain credentials; put the key in an environment "
                                 "variable named by api_key_env")
    if parsed.query or parsed.fragment:
        raise EndpointsFileError(f"{where}: base_url must not have a query or fragment")
    return url.rstrip("/")


def parse_endpoints(data: Mapping, source: str) -> tuple[Endpoint, ...]:
    table = data.get("endpoint")
    if not isinstance(table, list) or not table:
        raise EndpointsFileError(f"{source}: expected one or more [[endpoint]] tables")
    endpoints: list[Endpoint] = []
    seen: set[str] = set()
    for index, entry in enumerate(table, start=1):
        where = f"{source}, endpoint #{index}"
        if not isinstance(entry, dict):
            raise EndpointsFileError(f"{where}: expected a table")
        name = entry.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise EndpointsFileError(f"{where}: 'name' must be 1-64 letters, digits, spaces or ._()+- characters")
        where = f"{source}, endpoint {name!r}"
        if name in seen:
            raise EndpointsFileError(f"{where}: the name is used twice")
        seen.add(name)
        if "api_key" in entry or "key" in entry:
            raise EndpointsFileError(f"{where}: keys never go in this file; name an environment variable with "
                                     "api_key_env")
        unknown = set(entry) - _FIELDS - {"name"}
        if unknown:
            raise EndpointsFileError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; allowed: "
                                     f"{', '.join(sorted(_FIELDS))}")
        kind = entry.get("kind")
        if kind not in ("openai", "transformers"):
            raise EndpointsFileError(f"{where}: 'kind' must be 'openai' or 'transformers'")
        if not isinstance(entry.get("model"), str) or not entry["model"].strip():
            raise EndpointsFileError(f"{where}: 'model' is required")
        values = dict(entry)
        if kind == "openai":
            if not isinstance(entry.get("base_url"), str):
                raise EndpointsFileError(f"{where}: 'base_url' is required for kind 'openai'")
            values["base_url"] = _check_url(entry["base_url"], where)
        elif "base_url" in entry:
            raise EndpointsFileError(f"{where}: 'base_url' only applies to kind 'openai'")
        env = entry.get("api_key_env")
        if env is not None and (not isinstance(env, str) or not ENV_NAME_RE.match(env)):
            raise EndpointsFileError(f"{where}: 'api_key_env' must be an environment variable name like "
                                     "DEEPSEEK_API_KEY")
        if entry.get("thinking", "none") not in THINKING_CONTROLS:
            raise EndpointsFileError(f"{where}: 'thinking' must be one of {', '.join(THINKING_CONTROLS)}")
        for key in ("max_tokens_cap", "requests_per_minute", "max_response_bytes"):
            if key in entry and (not isinstance(entry[key], int) or isinstance(entry[key], bool) or entry[key] < 1):
                raise EndpointsFileError(f"{where}: '{key}' must be a whole number of at least 1")
        for key, most_s in SECONDS_FIELDS.items():
            if key in entry and (not isinstance(entry[key], (int, float)) or isinstance(entry[key], bool)
                                 or not 0 < entry[key] <= most_s):
                raise EndpointsFileError(f"{where}: '{key}' must be a number of seconds between 0 and {most_s}")
        if "max_usd_per_day" in entry and (not isinstance(entry["max_usd_per_day"], (int, float))
                                           or isinstance(entry["max_usd_per_day"], bool)
                                           or not 0 < entry["max_usd_per_day"] < 1e9):
            raise EndpointsFileError(f"{where}: 'max_usd_per_day' must be a positive number of US dollars")
        for key in ("think_tags", "starts_in_thinking"):
            if key in entry and not isinstance(entry[key], bool):
                raise EndpointsFileError(f"{where}: '{key}' must be true or false")
        if kind != "openai" and any(k in entry for k in ("headers", "query", "extra_body", "api", "deployment",
                                                        "api_version")):
            raise EndpointsFileError(f"{where}: 'headers', 'query', 'extra_body', 'api', 'deployment' and "
                                     "'api_version' only apply to kind 'openai'")
        _check_api_dialect(entry, where)
        if "headers" in entry:
            values["headers"], values["header_envs"], values["header_secret_names"] = _parse_headers(entry["headers"],
                                                                                                    where)
        if "query" in entry:
            values["query"] = _parse_query(entry["query"], where)
        if "extra_body" in entry:
            values["extra_body_json"] = _parse_extra_body(values.pop("extra_body"), where)
        endpoints.append(Endpoint(**values))
    return tuple(endpoints)


def _check_api_dialect(entry: Mapping, where: str) -> None:
    """api = "azure" needs a deployment and a dated api_version; the key comes from api_key_env / api_key_secret
    and is sent as the api-key header, so neither headers nor query may set those themselves."""
    api = entry.get("api", "openai")
    if api not in API_DIALECTS:
        raise EndpointsFileError(f"{where}, api: must be one of {', '.join(API_DIALECTS)}, got {api!r}")
    if api != "azure":
        for key in ("deployment", "api_version"):
            if key in entry:
                raise EndpointsFileError(f"{where}, {key}: only applies with api = \"azure\"")
        return
    deployment = entry.get("deployment")
    if not isinstance(deployment, str) or not AZURE_DEPLOYMENT_RE.match(deployment):
        raise EndpointsFileError(f"{where}, deployment: api \"azure\" needs the deployment name (1-64 letters, "
                                 "digits, '-', '_' or '.', as the Azure portal shows it)")
    version = entry.get("api_version")
    if not isinstance(version, str) or not AZURE_API_VERSION_RE.match(version):
        raise EndpointsFileError(f"{where}, api_version: api \"azure\" needs the API version as a quoted date, "
                                 'e.g. api_version = "2024-10-21" (or a preview, "2025-04-01-preview")')
    path = urlparse(str(entry.get("base_url", ""))).path.rstrip("/")
    if path.endswith("/openai") or "/deployments" in path or path.endswith("/chat/completions"):
        raise EndpointsFileError(f"{where}, base_url: with api \"azure\" give the resource endpoint only (e.g. "
                                 "https://my-resource.openai.azure.com); /openai/deployments/... is added")
    if not entry.get("api_key_env") and not entry.get("api_key_secret"):
        raise EndpointsFileError(f"{where}, api_key_env: api \"azure\" needs the key's environment variable "
                                 "(or api_key_secret); it is sent as the api-key header")
    query = entry.get("query")
    if isinstance(query, dict) and any(name.lower() == "api-version" for name in query):
        raise EndpointsFileError(f"{where}, query.api-version: with api \"azure\" write api_version instead")
    headers = entry.get("headers")
    if isinstance(headers, dict) and any(name.lower() == "api-key" for name in headers):
        raise EndpointsFileError(f"{where}, headers.api-key: with api \"azure\" the key is read from api_key_env "
                                 "(or api_key_secret) and sent as the api-key header")


def chat_request_target(endpoint: Endpoint, api_key: str | None,
                        extra_headers: Mapping[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """Where an openai-kind endpoint's chat completions go and the headers that address it: (URL with its query,
    headers). The headers are the endpoint's own (`extra_headers`, as resolve_headers returns them) and the key's;
    each client adds its framing (Content-Type, Accept) itself. Pure: the measurement client and the SDK adapter
    both call it, so both send the same request.

    api "openai": {base_url}/chat/completions, `Authorization: Bearer <key>`.
    api "azure" (Azure OpenAI REST reference, data plane inference, "Chat completions - Create":
    https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference#chat-completions):
    POST {endpoint}/openai/deployments/{deployment-id}/chat/completions?api-version={version}, the key in the
    `api-key` header ("Authentication ... API key: api-key header"), not Authorization."""
    headers = dict(extra_headers or {})
    query = list(endpoint.query)
    if endpoint.api == "azure":
        url = (f"{endpoint.base_url}/openai/deployments/{quote(endpoint.deployment or '', safe='')}"
               "/chat/completions")
        query.insert(0, ("api-version", endpoint.api_version or ""))
        if api_key:
            headers["api-key"] = api_key
    else:
        url = f"{endpoint.base_url}/chat/completions"
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
    if query:
        url += "?" + urlencode(query)
    return url, headers


def _parse_headers(table: object, where: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    """[endpoint.headers]: name = "literal value", or for a value that is a secret name = { env = "VARIABLE" },
    { secret = "streamlit_secret" } or both (the environment is read first, as for api_key_env/api_key_secret)."""
    if not isinstance(table, dict):
        raise EndpointsFileError(f"{where}: 'headers' must be a table of header name = value")
    literal: list[tuple[str, str]] = []
    from_env: list[tuple[str, str]] = []
    from_secrets: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in table.items():
        field = f"{where}, headers.{name}"
        if not HEADER_NAME_RE.match(name):
            raise EndpointsFileError(f"{field}: not a valid HTTP header name (letters, digits and !#$%&'*+.^_`|~-)")
        if name.lower() in RESERVED_HEADERS:
            raise EndpointsFileError(f"{field}: the client sets {name} itself and it cannot be overridden"
                                     + ("; the key goes in an environment variable named by api_key_env"
                                        if name.lower() in ("authorization", "proxy-authorization") else ""))
        if name.lower() in seen:
            raise EndpointsFileError(f"{field}: the header is named twice (header names ignore case)")
        seen.add(name.lower())
        if isinstance(value, dict):
            env, secret = value.get("env"), value.get("secret")
            if (not value or set(value) - {"env", "secret"}
                    or (env is not None and (not isinstance(env, str) or not ENV_NAME_RE.match(env)))
                    or (secret is not None and (not isinstance(secret, str) or not SECRET_KEY_RE.match(secret)))):
                raise EndpointsFileError(f"{field}: a header holding a secret is written "
                                         '{ env = "VARIABLE_NAME" } (upper-case letters, digits and _), '
                                         '{ secret = "name" } (a Streamlit secret) or both')
            if env is not None:
                from_env.append((name, env))
            if secret is not None:
                from_secrets.append((name, secret))
            continue
        if not isinstance(value, str):
            raise EndpointsFileError(f"{field}: the value must be a string, or {{ env = \"VARIABLE\" }} for a secret")
        if SECRET_NAME_RE.search(name) or SECRET_VALUE_RE.search(value):
            raise EndpointsFileError(f"{field}: keys never go in this file; write {name} = "
                                     '{ env = "VARIABLE_NAME" } and put the value in that environment variable '
                                     "(the value is not shown)")
        if len(value) > 1024 or any(not (0x20 <= ord(ch) <= 0x7E) for ch in value) or value != value.strip():
            raise EndpointsFileError(f"{field}: the value must be at most 1024 printable ASCII characters without "
                                     "leading or trailing spaces (an HTTP header cannot carry others)")
        literal.append((name, value))
    return tuple(literal), tuple(from_env), tuple(from_secrets)


def _parse_query(table: object, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(table, dict):
        raise EndpointsFileError(f"{where}: 'query' must be a table of parameter = \"value\"")
    pairs: list[tuple[str, str]] = []
    for name, value in table.items():
        field = f"{where}, query.{name}"
        if not name or len(name) > 64 or any(not (0x21 <= ord(ch) <= 0x7E) for ch in name):
            raise EndpointsFileError(f"{field}: a parameter name is 1-64 printable ASCII characters")
        if SECRET_NAME_RE.search(name):
            raise EndpointsFileError(f"{field}: keys never go in a URL (servers and proxies log URLs); send it in a "
                                     "header with { env = \"VARIABLE_NAME\" } or use api_key_env")
        if not isinstance(value, str):
            raise EndpointsFileError(f"{field}: the value must be a string (write {name} = "
                                     f"\"{value}\" in quotes), got {type(value).__name__}")
        if len(value) > 256:
            raise EndpointsFileError(f"{field}: the value is longer than 256 characters")
        pairs.append((name, value))
    return tuple(pairs)


def _parse_extra_body(table: object, where: str) -> str:
    if not isinstance(table, dict):
        raise EndpointsFileError(f"{where}: 'extra_body' must be a table of fields added to every request body")
    clash = sorted(RESERVED_BODY_FIELDS & set(table))
    if clash:
        raise EndpointsFileError(f"{where}, extra_body.{clash[0]}: the request sets {', '.join(clash)} itself; "
                                 "extra_body cannot override it")
    try:
        text = json.dumps(table, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise EndpointsFileError(f"{where}, extra_body: only strings, numbers, booleans, arrays and tables can be "
                                 f"sent as JSON ({exc})") from None
    if len(text) > 16_384:
        raise EndpointsFileError(f"{where}, extra_body: more than 16 KB of JSON")
    return text


def _secret_value(secrets: Mapping[str, object] | None, name: str) -> str | None:
    if secrets is None:
        return None
    try:
        value = secrets.get(name)
    except Exception:  # st.secrets raises when there is no secrets file at all
        return None
    return value if isinstance(value, str) and value else None


def _header_sources(endpoint: Endpoint) -> dict[str, tuple[str | None, str | None]]:
    sources: dict[str, tuple[str | None, str | None]] = {}
    for name, env in endpoint.header_envs:
        sources[name] = (env, None)
    for name, secret in endpoint.header_secret_names:
        sources[name] = (sources.get(name, (None, None))[0], secret)
    return sources


def resolve_headers(endpoint: Endpoint, secrets: Mapping[str, object] | None = None,
                    environ: Mapping[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """The endpoint's extra headers with secret values read from the environment, then from `secrets` (Streamlit
    secrets): (headers, secret values to redact). Raises ApiKeyError naming the header and where it is read from
    (never the value) when one is missing or cannot be sent."""
    environ = os.environ if environ is None else environ
    headers = dict(endpoint.headers)
    found: list[str] = []
    for name, (env, secret) in _header_sources(endpoint).items():
        if env and environ.get(env):
            value, where = environ[env], f"environment variable {env} (header {name})"
        elif secret and _secret_value(secrets, secret):
            value, where = _secret_value(secrets, secret), f"secret {secret} (header {name})"
        else:
            places = " or ".join(p for p in (env and f"the environment variable {env}",
                                             secret and f"the secret {secret}") if p)
            raise ApiKeyError(f"the {name} header of endpoint {endpoint.name!r} is read from {places}, which is "
                              "not set")
        headers[name] = check_api_key(value, where)
        found.append(value)
    return headers, found


def header_secrets(endpoint: Endpoint, secrets: Mapping[str, object] | None = None,
                   environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the endpoint's secret headers that are set, for redaction (never raises)."""
    environ = os.environ if environ is None else environ
    values = []
    for env, secret in _header_sources(endpoint).values():
        value = (environ.get(env) if env else None) or (_secret_value(secrets, secret) if secret else None)
        if value:
            values.append(value)
    return values


def header_secret_snapshot(endpoints: list[Endpoint] | tuple[Endpoint, ...],
                           secrets: Mapping[str, object] | None) -> dict[str, str]:
    """Just the Streamlit secrets these endpoints' headers name, read now (on the page's thread) into a plain dict
    that worker threads may read."""
    picked = {}
    for endpoint in endpoints:
        for _, secret in endpoint.header_secret_names:
            value = _secret_value(secrets, secret)
            if value:
                picked[secret] = value
    return picked


def load_endpoints(path: Path | None) -> tuple[tuple[Endpoint, ...], str]:
    """The operator's endpoints, or the embedded local defaults when there is no file. Returns (endpoints, origin)."""
    if path is None or not Path(path).exists():
        return DEFAULT_ENDPOINTS, "embedded defaults (no endpoints file)"
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EndpointsFileError(f"{path}: not valid TOML: {exc}") from exc
    endpoints = parse_endpoints(data, str(path))
    check_environment_keys(endpoints, str(path))
    return endpoints, str(path)


class ApiKeyError(ValueError):
    """A key that cannot be sent as it is; the message names where it comes from, never the key."""


def key_problem(value: str) -> str | None:
    """What is wrong with a key's characters, in words that never quote it; None when it can be sent.

    A key read from a Kubernetes secret or a Windows .env file often ends in a line break or a space. Sent as it is,
    the HTTP library refuses the header and puts the whole header, key included, into its error message."""
    if value != value.strip():
        where = "ends" if value[-1:].isspace() else "starts"
        kind = {"\n": "a line break (\\n)", "\r": "a carriage return (\\r)", " ": "a space",
                "\t": "a tab"}.get(value[-1:] if where == "ends" else value[:1], "white space")
        return f"{where} with {kind}; remove it (e.g. printf instead of echo, or strip the secret's file)"
    if any(not (0x21 <= ord(ch) <= 0x7E) for ch in value):
        return "contains a space, a line break or a non-ASCII character, which an HTTP header cannot carry"
    return None


def check_api_key(value: str, where: str) -> str:
    problem = key_problem(value)
    if problem:
        raise ApiKeyError(f"the API key in {where} {problem}; the key itself is not shown")
    return value


def resolve_api_key(endpoint: Endpoint, secrets: Mapping[str, object] | None = None) -> str | None:
    """The endpoint's key from the environment, then from Streamlit secrets. Never logged, never stored. Raises
    ApiKeyError (naming the variable, never the value) for a key an HTTP header cannot carry."""
    if endpoint.api_key_env and os.environ.get(endpoint.api_key_env):
        return check_api_key(os.environ[endpoint.api_key_env], f"environment variable {endpoint.api_key_env}")
    if endpoint.api_key_secret and secrets is not None:
        try:
            value = secrets.get(endpoint.api_key_secret)
        except Exception:  # st.secrets raises when there is no secrets file at all
            value = None
        if isinstance(value, str) and value:
            return check_api_key(value, f"secret {endpoint.api_key_secret}")
    return None


def check_environment_keys(endpoints: tuple[Endpoint, ...], source: str) -> None:
    """When the endpoints are loaded: every key already in the environment must be sendable (EndpointsFileError
    naming the endpoint and the variable, never the value)."""
    for endpoint in endpoints:
        variables = [endpoint.api_key_env] if endpoint.api_key_env else []
        variables += [env for _, env in endpoint.header_envs]
        for variable in variables:
            value = os.environ.get(variable)
            if value:
                try:
                    check_api_key(value, f"environment variable {variable}")
                except ApiKeyError as exc:
                    raise EndpointsFileError(f"{source}, endpoint {endpoint.name!r}: {exc}") from None


REDACTED = "[redacted]"
_MIN_FORM_CHARS = 12  # shorter derived forms (base64 cores of a tiny key) would redact ordinary text


def secret_forms(secret: str) -> list[str]:
    """The key as a server or a library might echo it: as is, without surrounding white space, as Python's repr
    writes it, URL-encoded, and base64-encoded (alone, after "Bearer ", or inside a longer encoded text: the run
    of characters that only the key's bytes decide, for each of the three alignments). Longest first."""
    import base64
    from urllib.parse import quote, quote_plus

    forms = {secret, secret.strip(), repr(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}
    raw = secret.strip().encode()
    for text in (raw, b"Bearer " + raw):
        forms.add(base64.b64encode(text).decode().rstrip("="))
        forms.add(base64.urlsafe_b64encode(text).decode().rstrip("="))
    for skew in range(3):
        encoded = base64.b64encode(b"\0" * skew + raw).decode()
        first_group = (skew + 2) // 3  # the first 3-byte group made of the key's bytes only
        last_group = (skew + len(raw)) // 3  # one past the last such group
        core = encoded[4 * first_group:4 * last_group]
        forms |= {core, core.replace("+", "-").replace("/", "_")}
    return sorted((f for f in forms if len(f) >= _MIN_FORM_CHARS or f == secret), key=len, reverse=True)


def redact(text: str, secrets: list[str | None]) -> str:
    """Remove every secret, in every form secret_forms knows, from text meant for users, logs or storage. Redact
    first and cut after: a cut through the key would leave all but its last characters for the replace to miss."""
    for secret in secrets:
        if secret:
            for form in secret_forms(secret):
                text = text.replace(form, REDACTED)
    return text
