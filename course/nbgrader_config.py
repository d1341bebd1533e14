"""nbgrader configuration of the book's coursework.

``scripts/course.py`` copies this file into every course folder it creates (``build/course``
for a release, ``build/grading`` for an autograding run); nbgrader reads it from there, so
edit it here and rerun the script. On a JupyterHub, the course guide of the book
(``book/course_guide.md``) says which lines to change.
"""

c = get_config()  # noqa: F821  (nbgrader defines get_config when it loads this file)

# Course id: the name students see in the Assignments tab on a JupyterHub.
c.CourseDirectory.course_id = "mtrec"

# Files that are never copied into a release or a submission.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__"]

# What replaces a solution in the student version.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Autograding executes every notebook. The exercises run in seconds; the limit only
# stops a student's endless loop (the cell then scores 0 and grading goes on).
c.Execute.timeout = 120
# Grade with this kernel whatever kernel name the student's notebook carries (Colab,
# a conda environment, ...). It must be able to `import mtrec_lib`.
c.Execute.kernel_name = "python3"

# On a JupyterHub with nbgrader's exchange (see the course guide), uncomment and adapt:
# c.Exchange.root = "/srv/nbgrader/exchange"
# c.CourseDirectory.root = "/home/instructor/mtrec-course"
