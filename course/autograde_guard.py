"""Autograding guard: the library's reference of an exercise is unavailable to the answer.

``scripts/course.py autograde`` starts every grading kernel with this file
(:func:`kernel_argument`: ``--IPKernelApp.exec_lines``, run in a namespace of its own) and
points the environment variable ``MTREC_COURSE_GUARD`` at a JSON file of the assignment,
``{"exercises": {function name: [reference, ...]}}``, read from the ``mtrec.references``
metadata of each solution cell. A reference is a dotted path: a function
(``mtrec_lib.metrics.ndcg_at_k``), a class (``mtrec_lib.models.MMoE``: creating one is
guarded) or a method (``mtrec_lib.models.MMoE.gate_weights``).

What it does, before the notebook's first cell runs:

* Every reference is replaced, in every ``mtrec_lib`` module that holds it (so
  ``from mtrec_lib.metrics import ndcg_at_k`` and ``import mtrec_lib.metrics as m`` get the
  guarded object too), by a wrapper that raises :class:`ReferenceCallError` when it is
  called, directly or through any helper, from inside the exercise's own function or class
  (its frame is on the call stack). The tests call the same reference from their own cells,
  where nothing of the answer is on the stack, and get the library's result.
* After every cell, an exercise name bound to a reference itself (``ndcg_at_k =
  mt.metrics.ndcg_at_k``, a ``functools.partial`` of it, a subclass of a reference class) is
  replaced by a function that raises the same error.
* Before every cell the library's attributes are put back, so an answer that rebinds
  ``mt.metrics.ndcg_at_k`` in its cell does not change what the next test cell compares with.

The guard stops the honest mistake and the lazy shortcut, not a determined attack from
inside Python (reloading a module, reading a wrapper's ``__wrapped__``): the course guide
says so, and the autograded notebooks are there to be read.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import sys

ENV = "MTREC_COURSE_GUARD"


class ReferenceCallError(RuntimeError):
    """An exercise's answer called the library function it is graded against."""


