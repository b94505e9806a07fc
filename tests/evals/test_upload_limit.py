"""The eval-set limit (MODELMATCH_EVAL_MAX_FILE_MB) and the web server's upload limit (server.maxUploadSize) cannot
disagree silently: the command line warns when ours is the larger, naming both values and the fix."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from modelmatch.evals import upload_limit
from tests.conftest import REPO_ROOT


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv(upload_limit.STREAMLIT_ENV, raising=False)
    monkeypatch.delenv("MODELMATCH_EVAL_MAX_FILE_MB", raising=False)
    return monkeypatch


def test_server_limit_is_read_from_the_variable_then_the_project_config_then_streamlits_default(clean_env, tmp_path):
    value_mb, where = upload_limit.configured_server_limit_mb(tmp_path)  # no config file there
    assert value_mb == 200.0 and "default" in where
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "config.toml").write_text("[server]\nmaxUploadSize = 35\n")
    assert upload_limit.configured_server_limit_mb(tmp_path) == (35.0, ".streamlit/config.toml")
    clean_env.setenv(upload_limit.STREAMLIT_ENV, "70")
    assert upload_limit.configured_server_limit_mb(tmp_path) == (70.0, upload_limit.STREAMLIT_ENV)


def test_the_checkout_config_agrees_with_the_default_eval_limit(clean_env):
    assert upload_limit.command_line_warning() is None


@pytest.mark.parametrize("eval_mb, server_mb, warned", [("20", 20, False), ("19.5", 20, False), ("50", 20, True),
                                                        ("20.5", 20, True)])
def test_disagreement_names_both_values_and_the_fix(clean_env, eval_mb, server_mb, warned):
    clean_env.setenv("MODELMATCH_EVAL_MAX_FILE_MB", eval_mb)
    warning = upload_limit.disagreement(server_mb, "here")
    assert (warning is not None) == warned
    if warned:
        assert f"MODELMATCH_EVAL_MAX_FILE_MB is {eval_mb} MB" in warning and "at most 20 MB" in warning
        assert "server.maxUploadSize" in warning and f"Raise server.maxUploadSize to at least {eval_mb} MB" in warning


def test_a_file_over_the_setting_is_refused_naming_the_limit(clean_env):
    clean_env.setenv("MODELMATCH_EVAL_MAX_FILE_MB", "0.001")  # 1,048 bytes
    assert upload_limit.size_refusal(1_048) is None
    refusal = upload_limit.size_refusal(1_049)
    assert "limited to 0.001 MB (MODELMATCH_EVAL_MAX_FILE_MB)" in refusal and "Nothing was read" in refusal


def _modelmatch(live_catalog, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items()
                   if k not in (upload_limit.STREAMLIT_ENV, "MODELMATCH_EVAL_MAX_FILE_MB")}
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "modelmatch", "plan", "--model", "test-org/Alpha-7B-Instruct",
                           "--gpu", "test-gpu", "--json", "--db", str(live_catalog)], cwd=REPO_ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_python_m_modelmatch_warns_when_the_eval_limit_exceeds_the_servers(live_catalog):
    over = _modelmatch(live_catalog, MODELMATCH_EVAL_MAX_FILE_MB="50")
    assert over.returncode == 0, over.stderr  # a warning: plan has nothing to do with uploads
    assert "warning: MODELMATCH_EVAL_MAX_FILE_MB is 50 MB but the web server accepts uploads of at most 20 MB " \
           "(server.maxUploadSize, .streamlit/config.toml)" in over.stderr
    raised = _modelmatch(live_catalog, MODELMATCH_EVAL_MAX_FILE_MB="50", **{upload_limit.STREAMLIT_ENV: "64"})
    assert raised.returncode == 0 and "warning" not in raised.stderr, raised.stderr
    default = _modelmatch(live_catalog)
    assert default.returncode == 0 and "warning" not in default.stderr, default.stderr
