"""The cot format: plain chain of thought, the metacot sentences of the answered solution's path alone."""

from metacot.linearize.formats.base import TraceFormat
from metacot.linearize.formats.metacot import audit_sentences, render_metacot

COT = TraceFormat(
    help="the solution path alone",
    render=render_metacot,
    parse=audit_sentences,
    segments=True,
    path_only=True,
)
