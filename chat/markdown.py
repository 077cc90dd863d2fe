"""Model output as safe HTML: CommonMark + tables, highlighted code, sanitised on the server.

Two layers, so one mistake is not enough for a model to run script in a reader's browser:
markdown-it never passes raw HTML through (it is escaped as text), and nh3 then keeps only
an allow-list of tags, attributes, classes and URL schemes. Pygments highlights code with
CSS classes (no inline styles), which the stylesheet colours for light and dark themes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

# Highlighting is roughly linear but not free: past this, code is shown plain.
HIGHLIGHT_MAX_CHARS = 100_000
LANGUAGE_NAME = re.compile(r"^[\w+#.-]{1,40}$")

_formatter = HtmlFormatter(nowrap=True)


@lru_cache(maxsize=128)
def lexer_for(language: str) -> Lexer | None:
    if not LANGUAGE_NAME.match(language):
        return None
    try:
        return get_lexer_by_name(language)
    except ClassNotFound:
        return None


def highlighted_code(code: str, language: str) -> str:
    lexer = lexer_for(language.lower()) if language else None
    if lexer is None or len(code) > HIGHLIGHT_MAX_CHARS:
        return html.escape(code)
    return highlight(code, lexer, _formatter)


def code_block_html(code: str, language: str) -> str:
    """A code block with a bar naming its language and a copy button (wired by chat.js)."""
    label = html.escape(language) if language else "text"
    return (
        '<div class="code-block"><div class="code-block__bar">'
        f'<span class="code-block__lang">{label}</span>'
        '<button type="button" class="code-block__copy needs-js">Copy</button></div>'
        f'<pre class="highlight"><code>{highlighted_code(code, language)}</code></pre></div>\n'
    )


def render_fence(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    language = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
    return code_block_html(token.content, language)


def render_code_block(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return code_block_html(tokens[idx].content, "")


def render_image(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # A model's image would load from anywhere (a tracking pixel) and shift the layout as
    # it loads: show it as a link instead.
    token = tokens[idx]
    source = html.escape(str(token.attrGet("src") or ""))
    label = html.escape(renderer.renderInlineAsText(token.children or [], options, env))
    return f'<a href="{source}">{label or source}</a>'


def render_table_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # Wide tables scroll sideways inside their own box instead of widening the page.
    return '<div class="table-wrap"><table>\n'


def render_table_close(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return "</table></div>\n"


def make_parser() -> MarkdownIt:
    # html=False: raw HTML in the model's text is escaped and shown as text.
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable(["table", "strikethrough"])
    parser.add_render_rule("fence", render_fence)
    parser.add_render_rule("code_block", render_code_block)
    parser.add_render_rule("image", render_image)
    parser.add_render_rule("table_open", render_table_open)
    parser.add_render_rule("table_close", render_table_close)
    return parser


PYGMENTS_CLASSES = {name for name in STANDARD_TYPES.values() if name}

ALLOWED_TAGS = {
    "a",
    "blockquote",
    "br",
    "button",
    "code",
    "del",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}

cleaner = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    clean_content_tags={"script", "style"},
    attributes={"a": {"href", "title"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}},
    # Table alignment is the only style markdown-it writes; nothing else survives.
    filter_style_properties={"text-align"},
    tag_attribute_values={"button": {"type": {"button"}}},
    set_tag_attribute_values={"a": {"target": "_blank"}},
    allowed_classes={
        "div": {"code-block", "code-block__bar", "table-wrap"},
        "span": {*PYGMENTS_CLASSES, "code-block__lang"},
        "pre": {"highlight"},
        "button": {"code-block__copy", "needs-js"},
    },
    link_rel="noopener noreferrer nofollow",
    # No javascript:, data: or vbscript: links, and no links into this site.
    url_schemes={"http", "https", "mailto"},
    url_relative="deny",
)

_parser = make_parser()


def render_markdown(text: str) -> str:
    """Markdown (CommonMark + tables + strikethrough) as sanitised HTML."""
    return sanitise(_parser.render(text))


def sanitise(fragment: str) -> str:
    return cleaner.clean(fragment)
