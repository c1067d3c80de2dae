"""`metacot bench replicas` refuses replica counts below 1 in one line, before it starts Ray."""

from __future__ import annotations

import pytest

from metacot.cli import main


@pytest.mark.parametrize(("given", "said"), [("0", "got 0"), ("1,-2", "got -2"), ("2,x", "'x' is not a whole number")])
def test_replica_counts_below_one_are_refused_in_one_line(capsys, given, said):
    assert main(["bench", "replicas", "--replicas", given]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("metacot: error: --replicas: ") and said in err