def _resolve(path: str):
    """``(owner, attribute name, object)`` of a dotted path, importing the module part."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
            break
        except ImportError:
            continue
    else:
        raise ImportError(f"cannot import any module of {path!r}")
    owner = None
    for name in parts[i:]:
        owner, obj = obj, getattr(obj, name)
    return owner, parts[-1], obj


def _message(path: str, exercise: str) -> str:
    return (
        f"{path} is the reference that '{exercise}' is graded against, so the autograder makes it "
        f"unavailable inside '{exercise}': write the computation yourself (the statement says which "
        "tools you may use)."
    )


class Guard:
    """Installs the wrappers and the IPython hooks; one per grading kernel."""

    def __init__(self, exercises: dict[str, list[str]], namespace: dict):
        self.namespace = namespace
        self.exercises = {name: list(refs) for name, refs in exercises.items() if refs}
        self.codes: dict[object, str] = {}  # code object of an answer -> its exercise
        self.originals: dict[int, str] = {}  # id of a reference's original object -> its path
        self.guarded: dict[int, str] = {}  # id of a wrapper -> path
        self.classes: dict[type, str] = {}
        self.restore: list[tuple[object, str, object]] = []  # (owner, attribute, wrapper)
        self.by_path: dict[str, list[str]] = {}
        for exercise, refs in self.exercises.items():
            for path in refs:
                self.by_path.setdefault(path, []).append(exercise)
        for path, names in self.by_path.items():
            self._install(path, frozenset(names))

    # -- which answer is running -------------------------------------------------------
    def _culprit(self, names: frozenset) -> str | None:
        frame = sys._getframe(2)
        while frame is not None:
            code = frame.f_code
            exercise = self.codes.get(code)
            if exercise in names:
                return exercise
            # A function of that name in a notebook cell (not one of an installed package's).
            if code.co_name in names and not code.co_filename.startswith(_LIBRARY) and not _installed(code):
                return code.co_name
            frame = frame.f_back
        return None

    def _wrap(self, original, path: str, names: frozenset):
        guard = self

        @functools.wraps(original)
        def guarded(*args, **kwargs):
            exercise = guard._culprit(names)
            if exercise is not None:
                raise ReferenceCallError(_message(path, exercise))
            return original(*args, **kwargs)

        try:
            guarded.__signature__ = inspect.signature(original)
        except (TypeError, ValueError):
            pass
        self.guarded[id(guarded)] = path
        return guarded

    def _install(self, path: str, names: frozenset) -> None:
        owner, attr, obj = _resolve(path)
        if isinstance(obj, type):
            init = obj.__init__
            wrapper = self._wrap(init, path, names)
            obj.__init__ = wrapper
            self.restore.append((obj, "__init__", wrapper))
            self.classes[obj] = path
            self.originals[id(obj)] = path
            return
        original = inspect.unwrap(obj) if id(obj) in self.guarded else obj
        wrapper = self._wrap(original, path, names)
        self.originals[id(original)] = path
        if isinstance(owner, type):
            setattr(owner, attr, wrapper)
            self.restore.append((owner, attr, wrapper))
            return
        # Every module of the library that holds the function (re-exports included).
        for mod_name, module in list(sys.modules.items()):
            if module is None or not (mod_name == "mtrec_lib" or mod_name.startswith("mtrec_lib.")):
                continue
            for name, value in list(vars(module).items()):
                if value is original:
                    setattr(module, name, wrapper)
                    self.restore.append((module, name, wrapper))

    # -- IPython hooks -----------------------------------------------------------------
    def before_cell(self, *_args) -> None:
        for owner, attr, wrapper in self.restore:
            if getattr(owner, attr, None) is not wrapper:
                setattr(owner, attr, wrapper)

    def after_cell(self, *_args) -> None:
        for exercise in self.exercises:
            value = self.namespace.get(exercise)
            if value is None:
                continue
            path = self._reference_in(value)
            if path is not None:
                self.namespace[exercise] = _refusing(_message(path, exercise))
                continue
            for code in _codes_of(value):
                self.codes[code] = exercise

    def _reference_in(self, value) -> str | None:
        """The reference a bound name is (or wraps directly), else None."""
        seen = value
        for _ in range(5):
            if id(seen) in self.guarded:
                return self.guarded[id(seen)]
            if id(seen) in self.originals:
                return self.originals[id(seen)]
            if isinstance(seen, functools.partial):
                seen = seen.func
            elif inspect.ismethod(seen):
                seen = seen.__func__
            else:
                break
        if isinstance(value, type):
            for cls, path in self.classes.items():
                if value is not cls and issubclass(value, cls):
                    return path
        return None


_LIBRARY = os.path.dirname(os.path.abspath(__file__))  # replaced by mtrec_lib's folder in install()


def _installed(code) -> bool:
    """Whether a code object comes from an installed package rather than a notebook cell."""
    parts = code.co_filename.replace("\\", "/").split("/")
    return "site-packages" in parts or "dist-packages" in parts


def _codes_of(value) -> list:
    """Code objects of a function, or of every function defined in a class's body."""
    funcs = []
    if inspect.isfunction(value):
        funcs.append(value)
    elif isinstance(value, type):
        for member in vars(value).values():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                funcs += [f for f in (member.fget, member.fset) if f is not None]
            elif inspect.isfunction(member):
                funcs.append(member)
    codes, stack = [], [f.__code__ for f in funcs]
    while stack:  # nested functions and lambdas too
        code = stack.pop()
        codes.append(code)
        stack += [c for c in code.co_consts if inspect.iscode(c)]
    return codes


def _refusing(message: str):
    def refused(*_args, **_kwargs):
        raise ReferenceCallError(message)

    return refused


def install(config_path: str | None = None, shell=None) -> Guard | None:
    """Read the assignment's JSON and guard its references in this IPython kernel."""
    global _LIBRARY
    config_path = config_path or os.environ.get(ENV)
    if not config_path:
        return None
    import mtrec_lib

    _LIBRARY = os.path.dirname(os.path.abspath(mtrec_lib.__file__))
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    guard = Guard(config.get("exercises", {}), shell.user_ns)
    shell.events.register("pre_run_cell", guard.before_cell)
    shell.events.register("post_run_cell", guard.after_cell)
    return guard


def kernel_argument(guard_file: str) -> str:
    """The kernel option that installs the guard at start-up, in a namespace of its own."""
    line = f"__import__('runpy').run_path({guard_file!r}, run_name='mtrec_course_guard')['install']();"
    return f"--IPKernelApp.exec_lines={[line]!r}"
