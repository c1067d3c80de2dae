"""The prompt an LLM policy continues: the domain's question in the chat template, then the steps so far."""

from __future__ import annotations

from metacot.backends.generate import ChatRenderer
from metacot.policy.base import ExpandRequest
from metacot.policy.cite import with_citations
from metacot.problems.base import Domain


class PromptBuilder:
    """The chat-wrapped question, then each step so far followed by the delimiter, as the assistant's partial reply.

    A child's prompt is its parent's prompt plus the child's step and the delimiter, so prefix caches hit. A request
    conditioned on behaviours carries its problem's prompt head, which opens the question: the same head for every
    node of a problem, and each step is written with the behaviours it cited, as the policy wrote it.
    """

    def __init__(self, domain: Domain | None, render: ChatRenderer, step_delimiter: str = "\n"):
        """domain: None for a backend that only generates text (it renders, and builds no step's prompt)."""
        self.domain, self.render, self.step_delimiter = domain, render, step_delimiter

    def prompt(self, request: ExpandRequest) -> str:
        if self.domain is None:
            raise ValueError("policy: built without a domain, it generates text and proposes no steps")
        nodes = request.tree.nodes  # each step as the policy wrote it, with its citations (policy.cite)
        path = request.tree.path_to(request.node.id)[1:]
        steps = "".join(with_citations(nodes[i].step, nodes[i].cites) + self.step_delimiter for i in path)
        head = request.conditioning.prompt_head if request.conditioning is not None else ""
        return self.render(head + self.domain.prompt(request.problem)) + steps
