"""Your evals checks an uploaded file's size against MODELMATCH_EVAL_MAX_FILE_MB itself (a crafted request skips
the browser's check), and says so when that setting is over the web server's upload limit, which would otherwise
refuse files between the two with a generic error. At start the app writes the same warning to its log."""

from __future__ import annotations

import logging

import pytest
from streamlit import config as streamlit_config
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT
from tests.pages.test_app_evals import env, open_page  # noqa: F401 (fixture)

GOOD = b"id,language,prompt,expected,scorer\nq1,en,Two plus two?,4,numeric\n"


@pytest.fixture
def server_limit_mb():
    """Sets the server's upload limit as a config file or flag would, and puts the former value back."""
    before = streamlit_config.get_option("server.maxUploadSize")

    def set_limit(mb: int) -> None:
        streamlit_config.set_option("server.maxUploadSize", mb)

    yield set_limit
    streamlit_config.set_option("server.maxUploadSize", before)


def open_upload(at: AppTest) -> AppTest:
    at.radio(key="ev_source").set_value("Upload a CSV or TSV file").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_eval_upload_over_the_setting_is_refused_by_the_page_naming_the_limit(env, monkeypatch):
    monkeypatch.setenv("MODELMATCH_EVAL_MAX_FILE_MB", "0.05")  # 52,428 bytes; the built-in set is 44 KB
    at = open_upload(open_page())
    at.file_uploader(key="ev_upload").set_value(("big.csv", GOOD + b"#" * 60_000, "text/csv")).run()
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value.replace("\\", "") for e in at.error]
    assert any("limited to 0.05 MB (MODELMATCH_EVAL_MAX_FILE_MB)" in e for e in errors), errors
    assert not [b for b in at.button if b.key == "ev_start"] and not any("problem(s)" in e for e in errors)
    at.file_uploader(key="ev_upload").set_value(("small.csv", GOOD, "text/csv")).run()  # within the limit: read
    assert [b for b in at.button if b.key == "ev_start"] and not at.error


def test_eval_limit_over_the_server_limit_is_shown_and_the_uploader_takes_the_smaller(env, monkeypatch,
                                                                                     server_limit_mb):
    server_limit_mb(20)
    monkeypatch.setenv("MODELMATCH_EVAL_MAX_FILE_MB", "50")
    at = open_upload(open_page())
    warnings = [w.value.replace("\\", "") for w in at.warning]
    assert any("MODELMATCH_EVAL_MAX_FILE_MB is 50 MB" in w and "at most 20 MB" in w
               and "server.maxUploadSize" in w for w in warnings), warnings
    assert at.file_uploader(key="ev_upload").proto.max_upload_size_mb == 20  # the browser refuses >20 MB itself

    monkeypatch.setenv("MODELMATCH_EVAL_MAX_FILE_MB", "10")
    at = open_upload(open_page())
    assert not any("maxUploadSize" in w.value for w in at.warning)
    assert at.file_uploader(key="ev_upload").proto.max_upload_size_mb == 10


def test_app_start_logs_the_disagreement_for_the_operator(env, monkeypatch, server_limit_mb, caplog):
    server_limit_mb(20)
    monkeypatch.setenv("MODELMATCH_EVAL_MAX_FILE_MB", "61")  # a value no other test uses: logged once per value
    caplog.set_level(logging.WARNING, logger="modelmatch.upload_limit")
    for _ in range(2):  # two visits, one line
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
        at.run()
        assert not at.exception, [e.message for e in at.exception]
    logged = [r.getMessage() for r in caplog.records if r.name == "modelmatch.upload_limit"]
    assert len(logged) == 1 and "MODELMATCH_EVAL_MAX_FILE_MB is 61 MB" in logged[0] and "20 MB" in logged[0]
