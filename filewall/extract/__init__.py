"""Extractors: one module per container family.

Each module registers functions with :func:`filewall.registry.extractor`; they yield
:class:`filewall.registry.Child` entries and never write outside the scan's temp folder.
"""
