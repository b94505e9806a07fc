"""bench.read_size_cost prints one line per buffer size, each with its ratio to the 64 KiB read the client uses."""

from __future__ import annotations

import re

from bench import read_size_cost


def test_prints_every_size_with_its_ratio_to_the_clients_read(capsys) -> None:
    assert read_size_cost.main(["--reads", "50", "--rounds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [re.match(r"\s*(\d+) KiB asked\s+([\d.]+) us a read\s+([\d.]+)x the 64 KiB read", line) for line in lines[1:]]
    assert all(rows) and [int(r.group(1)) for r in rows] == [s // 1024 for s in read_size_cost.SIZES]
    assert float(next(r for r in rows if r.group(1) == "64").group(3)) == 1.0
    assert all(float(r.group(2)) > 0 for r in rows)
