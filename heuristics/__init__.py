"""Heuristics: pymoo algorithms that evolve the leader's decision, with every follower solved exactly.

- :mod:`heuristics.registry`: the named heuristics and their default parameters;
- :mod:`heuristics.evaluator`: batched, cached, parallel evaluation with per-run counters;
- :mod:`heuristics.adapter`: a bilevel problem seen as a pymoo ``Problem``;
- :mod:`heuristics.run`: one run with a budget, and re-verification of its best decision.
"""
