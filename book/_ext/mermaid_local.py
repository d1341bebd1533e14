"""A minimal ``mermaid`` directive that draws diagrams with a vendored Mermaid.

Why not sphinxcontrib-mermaid: it imports Mermaid from a CDN, or from a URL written
into every page verbatim, which breaks for pages in sub-folders. Here the script is
registered with ``app.add_js_file``, so Sphinx writes the right relative path into
each page, and the site draws its diagrams without any network.

Usage in MyST markdown or a notebook markdown cell::

    ```{mermaid}
    graph TD
        A --> B
    ```
"""

from __future__ import annotations

import html

from docutils import nodes
from docutils.parsers.rst import Directive, directives

MERMAID_JS = "vendor/mermaid/mermaid.min.js"  # relative to html_static_path
INIT_JS = "mermaid-init.js"


class MermaidDirective(Directive):
    has_content = True
    option_spec = {"caption": directives.unchanged, "alt": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        source = "\n".join(self.content)
        if not source.strip():
            raise self.error("mermaid directive needs diagram source")
        alt = self.options.get("alt", self.options.get("caption", "diagram"))
        raw = nodes.raw(
            "",
            f'<div class="mermaid-figure"><pre class="mermaid" role="img" aria-label="{html.escape(alt)}">'
            f"{html.escape(source)}</pre></div>",
            format="html",
        )
        if "caption" not in self.options:
            return [raw]
        figure = nodes.figure("", raw)
        figure += nodes.caption("", self.options["caption"])
        return [figure]


def _add_js(app, pagename, templatename, context, doctree) -> None:
    # Only pages with a diagram pay for the 3 MB script.
    if doctree is None:
        return
    has_diagram = any('class="mermaid"' in n.astext() for n in doctree.findall(nodes.raw))
    if has_diagram:
        app.add_js_file(MERMAID_JS)
        app.add_js_file(INIT_JS)


def setup(app):
    app.add_directive("mermaid", MermaidDirective)
    app.connect("html-page-context", _add_js)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
