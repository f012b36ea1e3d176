"""Analyzers: one module per analyzer family.

Each module registers functions with :func:`filewall.registry.analyzer`; they record
facts with ``ctx.fact(node, rule, **params)`` and never decide a verdict.
"""
