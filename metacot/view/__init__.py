"""`metacot view`: a run's search trees, replayed visit order and training strings as one self-contained HTML page."""

from metacot.view.page import write_view

__all__ = ["write_view"]
