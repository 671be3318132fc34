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
        if node is not None:
            _refuse_aliases(node)
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _refuse_aliases(root: yaml.Node) -> None:
    """An alias makes one node appear in many places: a few hundred bytes of nested aliases
    expand to billions of values ("billion laughs"), and no framework file needs one."""
    seen: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            raise yaml.MarkedYAMLError(
                problem="this anchored value (&name) is repeated by an alias (*name); aliases "
                "are not supported: write the value out",
                problem_mark=node.start_mark,
            )
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            pending.extend(part for pair in node.value for part in pair)
