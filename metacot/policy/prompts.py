"""The prompt an LLM policy continues: the domain's question in the chat template, then the steps so far."""

from __future__ import annotations

from metacot.backends.generate import ChatRenderer
from metacot.policy.base import ExpandRequest
from metacot.problems.base import Domain


class PromptBuilder:
    """The chat-wrapped question, then each step so far followed by the delimiter, as the assistant's partial reply.

    A child's prompt is its parent's prompt plus the child's step and the delimiter, so prefix caches hit.
    """

    def __init__(self, domain: Domain, render: ChatRenderer, step_delimiter: str = "\n"):
        self.domain, self.render, self.step_delimiter = domain, render, step_delimiter

    def prompt(self, request: ExpandRequest) -> str:
        steps = "".join(step + self.step_delimiter for step in request.steps)
        return self.render(self.domain.prompt(request.problem)) + steps
