# Kernel settings for executing the book's notebooks at build time (scripts/build_book.py
# points IPYTHONDIR here). TensorFlow's C++ runtime writes start-up notices (oneDNN, "no CUDA
# drivers") straight to file descriptor 2; ipykernel would copy them into every page that
# trains a model. With fd capture off they go to the build log instead. Python-level
# warnings and errors are still shown on the page.
c = get_config()  # noqa: F821
c.IPKernelApp.capture_fd_output = False
# Figures as "retina" PNGs: twice the pixels, shown at half size (the <img> carries the
# width), so tick labels stay sharp in the 752 px text column.
c.InlineBackend.figure_formats = {"retina"}
