"""ecomsim: an agent-based simulator of an e-commerce marketplace."""

__version__ = "0.1.0"
