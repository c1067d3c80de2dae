"""The prompt an LLM policy continues: the domain's question in the chat template, then the steps so far."""

from __future__ import annotations

from metacot.backends.generate import ChatRenderer
from metacot.policy.base import ExpandRequest
from metacot.problems.base import Domain


class PromptBuilder:
    """The chat-wrapped question, then each step so far followed by the delimiter, as the assistant's partial reply.

    A child's prompt is its parent's prompt plus the child's step and the delimiter, so prefix caches hit. With
    behaviours (problem id -> their lines, set by metacot.behaviors.bci), they open the question: the same head for
    every node of a problem.
    """

    def __init__(self, domain: Domain, render: ChatRenderer, step_delimiter: str = "\n"):
        self.domain, self.render, self.step_delimiter = domain, render, step_delimiter
        self.behaviors: dict[str, list[str]] = {}

    def prompt(self, request: ExpandRequest) -> str:
        from metacot.behaviors.bci import prompt_head

        steps = "".join(step + self.step_delimiter for step in request.steps)
        head = prompt_head(self.behaviors.get(getattr(request.problem, "id", ""), [])) if self.behaviors else ""
        return self.render(head + self.domain.prompt(request.problem)) + steps
