"""sdk_stream.start_warm_up: one background import per process, only for openai-kind endpoints, and a client built
while it runs waits for it instead of importing beside it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from modelmatch.chat import sdk_stream
from modelmatch.chat.endpoints import DEFAULT_ENDPOINTS, Endpoint
from tests.conftest import REPO_ROOT

REMOTE = Endpoint(name="r", kind="openai", model="m", base_url="http://127.0.0.1:9/v1")

ONCE = """
import sys, threading
from modelmatch.chat import sdk_stream
from modelmatch.chat.endpoints import DEFAULT_ENDPOINTS, Endpoint
remote = Endpoint(name="r", kind="openai", model="m", base_url="http://127.0.0.1:9/v1")
assert sdk_stream.start_warm_up(DEFAULT_ENDPOINTS) is False and sdk_stream._warm_thread is None
assert "openai" not in sys.modules
assert sdk_stream.start_warm_up([remote]) is True
first = sdk_stream._warm_thread
assert first.daemon and first.name == "openai-sdk-import"
assert sdk_stream.start_warm_up([remote]) is True and sdk_stream._warm_thread is first
sdk_stream.wait_for_warm_up()
assert "openai" in sys.modules and not first.is_alive()
assert "openai.resources.chat.completions" in sys.modules and sdk_stream._SPARE_TRUST  # nothing left to load
assert sdk_stream.start_warm_up([remote]) is True and sdk_stream._warm_thread is first
print("ok", sum(t.name == "openai-sdk-import" for t in threading.enumerate()))
"""


def test_one_warm_up_per_process_and_only_for_openai_endpoints():
    out = subprocess.run([sys.executable, "-c", ONCE], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["ok", "0"]


def test_a_client_built_during_the_warm_up_waits_for_it(monkeypatch):
    release = threading.Event()
    blocker = threading.Thread(target=release.wait, daemon=True)  # stands for an import still running
    blocker.start()
    monkeypatch.setattr(sdk_stream, "_warm_thread", blocker)
    built = []
    builder = threading.Thread(target=lambda: built.append(sdk_stream.make_client(REMOTE, None, {})), daemon=True)
    builder.start()
    builder.join(0.5)
    assert builder.is_alive() and built == []  # still waiting on the warm-up
    release.set()
    builder.join(30)
    assert len(built) == 1
    import asyncio
    asyncio.run(built[0].close())


def test_the_trust_store_is_loaded_once_per_pool_and_certificate_setting(monkeypatch, tmp_path):
    """A pool's clients share one TLS context per SSL_CERT_FILE / SSL_CERT_DIR value (loading it cost 20-80 ms per
    client); a different setting gets its own, so a changed SSL_CERT_FILE is still obeyed; another pool (another
    event loop, another thread) never shares it; the warm-up's context goes to one pool only."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setattr(sdk_stream, "_SPARE_TRUST", {})
    pool_cache: dict = {}
    system = sdk_stream.trust_context(pool_cache)
    assert sdk_stream.trust_context(pool_cache) is system
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))  # an empty folder: a store that trusts no one
    own_dir = sdk_stream.trust_context(pool_cache)
    assert own_dir is not system and own_dir.cert_store_stats()["x509_ca"] == 0
    monkeypatch.delenv("SSL_CERT_DIR")
    assert sdk_stream.trust_context(pool_cache) is system
    assert sdk_stream.trust_context({}) is not system
    sdk_stream._build_spare_trust()
    spare = sdk_stream._SPARE_TRUST[(None, None)]
    assert sdk_stream.trust_context({}) is spare and sdk_stream.trust_context({}) is not spare


def test_an_unreadable_ssl_cert_file_is_an_error_event_not_an_exception_regression(monkeypatch, tmp_path):
    """The SDK client loads the trust store even for an http endpoint: a missing SSL_CERT_FILE raised
    FileNotFoundError out of the stream (the column crashed) instead of ending it with an error."""
    from tests.chat.test_openai_client import collect, endpoint, only_error
    from tests.openai_server import ScriptedServer, answer_script

    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with ScriptedServer(answer_script(["never"])) as server:
        message = only_error(collect(endpoint(server), "sk-canary-trust-0a1b2c3d4e5f"))
        assert server.received == []
    assert "trust store could not be loaded from SSL_CERT_FILE" in message
    assert str(tmp_path) not in message and "sk-canary" not in message
