"""watchkeeper: an operations desk for billing and telecom operators."""

__version__ = "0.1.0"
