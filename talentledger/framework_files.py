"""Framework files in and out of a running framework service, through its HTTP API.

Used by `talentledger framework import/export` and by the demo. Files are parsed by the
service (one parser for every client); uploads stream in chunks so a progress bar can follow
large files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from libs.platform.pagination import every_item

CHUNK = 64 * 1024
# Not frameworks, whatever their suffix: licence and provenance notes shipped beside them.
NOT_FRAMEWORKS = {"license", "licence", "notice", "provenance", "copying"}
FRAMEWORK_SUFFIXES = {".yaml", ".yml", ".json", ".csv", ".md", ".markdown"}


class FrameworkRequestFailed(RuntimeError):
    """The service refused a request; the message carries its explanation."""


@dataclass(frozen=True)
class Imported:
    path: Path
    framework_id: str
    issues: list[dict[str, Any]]
    version: int | None = None
    revision: str | None = None


def framework_files(path: Path) -> tuple[list[Path], list[Path]]:
    """(files to import, files skipped) under `path`: a file, or a directory searched deeply."""
    if path.is_file():
        return [path], []
    found = sorted(p for p in path.rglob("*") if p.is_file())
    keep = [
        p
        for p in found
        if p.suffix.lower() in FRAMEWORK_SUFFIXES and p.stem.lower() not in NOT_FRAMEWORKS
    ]
    return keep, [p for p in found if p not in keep]


def _explain(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    detail = body.get("detail", body)
    if isinstance(detail, dict) and "issues" in detail:
        lines = [detail.get("message", "")]
        lines += [_issue_line(i) for i in detail["issues"]]
        return "\n".join(lines)
    lines = [str(detail)]
    lines += [f"  [{p['rule']}] {p['message']}" for p in body.get("problems", [])]
    return "\n".join(lines)


def _issue_line(issue: dict[str, Any]) -> str:
    where = issue["file"] + (f":{issue['line']}" if issue.get("line") else "")
    field = f"{issue['field']}: " if issue.get("field") else ""
    return f"  {where}: {issue['severity']}: {field}{issue['message']}"


def format_issues(issues: list[dict[str, Any]]) -> list[str]:
    return [_issue_line(i) for i in issues]


def import_file(
    http: httpx.Client,
    base_url: str,
    path: Path,
    framework_id: str | None,
    *,
    fmt: str | None = None,
    publish: bool = False,
    advance: Callable[[int], None] = lambda _: None,
) -> Imported:
    """Upload one file as a framework's draft; publish it too when asked.

    Without `framework_id` the file names its framework (the native format's `id`, a Monzo
    file's `path`, else its file name).

    Publishing a draft identical to the latest version is not an error here: that version
    is the one in force, so it is returned.
    """
    size = path.stat().st_size

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as file:
            while chunk := file.read(CHUNK):
                advance(len(chunk))
                yield chunk

    params = {"source": path.name, **({"format": fmt} if fmt else {})}
    where = f"{quote(framework_id)}/draft/import" if framework_id else "import"
    response = http.post(
        f"{base_url}/frameworks/{where}",
        params=params,
        content=chunks(),
        headers={"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(size)},
    )
    if response.status_code != 200:
        raise FrameworkRequestFailed(f"{path}: {_explain(response)}")
    body = response.json()
    imported = Imported(path, body["framework_id"], body["issues"])
    if not publish:
        return imported
    version, revision = publish_draft(http, base_url, imported.framework_id)
    return dataclasses.replace(imported, version=version, revision=revision)


def publish_draft(
    http: httpx.Client, base_url: str, framework_id: str, revision: str | None = None
) -> tuple[int, str]:
    """Publish the draft; (version, revision). An unchanged draft yields the latest version."""
    response = http.post(
        f"{base_url}/frameworks/{quote(framework_id)}/versions", json={"revision": revision}
    )
    if response.status_code == 201:
        body = response.json()
        return body["version"], body["revision"]
    problems = response.json().get("problems", []) if response.status_code == 422 else []
    if [p["rule"] for p in problems if p["severity"] == "error"] == ["unchanged"]:
        versions = f"{base_url}/frameworks/{quote(framework_id)}/versions"
        latest = every_item(lambda params: http.get(versions, params=params).json())[-1]
        return latest["version"], latest["revision"]
    raise FrameworkRequestFailed(f"publishing {framework_id}: {_explain(response)}")


def export(
    http: httpx.Client,
    base_url: str,
    framework_id: str,
    fmt: str,
    *,
    version: int | None = None,
    as_of: str | None = None,
    draft: bool = False,
) -> str:
    """The framework as a file: the draft, or a published version (by number or instant)."""
    where = "draft/export" if draft else "published/export"
    params: dict[str, Any] = {"format": fmt}
    if version is not None:
        params["version"] = version
    if as_of is not None:
        params["as_of"] = as_of
    response = http.get(f"{base_url}/frameworks/{quote(framework_id)}/{where}", params=params)
    if response.status_code != 200:
        raise FrameworkRequestFailed(f"exporting {framework_id}: {_explain(response)}")
    return response.text
