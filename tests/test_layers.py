"""The layering in pyproject.toml's [tool.importlinter] holds, and the check would catch a break of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_layers_hold():
    done = lint_imports(REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(("module", "planted", "contract"), [
    ("modelmatch/catalog/reader.py", "import ingest.build", "The read side (modelmatch) imports neither"),
    ("modelmatch/planning/memory.py", "import streamlit", "The read side (modelmatch) imports neither"),
    ("modelmatch/catalog/prices.py", "from modelmatch.planning import memory", "Domain packages"),
    ("modelmatch/chat/limits.py", "from modelmatch.planning import memory", "Domain packages"),
    ("ingest/validate.py", "from pages import common", "The write side (ingest)"),
])
def test_a_planted_violation_breaks_the_check(tmp_path, module, planted, contract):
    for name in ("modelmatch", "ingest", "pages"):
        shutil.copytree(REPO_ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{planted}  # planted by the test\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    # Forbidden contracts follow imports through other modules, so one plant may break more than one contract; the
    # one named here must be among them.
    broken = " ".join(done.stdout[done.stdout.index("Broken contracts"):].split())
    assert contract in broken and planted.split()[-1] in broken
