"""aidpack: run an aid-package mechanism — needs, pledges, optimal plans, deliveries, a trusted record."""

__version__ = "0.1.0"
