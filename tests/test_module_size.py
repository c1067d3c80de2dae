"""No module of the package is over 400 lines: a longer one holds more than one concern, to split by them."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "metacot"
MAX_LINES = 400


def test_every_module_of_the_package_stays_small():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 100  # the whole package is walked, its subpackages too
    sizes = {path.relative_to(PACKAGE.parent): len(path.read_text().splitlines()) for path in modules}
    over = [f"{path}: {lines} lines" for path, lines in sizes.items() if lines > MAX_LINES]
    assert over == [], f"modules over {MAX_LINES} lines:\n" + "\n".join(over)
