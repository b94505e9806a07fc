"""The operator's endpoints file: the shipped example parses, and each kind of mistake is refused with a message
that names the endpoint and the field."""

from __future__ import annotations

import pytest

from modelmatch.chat.endpoints import EndpointsFileError, load_endpoints, parse_endpoints
from tests.conftest import REPO_ROOT

GOOD = {"name": "vLLM box", "kind": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "m"}


def test_the_shipped_example_parses():
    endpoints, origin = load_endpoints(REPO_ROOT / "endpoints.example.toml")
    assert origin.endswith("endpoints.example.toml") and len(endpoints) >= 3
    assert all(e.max_duration_s > 0 and e.stall_timeout_s > 0 for e in endpoints)


def test_limits_are_read_from_the_file():
    (endpoint,) = parse_endpoints({"endpoint": [{**GOOD, "max_duration_s": 120, "stall_timeout_s": 2.5,
                                                 "max_response_bytes": 1000}]}, "endpoints.toml")
    assert (endpoint.max_duration_s, endpoint.stall_timeout_s, endpoint.max_response_bytes) == (120, 2.5, 1000)


@pytest.mark.parametrize(("change", "named"), [
    ({"max_duration_s": 0}, "max_duration_s"),
    ({"max_duration_s": 86401}, "max_duration_s"),
    ({"max_duration_s": True}, "max_duration_s"),
    ({"max_duration_s": "10"}, "max_duration_s"),
    ({"stall_timeout_s": -1}, "stall_timeout_s"),
    ({"max_response_bytes": 0}, "max_response_bytes"),
    ({"thinking": "sometimes"}, "thinking"),
    ({"kind": "grpc"}, "kind"),
    ({"api_key": "literal"}, "api_key_env"),
    ({"base_url": "file:///etc/passwd"}, "base_url"),
    ({"colour": "red"}, "colour"),
])
def test_each_mistake_names_the_endpoint_and_the_field(change, named):
    with pytest.raises(EndpointsFileError) as caught:
        parse_endpoints({"endpoint": [{**GOOD, **change}]}, "endpoints.toml")
    message = str(caught.value)
    assert "endpoints.toml" in message and "'vLLM box'" in message and named in message


def test_a_broken_toml_file_is_explained(tmp_path):
    path = tmp_path / "endpoints.toml"
    path.write_text('[[endpoint]]\nname = "x\n', encoding="utf-8")
    with pytest.raises(EndpointsFileError, match="not valid TOML"):
        load_endpoints(path)
