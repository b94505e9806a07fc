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
