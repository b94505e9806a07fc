"""The fast door's check for a quote beside a blank (where DuckDB's reader and Python's csv module part ways): the
substring scans in front of the regex never change its answer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.staging import QUOTE_BESIDE_BLANK, quote_beside_blank

# Bytes that matter to the pattern, plus ordinary text.
PIECES = st.sampled_from([b'"', b",", b" ", b"\t", b"\f", b"\v", b"\n", b"\r\n", b"\r", b"a", b"1", b'""'])


@settings(max_examples=3000, deadline=None)
@given(st.lists(PIECES, max_size=40).map(b"".join))
def test_the_scans_give_the_regexs_answer(data):
    assert quote_beside_blank(data) == (QUOTE_BESIDE_BLANK.search(data) is not None)


def test_the_spots_where_the_readers_part_ways_are_found():
    assert quote_beside_blank(b'id,name\n1, "x"\n')           # blank before an opening quote
    assert quote_beside_blank(b'id,name\n1,"x" \n')           # blank after a closing quote at the line end
    assert quote_beside_blank(b'id,name\n1,"x"\t,2\n')        # a tab before the delimiter
    assert not quote_beside_blank(b'id,note\n1,"a, b"\n2,plain text\n')
    assert not quote_beside_blank(b'id,note\n1,no quotes at all\n')
