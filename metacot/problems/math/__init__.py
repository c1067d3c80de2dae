"""Math word problems: the domain, answer extraction and checks, file and dataset loaders, the generator."""

from __future__ import annotations

from metacot.problems.base import DomainSpec
from metacot.problems.math.domain import DEFAULT_MAX_DEPTH, PROMPT, MathConfig, MathDomain, MathProblem
from metacot.problems.math.loaders import math_problems

MATH = DomainSpec(build=MathDomain.from_config, problems=math_problems)

__all__ = ["DEFAULT_MAX_DEPTH", "MATH", "PROMPT", "MathConfig", "MathDomain", "MathProblem", "math_problems"]
