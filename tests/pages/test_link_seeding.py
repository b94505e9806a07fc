"""pages.common.sync_from_url: when a page seeds its widgets from its link. Run under AppTest on a two-widget page
whose first run can be cut before it writes the link back, as a visitor's input cuts a slow first run."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def two_widget_page():
    import streamlit as st

    from pages import common

    def seed(url):
        st.session_state.seeded_from = [*st.session_state.get("seeded_from", []), dict(url)]
        st.session_state.pg_text = (url.get("text") or [""])[0]
        st.session_state.pg_choice = (url.get("choice") or ["either"])[0]
        return []

    common.sync_from_url("pg", seed, ("pg_text", "pg_choice"))
    st.text_input("Text", value=common.shown("pg_text"), key="pg_text")
    options = ["either", "self-host", "api"]
    st.radio("Choice", options, index=common.shown_index("pg_choice", options), key="pg_choice")
    if st.session_state.get("cut_before_writing_the_link", True):
        st.stop()
    common.write_url("pg", {"text": st.session_state.pg_text, "choice": st.session_state.pg_choice})


def test_an_input_given_before_the_first_run_wrote_the_link_is_kept_regression():
    """Seen in the browser: typing languages or choosing "Self-host" while the wizard's first run was still going
    was undone (the next run found the link unwritten, seeded again from it and put back the link's values)."""
    at = AppTest.from_function(two_widget_page)
    at.query_params["text"] = "from the link"
    at.run()
    at.text_input(key="pg_text").input("th, vi").run()
    at.radio(key="pg_choice").set_value("self-host").run()
    assert at.text_input(key="pg_text").value == "th, vi"
    assert at.radio(key="pg_choice").value == "self-host"
    assert len(at.session_state.seeded_from) == 1


def test_a_new_link_is_seeded_again_and_a_written_one_is_not():
    at = AppTest.from_function(two_widget_page)
    at.session_state.cut_before_writing_the_link = False
    at.query_params["text"] = "first"
    at.run()
    at.text_input(key="pg_text").input("typed").run()
    assert at.query_params["text"] == "typed" and len(at.session_state.seeded_from) == 1
    at.query_params["text"] = "pasted"  # another link in the same session (back/forward, a pasted address)
    at.run()
    assert at.text_input(key="pg_text").value == "pasted" and len(at.session_state.seeded_from) == 2
