"""Model output as HTML: rendered markdown, highlighted code, and nothing that can run."""

from __future__ import annotations

from html import unescape
from html.parser import HTMLParser

import pytest

from chat.markdown import render_markdown


def test_paragraphs_lists_headings_and_inline_code_render() -> None:
    html = render_markdown("# Title\n\nSome *text* and `code`.\n\n- one\n- two\n\n3. three\n")
    assert "<h1>Title</h1>" in html
    assert "<p>Some <em>text</em> and <code>code</code>.</p>" in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert '<ol start="3">' in html


def test_tables_render_with_their_alignment_inside_a_scrolling_box() -> None:
    html = render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |\n")
    assert html.startswith('<div class="table-wrap"><table>')
    assert '<th style="text-align:left">a</th>' in html
    assert '<td style="text-align:right">2</td>' in html


def test_links_open_safely_in_a_new_tab() -> None:
    html = render_markdown("[docs](https://example.com/a?b=1)")
    assert (
        '<a href="https://example.com/a?b=1" target="_blank" '
        'rel="noopener noreferrer nofollow">docs</a>'
    ) in html


def test_fenced_code_is_highlighted_with_css_classes_and_labelled() -> None:
    html = render_markdown('```python\ndef f():\n    return "<b>"\n```\n')
    assert '<span class="code-block__lang">python</span>' in html
    assert '<span class="k">def</span>' in html
    assert '<span class="nf">f</span>' in html
    # The code's own text is escaped, never markup.
    assert "&lt;b&gt;" in html
    assert "<b>" not in html
    assert "style=" not in html


def test_code_in_an_unknown_language_is_shown_plain() -> None:
    html = render_markdown("```nosuchlanguage\n<x> & y\n```\n")
    assert "<code>&lt;x&gt; &amp; y\n</code>" in html
    assert '<span class="code-block__lang">nosuchlanguage</span>' in html


class Elements(HTMLParser):
    """The tags and attributes a browser would build from some HTML."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        "<iframe src=https://evil.example></iframe>",
        "<style>body{display:none}</style>",
        '<div onclick="alert(1)">hi</div>',
        '<svg onload="alert(1)"></svg>',
    ],
)
def test_html_from_the_model_is_shown_as_text(source: str) -> None:
    html = render_markdown(f"Before {source} after\n\n{source}\n")
    elements = Elements(html)
    assert set(elements.tags) == {"p"}
    assert not [name for name, _ in elements.attributes if name.startswith("on")]
    # The reader still sees what the model wrote.
    assert unescape(html).count(source) == 2


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "javascript&#58;alert(1)",
        " javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
    ],
)
def test_script_urls_never_become_links(url: str) -> None:
    html = render_markdown(f"[click]({url}) and <{url}> and [ref]\n\n[ref]: {url}\n")
    hrefs = [value for name, value in Elements(html).attributes if name == "href"]
    assert not [href for href in hrefs if not href.startswith(("http://", "https://"))]


def test_relative_links_lose_their_target() -> None:
    # A model's link must not point into this site (say, a form that acts on your behalf).
    html = render_markdown("[settings](/accounts/logout/)")
    assert "href" not in html
    assert ">settings</a>" in html


def test_images_become_links_and_never_load() -> None:
    html = render_markdown("![a cat](https://example.com/cat.png)")
    assert "<img" not in html
    assert '<a href="https://example.com/cat.png"' in html
    assert ">a cat</a>" in html


def test_classes_outside_the_allow_list_are_dropped() -> None:
    # Raw HTML is escaped anyway; even markdown-it's own language class is not kept.
    html = render_markdown("```js\nlet x\n```")
    assert "language-" not in html
