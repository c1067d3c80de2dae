"""The memory benchmark's child runs: a command's findings (exit 1, nothing on stderr) are a result, an error not."""

from __future__ import annotations

import sys

import pytest

from metacot.bench.memory import run_measured


def child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_finding_is_measured_only_where_the_command_reports_findings():
    found = child("import sys; print('2 violations'); sys.exit(1)")
    rss, seconds = run_measured(found, finds=True)
    assert rss > 0 and seconds > 0
    with pytest.raises(RuntimeError, match="exited 1"):
        run_measured(found)


def test_an_error_fails_even_where_findings_are_expected():
    with pytest.raises(RuntimeError, match="exited 1: metacot: no such run"):
        run_measured(child("import sys; sys.stderr.write('metacot: no such run'); sys.exit(1)"), finds=True)
    with pytest.raises(RuntimeError, match="exited 2"):
        run_measured(child("import sys; sys.exit(2)"), finds=True)
