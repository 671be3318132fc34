"""The framework service's own file format: a `Framework` as YAML or JSON, without loss.

The file is a mapping: `format: talentledger.framework/1`, an optional `id` (the suggested
framework id, a slug), then the fields of `Framework` (docs/domain.md §2). Fields left at
their defaults are not written; reading restores them. `json_schema()` describes the file;
the published copy is docs/framework.schema.json, regenerated with

    .venv/bin/python -m services.framework.adapters.files.native > docs/framework.schema.json

Every problem found on import is an `ImportIssue` naming the line and the dotted field
(`families[0].tracks[1].levels[2].grade`). The helpers that turn validation errors into issues
are shared with the CSV grid (grid_csv.py).
"""

from __future__ import annotations

import bisect
import json
import sys
from collections.abc import Callable, Mapping
from json.decoder import scanstring
from pathlib import PurePath
from typing import Any, Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from libs.events.schemas.framework import Framework, Key
from services.framework.adapters.files.report import ImportIssue, ImportResult, slug
from services.framework.adapters.files.yaml_source import compose

FORMAT = "talentledger.framework/1"
SCHEMA_ID = "urn:talentledger:schema:framework:1"
_HEADER = ("format", "id")
_KEY = TypeAdapter(Key)

Loc = tuple[str | int, ...]
Spot = TypeVar("Spot")


# -- shared with the CSV grid: from a pydantic error to an issue at a line and field ----------


def nearest(spots: Mapping[Loc, Spot], loc: Loc) -> Spot | None:
    """The spot of `loc`, or of its closest recorded parent: a missing field has no spot itself."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in spots:
            return spots[loc[:end]]
    return None


def field_path(loc: Loc) -> str:
    """('families', 0, 'tracks') -> 'families[0].tracks'."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def validation_issues(
    error: ValidationError, file: str, locate: Callable[[Loc], tuple[int | None, str | None]]
) -> list[ImportIssue]:
    """One issue per validation error; `locate` maps the model path to a line and a field name."""
    issues = []
    for detail in error.errors(include_url=False):
        line, field = locate(detail["loc"])
        issues.append(
            ImportIssue(
                file=file, line=line, field=field, severity="error", message=_describe(detail)
            )
        )
    return issues


def _describe(detail: ErrorDetails) -> str:
    """Pydantic's message, with what was found and, for an unknown field, what is allowed."""
    loc = detail["loc"]
    if detail["type"] == "missing":
        return "required, but missing"
    if detail["type"] == "extra_forbidden":
        return f"unknown field {loc[-1]!r}; allowed here: {', '.join(_fields_at(loc[:-1]))}"
    message = detail["msg"]
    if detail["type"] == "string_pattern_mismatch":
        message = (
            "one line of text: no line breaks"
            if "\\n" in str(detail.get("ctx", {}).get("pattern", ""))
            else "a key is lower-case letters, digits, '.', '_' or '-', starting with a letter "
            "or digit"
        )
    found = detail["input"]
    shown = isinstance(found, str | int | float | bool) or found is None
    return message + (f" (found {found!r})" if shown else "")


