"""The playground's daily spend cap (max_usd_per_day) under AppTest: each column reserves its request's worst case
at the endpoint's catalog price before it is sent, so columns sent together cannot pass the cap, and the hold
becomes the reply's real cost when it ends."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from modelmatch.chat.shared_limits import SharedDailySpend
from tests.conftest import REPO_ROOT
from tests.openai_server import ScriptedServer, answer_script
from tests.pages.test_app_playground import env  # noqa: F401 (fixture)

# test-org/Beta-MoE costs $0.28 in / $0.42 out per Mtok in the fixture catalog. A column's worst case at 512 max
# tokens is about $0.00024 (512 x $0.42/Mtok out plus its prompt's bytes in); the cap leaves room for one of them.
CAP_USD = 0.0003


def test_spend_cap_overshot_by_columns_in_flight_no_more(env):
    server = ScriptedServer(answer_script(["cheap", " reply"]))
    with server:
        (env / "endpoints.toml").write_text(
            f'[[endpoint]]\nname = "Paid"\nkind = "openai"\nbase_url = "{server.base_url}"\nmodel = "beta-chat"\n'
            f'model_id = "test-org/Beta-MoE"\nmax_usd_per_day = {CAP_USD}\nfirst_byte_timeout_s = 5\n')
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
        at.switch_page("pages/playground.py")
        at.run()
        at.segmented_control(key="pg_columns").set_value(2).run()
        at.chat_input[0].set_value("hello").run()
        assert not at.exception, [e.message for e in at.exception]
        assert len(server.received) == 1  # the second column's worst case did not fit beside the first's
        assert any("daily spend cap" in e.value and "held by requests in flight" in e.value for e in at.error)
        spent = SharedDailySpend(env / "runs.sqlite").spent("Paid")
        assert 0 < spent < 0.00001  # settled to the reply's real cost (9 tokens), the hold released
        at.chat_input[0].set_value("again").run()
        assert len(server.received) == 2  # room again for one worst case
