"""A small DOM of server-rendered HTML for tests that check pages without a browser: the standard
library's `html.parser` builds a tree of `Element`s, and `find`/`find_all` select by tag, id, class and
attributes (no CSS engine, no third-party parser: the pages are our own, well-formed HTML)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str | None = None, *, id: str | None = None, cls: str | None = None,
                 **attrs: str | bool) -> list[Element]:
        """Elements below (and including) this one with that tag, id, class and attributes (`True`: present;
        a `data_x` keyword means the attribute `data-x`)."""
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [e for e in self.iter() if (tag is None or e.tag == tag) and (id is None or e.attrs.get("id") == id)
                and (cls is None or cls in e.classes)
                and all((k in e.attrs) if v is True else e.attrs.get(k) == v for k, v in wanted.items())]

    def find(self, tag: str | None = None, **kwargs: str | bool) -> Element | None:
        found = self.find_all(tag, **kwargs)  # type: ignore[arg-type]
        return found[0] if found else None

    def one(self, tag: str | None = None, **kwargs: str | bool) -> Element:
        found = self.find_all(tag, **kwargs)  # type: ignore[arg-type]
        assert len(found) == 1, f"expected one <{tag or '*'} {kwargs}>, found {len(found)}"
        return found[0]

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        """The text content, whitespace collapsed."""
        parts: list[str] = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else child.text())
        return " ".join(" ".join(parts).split())


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v if v is not None else "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v if v is not None else "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
