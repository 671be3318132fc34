"""YAML read with its node tree, so that every value can be traced to its line."""

from __future__ import annotations

from typing import Any

import yaml

# libyaml's parser when the wheel has it (about five times faster); same results and marks.
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the values, as `yaml.safe_load` builds them.

    Raises `yaml.YAMLError` (with marks when it can) for text that is not YAML.
    """
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()
