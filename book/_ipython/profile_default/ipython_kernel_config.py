# Kernel settings for executing the book's notebooks at build time (scripts/build_book.py
# points IPYTHONDIR here). TensorFlow's C++ runtime writes start-up notices (oneDNN, "no CUDA
# drivers") straight to file descriptor 2; ipykernel would copy them into every page that
# trains a model. With fd capture off they go to the build log instead. Python-level
# warnings and errors are still shown on the page.
c = get_config()  # noqa: F821
c.IPKernelApp.capture_fd_output = False
# Figures in two formats. The site shows the SVG: sharp at any zoom, and its words are text
# (startup/01_svg_text.py), so the Chinese edition can translate titles, axis labels and
# legends (book/_ext/figure_text.py) without executing the notebook again. The PDF takes the
# "retina" PNG (twice the pixels; LaTeX cannot include SVG).
c.InlineBackend.figure_formats = {"svg", "retina"}
