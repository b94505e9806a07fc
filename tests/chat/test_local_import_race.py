"""Regression: the first local-model prompt after a fresh start said "install torch and transformers" although both
were installed, with a server path and `__init__` in the text. Two columns loading at once imported transformers
from two threads; one import failed half-way. Run in a fresh interpreter, where nothing is imported yet."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

RACE = """
import json, threading
from modelmatch.chat import local_backend
errors = []
def load():
    try:
        local_backend._load("/nonexistent/modelmatch-race-check")
    except Exception as exc:
        errors.append(str(exc))
threads = [threading.Thread(target=load) for _ in range(3)]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps(errors))
"""


def test_two_columns_loading_at_first_start_get_the_real_reason_not_install_torch():
    proc = subprocess.run([sys.executable, "-c", RACE], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    errors = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(errors) == 3
    for error in errors:
        assert "no such folder" in error, error
        assert "install" not in error and "__init__" not in error and "site-packages" not in error


def test_an_error_message_is_shown_literally_not_as_markdown():
    from modelmatch.chat.render import md_text

    shown = md_text("cannot import name 'AutoConfig' from transformers/__init__.py ![x](http://a) $x$")
    assert "\\_\\_init\\_\\_" in shown and "\\!\\[x\\]\\(http" in shown and "\\$x\\$" in shown
