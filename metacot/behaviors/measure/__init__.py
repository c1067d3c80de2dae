"""Measuring the four behaviours in traces: the taggers (structural, heuristic, the LLM judge), their registry, the
rounds that tag a run or a JSONL file, and the report."""
