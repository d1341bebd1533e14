"""Keep the built site self-contained.

Jupyter Book 1 always loads sphinx-thebe, which declares a script that points at a CDN
(unpkg) and, in this version, is written into each page twice, raising a console error.
The book disables Thebe (launch buttons open Binder, Colab or JupyterHub instead), so its
scripts are dropped from every page here; tests/test_site_browser.py checks that no page
requests another host. sphinx-thebe also appends its configuration to every page, naming a
default repository (binder-examples/...) that has nothing to do with the book; that block is
dropped too.
"""

from __future__ import annotations

from docutils import nodes


def _is_thebe(asset) -> bool:
    filename = getattr(asset, "filename", None) or ""
    body = (getattr(asset, "attributes", {}) or {}).get("body", "")
    return "thebe" in filename or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _is_thebe(a)]


def _is_thebe_config(node: nodes.Node) -> bool:
    text = node.astext()
    return "text/x-thebe-config" in text or text.startswith("<script>kernelName =")


def _drop_thebe_config(app, doctree, docname) -> None:
    for node in list(doctree.findall(nodes.raw)):
        if _is_thebe_config(node):
            node.parent.remove(node)


def setup(app):
    # Run after every extension that adds assets (default priority is 500).
    app.connect("html-page-context", _drop_thebe, priority=900)
    # After sphinx-thebe appends its configuration to the page (also at the default priority).
    app.connect("doctree-resolved", _drop_thebe_config, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
