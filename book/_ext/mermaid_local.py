"""A minimal ``mermaid`` directive that draws diagrams with a vendored Mermaid.

Why not sphinxcontrib-mermaid: it imports Mermaid from a CDN, or from a URL written
into every page verbatim, which breaks for pages in sub-folders. Here the script is
registered with ``app.add_js_file``, so Sphinx writes the right relative path into
each page, and the site draws its diagrams without any network.

The diagram's box labels (``A["User behaviour data"]``) and its ``:alt:`` text are messages
of the page's gettext catalogue, like its paragraphs, so the Chinese edition draws the same
diagram with Chinese labels: the node is Sphinx-translatable (``addnodes.translatable``).

Usage in MyST markdown or a notebook markdown cell::

    ```{mermaid}
    graph TD
        A["Label"] --> B
    ```
"""

from __future__ import annotations

import html
import re

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from sphinx import addnodes

MERMAID_JS = "vendor/mermaid/mermaid.min.js"  # relative to html_static_path
INIT_JS = "mermaid-init.js"
#: A box's label: the quoted text of ``A["..."]``, ``A("...")`` or ``A{"..."}``.
LABEL = re.compile(r'[\[({]"([^"]+)"[\])}]')


def labels(source: str) -> list[str]:
    """The quoted box labels of a Mermaid diagram, in order, each once.

    >>> labels('graph TD\\n A["Data<br/>数据"] --> B["Model"]\\n B --> C["Data<br/>数据"]')
    ['Data<br/>数据', 'Model']
    """
    return list(dict.fromkeys(LABEL.findall(source)))


class mermaid_diagram(nodes.General, nodes.Element, addnodes.translatable):
    """A diagram's source and alt text; its labels and alt text are translatable messages."""

    def preserve_original_messages(self) -> None:
        self["original"] = (self["source"], self["alt"])

    def extract_original_messages(self) -> list[str]:
        source, alt = self.get("original", (self["source"], self["alt"]))
        return [*labels(source), alt]

    def apply_translated_message(self, original_message: str, translated_message: str) -> None:
        if original_message == self["alt"]:
            self["alt"] = translated_message
        quoted = re.compile(r'([\[({]")' + re.escape(original_message) + r'("[\])}])')
        self["source"] = quoted.sub(lambda m: m.group(1) + translated_message + m.group(2), self["source"])


class MermaidDirective(Directive):
    has_content = True
    option_spec = {"caption": directives.unchanged, "alt": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        source = "\n".join(self.content)
        if not source.strip():
            raise self.error("mermaid directive needs diagram source")
        alt = self.options.get("alt", self.options.get("caption", "diagram"))
        diagram = mermaid_diagram("", source=source, alt=alt)
        diagram.source, diagram.line = self.state_machine.get_source_and_line(self.lineno)
        if "caption" not in self.options:
            return [diagram]
        figure = nodes.figure("", diagram)
        caption = nodes.caption(self.options["caption"], self.options["caption"])
        caption.source, caption.line = diagram.source, diagram.line
        figure += caption
        return [figure]


def visit_html(self, node: mermaid_diagram) -> None:
    self.body.append(
        f'<div class="mermaid-figure"><pre class="mermaid" role="img" aria-label="{html.escape(node["alt"])}">'
        f"{html.escape(node['source'])}</pre></div>"
    )
    raise nodes.SkipNode


def skip(self, node: mermaid_diagram) -> None:
    # Other builders (LaTeX, text) have no Mermaid renderer; the caption still says what it shows.
    raise nodes.SkipNode


def _add_js(app, pagename, templatename, context, doctree) -> None:
    # Only pages with a diagram pay for the 3 MB script.
    if doctree is None:
        return
    if any(True for _ in doctree.findall(mermaid_diagram)):
        app.add_js_file(MERMAID_JS)
        app.add_js_file(INIT_JS)


def setup(app):
    app.add_node(
        mermaid_diagram,
        html=(visit_html, None),
        latex=(skip, None),
        text=(skip, None),
        man=(skip, None),
        texinfo=(skip, None),
    )
    app.add_directive("mermaid", MermaidDirective)
    app.connect("html-page-context", _add_js)
    return {"version": "1.1", "parallel_read_safe": True, "parallel_write_safe": True}
