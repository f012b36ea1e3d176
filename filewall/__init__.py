"""filewall: scan what customers send to an online shop before anyone opens it."""

__version__ = "0.1.0"
