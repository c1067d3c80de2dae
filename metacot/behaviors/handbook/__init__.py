"""Behaviour handbooks: built by reflecting on a run, retrieved per problem, the conditioning they give a search (BCI)
and behaviour-guided self-improvement."""
