"""What a fresh clone installs is what was tested: the lock agrees with pyproject.toml, every locked package has
hashes, the environment running this suite holds the locked versions, a bad setting is one clear line, and the app
serves its pages without the local-model stack."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
# torch is installed by its own pinned command (the build is the machine's choice), never from a lock.
NOT_LOCKED = {"torch"}


def locked(path: Path) -> dict[str, list[tuple[Version, str | None, list[str]]]]:
    """name -> [(version, marker text, hashes)] of a lock written by scripts/update-lock (uv's requirements format)."""
    entries: dict[str, list[tuple[Version, str | None, list[str]]]] = {}
    text = path.read_text()
    for block in re.split(r"\n(?=[a-z0-9])", text):
        head = block.split("\\", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        requirement = Requirement(head)
        spec = next(iter(requirement.specifier))
        assert spec.operator == "==", f"{path.name}: {head} is not an exact pin"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        entries.setdefault(canonicalize_name(requirement.name), []).append(
            (Version(spec.version), str(requirement.marker) if requirement.marker else None, hashes))
    return entries


def applies_here(marker: str | None) -> bool:
    if marker is None:
        return True
    from packaging.markers import Marker

    return Marker(marker).evaluate(default_environment())


def declared(*extras: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    found = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        found += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return found


@pytest.mark.parametrize(("lock", "extras"), [("requirements.lock", ("local", "test")),
                                              ("requirements-server.lock", ())])
def test_lock_pins_every_dependency_pyproject_declares(lock, extras):
    pins = locked(REPO_ROOT / lock)
    for requirement in declared(*extras):
        name = canonicalize_name(requirement.name)
        if name in NOT_LOCKED:
            assert name not in pins, f"{lock} pins {name}, which is installed by its own command"
            continue
        assert name in pins, f"{lock} has no pin for {requirement} (run scripts/update-lock)"
        for version, _, _ in pins[name]:
            assert requirement.specifier.contains(version, prereleases=True), \
                f"{lock} pins {name}=={version}, outside pyproject's {requirement.specifier} (run scripts/update-lock)"


def test_server_lock_has_no_local_model_stack():
    pins = locked(REPO_ROOT / "requirements-server.lock")
    for name in ("torch", "transformers", "tokenizers", "safetensors", "pytest"):
        assert name not in pins


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-server.lock"])
def test_every_locked_package_has_hashes(lock):
    for name, versions in locked(REPO_ROOT / lock).items():
        for version, _, hashes in versions:
            assert hashes, f"{lock}: {name}=={version} has no hash"


def test_this_suite_runs_on_the_locked_versions():
    """A suite green on floating versions says nothing about what a fresh clone installs."""
    pins = locked(REPO_ROOT / "requirements.lock")
    drift = []
    for requirement in declared("local", "test"):
        name = canonicalize_name(requirement.name)
        if name in NOT_LOCKED:
            continue
        wanted = [v for v, marker, _ in pins[name] if applies_here(marker)]
        installed = Version(metadata.version(name))
        if installed not in wanted:
            drift.append(f"{name} {installed} installed, lock says {', '.join(map(str, wanted))}")
    assert not drift, "; ".join(drift) + " (pip install -r requirements.lock)"


def test_torch_is_the_pinned_release():
    pinned = next(r for r in declared("local") if canonicalize_name(r.name) == "torch")
    # The local label (+cpu, +cu130) is the build; the release is what the pin fixes.
    assert pinned.specifier.contains(Version(metadata.version("torch")).public)


@pytest.mark.parametrize("command", [["-m", "modelmatch", "plan", "--help"], ["-m", "ingest", "check"]])
def test_bad_setting_is_one_line_naming_the_variable_no_traceback(command):
    env = {**os.environ, "MODELMATCH_FETCH_TIMEOUT_S": "soon", "MODELMATCH_HF_TOKEN": "hf_secret_value"}
    done = subprocess.run([sys.executable, *command], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr == "error: MODELMATCH_FETCH_TIMEOUT_S='soon' is not a number greater than 0\n"
    assert done.stdout == ""


def test_bad_secret_setting_never_shows_its_value(monkeypatch):
    from modelmatch import settings

    monkeypatch.setenv("MODELMATCH_STALE_AFTER_DAYS", "-3")
    problems = settings.check_all()
    assert problems == ["MODELMATCH_STALE_AFTER_DAYS='-3' is not a whole number of at least 1"]
    secret = settings.Setting("t", "MODELMATCH_T", "", "test", kind="secret")
    assert secret.parse("  x ") == "x"


def test_app_shows_a_bad_setting_instead_of_a_traceback(monkeypatch, fixture_data_dir):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(fixture_data_dir / "catalog.duckdb"))
    monkeypatch.setenv("MODELMATCH_PLANNER_GPU_MEMORY_UTILIZATION", "90%")
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert "cannot start" in at.error[0].value
    assert at.code[0].value == ("MODELMATCH_PLANNER_GPU_MEMORY_UTILIZATION='90%' is not a number greater than 0 "
                                "and at most 1")
    assert not (fixture_data_dir / "catalog.duckdb").exists()  # nothing ran past the check


# Runs in a fresh interpreter where importing the local-model stack fails, as in a lean `pip install .`.
WITHOUT_TORCH = textwrap.dedent("""
    import sys
    from importlib.abc import MetaPathFinder

    BLOCKED = {"torch", "transformers", "tokenizers", "safetensors"}

    class NotInstalled(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    sys.path.insert(0, sys.argv[1])
    from streamlit.testing.v1 import AppTest

    shown = {}
    for page in ["pages/overview.py", "pages/compare.py", "pages/planner.py", "pages/playground.py"]:
        at = AppTest.from_file(sys.argv[1] + "/app.py", default_timeout=90)
        at.run()
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.message for e in at.exception])
        shown[page] = [w.value for w in at.warning]
    assert not any(m.split(".")[0] in BLOCKED for m in sys.modules), "a page imported the local-model stack"
    print(repr(shown))
""")


def test_app_serves_its_pages_without_the_local_model_stack(fixture_data_dir, tmp_path):
    env = {**os.environ, "MODELMATCH_DATA_DIR": str(fixture_data_dir),
           "MODELMATCH_CATALOG": str(fixture_data_dir / "catalog.duckdb"),
           "MODELMATCH_RUNS_DB": str(tmp_path / "runs.sqlite"),
           "MODELMATCH_ENDPOINTS": str(tmp_path / "no-endpoints.toml")}
    done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, str(REPO_ROOT)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    shown = eval(done.stdout.strip().splitlines()[-1])  # noqa: S307 - our own subprocess's repr of a dict
    playground = " ".join(shown["pages/playground.py"])
    assert "The local models need torch, transformers, tokenizers, safetensors" in playground
    assert "pip install torch==2.13.0" in playground
    assert not shown["pages/overview.py"]
