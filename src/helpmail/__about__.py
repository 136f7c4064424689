"""Version of the helpmail distribution (read by hatchling)."""

__version__ = "0.1.0.dev0"
