"""Pages of a list between which the list changes: nothing repeats, nothing is skipped."""

from __future__ import annotations

from libs.platform.pagination import PageRequest, _decode


def next_request(page_cursor: str | None, limit: int = 2) -> PageRequest:
    assert page_cursor is not None
    scope, offset, after = _decode(page_cursor)
    return PageRequest(limit=limit, scope=scope, offset=offset, after=after)


def test_an_item_removed_before_the_cursor_skips_nothing() -> None:
    first = PageRequest(limit=2, scope="s").of(["a", "b", "c", "d"], key=lambda x: x)
    assert first.items == ["a", "b"]
    second = next_request(first.next_cursor).of(["b", "c", "d"], key=lambda x: x)
    assert second.items == ["c", "d"]
    assert second.next_cursor is None


def test_the_last_item_served_removed_continues_at_the_same_place() -> None:
    first = PageRequest(limit=2, scope="s").of(["a", "b", "c", "d"], key=lambda x: x)
    second = next_request(first.next_cursor).of(["a", "c", "d"], key=lambda x: x)
    assert second.items == ["c", "d"]


def test_composite_keys_survive_the_cursor() -> None:
    items = [("ann", "coding"), ("ann", "testing"), ("ben", "coding")]
    first = PageRequest(limit=1, scope="s").of(items, key=lambda x: x)
    second = next_request(first.next_cursor, limit=5).of(items, key=lambda x: x)
    assert second.items == items[1:]


def test_an_empty_list_is_one_empty_page() -> None:
    page = PageRequest(limit=3, scope="s").of([], key=lambda x: x)
    assert page.items == []
    assert page.next_cursor is None
