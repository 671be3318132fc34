"""The published language: every integration event payload, one module per owning context.

Importing this package registers every schema in `libs.events.registry.registry`.
"""

from libs.events.schemas import assessment, cycles, development, framework, hris, lms, promotion

__all__ = ["assessment", "cycles", "development", "framework", "hris", "lms", "promotion"]