def _fields_at(loc: Loc) -> list[str]:
    """The field names of the model found at `loc` in a framework file."""
    model: type[BaseModel] | None = Framework
    for part in loc:
        if isinstance(part, str) and model is not None:
            field = model.model_fields.get(part)
            model = _model_in(field.annotation) if field else None
    names = list(model.model_fields) if model else []
    return [*_HEADER, *names] if not loc else names


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation such as `list[Level]` or `Crossover | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next(filter(None, map(_model_in, get_args(annotation))), None)


# -- writing -------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style with indented lists; multi-line text as literal blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        # equal values are written out each time: anchors and aliases would only confuse editors
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML folds NEL and the Unicode line/paragraph separators in plain, quoted and literal
    # styles, so reading would change the text: only the escaped style keeps them.
    if any(ch in value for ch in "\x85\u2028\u2029"):
        style: str | None = '"'
    else:
        style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(framework: Framework, framework_id: str, fmt: Literal["yaml", "json"]) -> str:
    """The file for `framework`; `framework_id` is written as its suggested `id`."""
    data = {
        "format": FORMAT,
        "id": framework_id,
        **framework.model_dump(mode="json", exclude_defaults=True),
    }
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


# -- reading -------------------------------------------------------------------------------


class _Unreadable(ValueError):
    """A syntax error: the file cannot be parsed at all."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line


def _parse_yaml(text: str) -> tuple[Any, dict[Loc, int]]:
    try:
        root, data = compose(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = "; ".join(filter(None, [error.context, error.problem])) or "not valid YAML"
        raise _Unreadable(mark.line + 1 if mark else None, f"YAML syntax: {problem}") from error
    except yaml.YAMLError as error:
        raise _Unreadable(None, f"YAML syntax: {error}") from error
    lines: dict[Loc, int] = {}
    if root is not None:
        _yaml_lines(root, (), root.start_mark.line + 1, lines)
    return data, lines


def _yaml_lines(node: yaml.Node, loc: Loc, line: int, lines: dict[Loc, int]) -> None:
    """Record the line of every mapping key and sequence item under `node`."""
    lines[loc] = line
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _yaml_lines(value, (*loc, key.value), key.start_mark.line + 1, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _yaml_lines(item, (*loc, index), item.start_mark.line + 1, lines)


_DECODER = json.JSONDecoder()


def _parse_json(text: str) -> tuple[Any, dict[Loc, int]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise _Unreadable(error.lineno, f"JSON syntax: {error.msg}") from error
    return data, _json_lines(text)


def _json_lines(text: str) -> dict[Loc, int]:
    """The line of every object key and array item of a valid JSON text.

    The json module keeps no positions, so this walks the text again, knowing it is valid.
    """
    breaks = [index for index, ch in enumerate(text) if ch == "\n"]
    lines: dict[Loc, int] = {}

    def line_at(pos: int) -> int:
        return bisect.bisect_left(breaks, pos) + 1

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\n\r":  # JSON's whitespace
            pos += 1
        return pos

    def walk(pos: int, loc: Loc) -> int:
        """Record the members of the value starting at `pos`; return where the value ends."""
        opener = text[pos]
        if opener not in "{[":
            return _DECODER.raw_decode(text, pos)[1]
        pos = skip(pos + 1)
        index = 0
        while text[pos] not in "}]":
            member_line = line_at(pos)
            member: str | int = index
            if opener == "{":
                member, pos = scanstring(text, pos + 1)
                pos = skip(skip(pos) + 1)  # past the colon
            lines[(*loc, member)] = member_line
            pos = skip(walk(pos, (*loc, member)))
            if text[pos] == ",":
                pos = skip(pos + 1)
            index += 1
        return pos + 1

    start = skip(0)
    lines[()] = line_at(start)
    walk(start, ())
    return lines


_PARSERS = {"yaml": _parse_yaml, "json": _parse_json}


def load(text: str, file: str, fmt: Literal["yaml", "json"] | None = None) -> ImportResult:
    """Read a framework file; `fmt` defaults to what the file name says (YAML unless .json).

    Any error leaves `framework` None; every issue names the line and the field.
    """
    fmt = fmt or ("json" if PurePath(file).suffix.lower() == ".json" else "yaml")
    framework_id = slug(PurePath(file).stem, fallback="framework")

    def result(framework: Framework | None, issues: list[ImportIssue]) -> ImportResult:
        return ImportResult(
            source=file,
            format="native",
            framework_id=framework_id,
            framework=framework,
            issues=issues,
        )

    def error(line: int | None, field: str | None, message: str) -> ImportIssue:
        return ImportIssue(file=file, line=line, field=field, severity="error", message=message)

    try:
        # spreadsheet tools and Windows editors prefix a byte-order mark, which json rejects
        data, lines = _PARSERS[fmt](text.removeprefix("\ufeff"))
    except _Unreadable as unreadable:
        return result(None, [error(unreadable.line, None, str(unreadable))])
    except RecursionError:
        return result(None, [error(None, None, "nested too deeply, or refers to itself")])

    expected = f"`format: {FORMAT}`"
    if not isinstance(data, dict):
        found = "nothing" if data is None else f"a {type(data).__name__}"
        message = f"a framework file is a mapping starting with {expected}; found {found}"
        return result(None, [error(lines.get((), 1), None, message)])
    if "format" not in data:
        message = f"not marked as a framework file: add {expected} as the first line"
        return result(None, [error(lines[()], "format", message)])
    if data["format"] != FORMAT:
        message = f"unsupported format {data['format']!r}: this reader takes {expected}"
        return result(None, [error(lines[("format",)], "format", message)])

    issues: list[ImportIssue] = []
    if "id" in data:
        try:
            framework_id = _KEY.validate_python(data["id"])
        except ValidationError as invalid:
            issues += validation_issues(invalid, file, lambda _: (lines[("id",)], "id"))
    try:
        framework = Framework.model_validate(
            {name: value for name, value in data.items() if name not in _HEADER}
        )
    except ValidationError as invalid:
        issues += validation_issues(
            invalid, file, lambda loc: (nearest(lines, loc), field_path(loc))
        )
    return result(None if issues else framework, issues)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the file: the `Framework` model plus the `format` marker and `id`."""
    schema = Framework.model_json_schema()
    header = {
        "format": {
            "type": "string",
            "const": FORMAT,
            "description": "marks a TalentLedger framework file, and the version of its format",
        },
        "id": _KEY.json_schema()
        | {"description": "suggested framework id (a slug); default: the file name"},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "TalentLedger career framework",
        "description": "A career framework and competency model (job families, tracks, levels, "
        "competencies, role profiles, deployment rules) as the framework service imports and "
        "exports it. See docs/framework-format.md.",
        "properties": header | schema["properties"],
        "required": ["format", *schema.get("required", [])],
    }


def schema_text() -> str:
    """The published form of `json_schema()`: pretty, keys sorted, newline at the end."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
