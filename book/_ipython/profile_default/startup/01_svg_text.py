# Build-time kernels only (scripts/build_book.py sets IPYTHONDIR): a figure's SVG keeps its
# words as <text> elements instead of glyph outlines, so the browser draws them with the
# page's fonts and the Chinese edition can replace them (book/_ext/figure_text.py).
import matplotlib

matplotlib.rcParams["svg.fonttype"] = "none"
del matplotlib
