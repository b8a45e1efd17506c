"""stackwatch: keeps the servers of a cloud or hosting provider healthy."""

__version__ = "0.1.0"
