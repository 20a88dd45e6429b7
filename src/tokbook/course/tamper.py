"""Static checks that flag a submitted notebook which looks tampered with.

The flags never change a score (grading restores the test cells and hidden tests compare with
literals); they tell the instructor which notebooks deserve a look. :func:`tamper_flags` compares
the submission with the released notebook and reads the code a student could have written:

``edited test cell <id>`` / ``edited locked cell <id>``
    a locked cell (a test, or the setup cell) whose code differs from the release, or, for a cell
    released in an earlier version (its stored checksum is not today's), from that version;
``deleted test cell <id>`` / ``deleted locked cell <id>``
    a locked cell of the release that is nowhere in the submission;
``stripped metadata``
    cells of the release that are present but lost their nbgrader metadata;
``altered nbgrader metadata <id>``
    a cell whose nbgrader metadata (points, grade, solution, locked) differs from the release;
``monkeypatches tokbook (...)``
    assigning to or deleting attributes of ``tokbook`` modules, ``setattr`` on them, replacing
    ``sys.modules['tokbook...']``, or rebinding a name that a locked cell imported from tokbook;
``monkeypatches builtins (...)``
    assigning to ``builtins.X`` / ``__builtins__``, or rebinding a builtin name (``len``, ``type``,
    ``AssertionError``...) at the top level of a cell, where the tests would see it;
``IPython hooks (...)``
    input or AST transformers, custom exception handlers, event callbacks, trace functions,
    magics that register code to run around every cell.
``forbidden call in <task>: <what> (...)``
    a task whose solution cell in the exercise source declares ``:forbid: [...]`` uses one of
    those: see :func:`forbidden_calls`.
"""

from __future__ import annotations

import ast
import builtins
import re

import nbformat
from nbformat import NotebookNode
from nbgrader.utils import compute_checksum

from tokbook.course.notebook import nbgrader_metadata

__all__ = ["forbidden_calls", "tamper_flags"]

_BUILTIN_NAMES = {n for n in vars(builtins) if not n.startswith("_")} | {"__import__", "__build_class__"}
_HOOKS = re.compile(
    r"\b(input_transformers_(?:cleanup|post)|input_transformer_manager|ast_transformers|input_splitter|"
    r"set_custom_exc|register_magic_function|register_magics|events\s*\.\s*register|"
    r"settrace|setprofile|excepthook|displayhook|run_line_magic|run_cell_magic|"
    r"pre_run_cell|post_run_cell|pre_execute|post_execute)\b"
)
_HOOK_MAGICS = re.compile(r"^\s*%+\s*(load_ext|autoreload|aimport|xmode|run|load)\b", re.M)
_NBGRADER_KEYS = ("grade", "solution", "locked", "points")


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _checksum(cell) -> str | None:
    """nbgrader's checksum of a cell as it is now (None if its metadata cannot be checksummed)."""
    try:
        return compute_checksum(nbformat.from_dict(cell))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _received_checksum(cell, rmeta: dict) -> str | None:
    """The checksum stored in a submitted cell when it differs from the current release's.

    nbgrader writes a checksum of each locked, graded and solution cell into the release. A
    submitted cell whose stored checksum is not the current release's was released in an earlier
    version, so comparing it with today's release would flag every student after a test is fixed.
    """
    if cell is None:
        return None
    stored = nbgrader_metadata(cell).get("checksum")
    return stored if isinstance(stored, str) and stored != rmeta.get("checksum") else None


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _python(code: str) -> ast.Module | None:
    """Parse a cell as Python, with IPython's ``%magic`` and ``!shell`` lines blanked out."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return None


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _tokbook_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names bound to tokbook modules, and names imported from them, by this cell's imports."""
    modules, imported = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "tokbook" or alias.name.startswith("tokbook."):
                    modules.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tokbook":
            for alias in node.names:
                imported.add(alias.asname or alias.name)
    return modules, imported


def _top_level_bindings(tree: ast.Module) -> set[str]:
    """Names a cell binds at module level (where the test cells would see them)."""
    names: set[str] = set()

    def targets(node):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                targets(elt)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    def visit(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    targets(t)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets(node.target)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                targets(node.target)
                visit(node.body + node.orelse)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
                visit(node.body)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    names.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, (ast.If, ast.While)):
                visit(node.body + node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body + node.orelse + node.finalbody)
                for handler in node.handlers:
                    visit(handler.body)
            elif isinstance(node, ast.Delete):
                for t in node.targets:
                    targets(t)

    visit(tree.body)
    return names


def _patches(tree: ast.Module, tokbook_modules: set[str], tokbook_imported: set[str]) -> tuple[set[str], set[str]]:
    """What a cell patches: (tokbook targets, builtins targets)."""
    tok, blt = set(), set()
    builtin_modules = {"builtins", "__builtins__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "builtins" and alias.asname:
                    builtin_modules.add(alias.asname)
    for node in ast.walk(tree):
        written = []
        if isinstance(node, ast.Assign):
            written = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            written = [node.target]
        elif isinstance(node, ast.Delete):
            written = node.targets
        for target in written:
            if isinstance(target, (ast.Attribute, ast.Subscript)):
                root = _root_name(target)
                text = ast.unparse(target)
                if root in tokbook_modules:
                    tok.add(text)
                elif root in builtin_modules:
                    blt.add(text)
                elif root == "sys" and text.startswith("sys.modules["):
                    key = target.slice if isinstance(target, ast.Subscript) else None
                    value = key.value if isinstance(key, ast.Constant) else None
                    if isinstance(value, str) and value.split(".")[0] == "tokbook":
                        tok.add(text)
                    elif value in ("builtins", "__builtins__"):
                        blt.add(text)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            if node.args:
                root = _root_name(node.args[0])
                if root in tokbook_modules:
                    tok.add(ast.unparse(node)[:60])
                elif root in builtin_modules:
                    blt.add(ast.unparse(node)[:60])
    for name in _top_level_bindings(tree):
        if name in _BUILTIN_NAMES:
            blt.add(name)
        if name in tokbook_imported:
            tok.add(name)
    return tok, blt


#: Types whose methods a rule can name (``str.encode``); any other dotted name is a module.
_RULE_TYPES = {"str", "bytes", "bytearray", "memoryview", "int", "float", "list", "dict", "set", "tuple"}
#: Calls that do a method's work without naming it: ``bytes(text, "utf-8")`` encodes.
_CONSTRUCTOR_DOES = {("bytes", "str.encode"), ("bytearray", "str.encode"), ("str", "bytes.decode")}


def _rules(cell) -> list[str]:
    rules = (cell.get("metadata") or {}).get("forbid", [])
    if not isinstance(rules, list) or not all(isinstance(r, str) and re.fullmatch(r"[A-Za-z_][\w.]*", r)
                                              for r in rules):
        raise ValueError(f"the exercise's ':forbid:' of cell {cell.get('id')!r} must be a list of dotted "
                         f"names like [str.encode, codecs], got {rules!r}")
    return rules


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _uses(tree: ast.AST, rule: str, modules: set[str]) -> list[str]:
    """Where ``tree`` uses what ``rule`` names: a method (``str.encode``) or a module (``codecs``).

    ``modules`` are names bound by imports: ``utf8.decode`` is a function of a module, not a method.
    """
    found = []
    owner, _, method = rule.rpartition(".")
    if owner in _RULE_TYPES:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == method:
                if _root_name(node.value) not in modules:
                    found.append(ast.unparse(node))
            elif isinstance(node, ast.Call):
                name = _dotted(node.func)
                if (name, rule) in _CONSTRUCTOR_DOES and (len(node.args) > 1 or node.keywords):
                    found.append(ast.unparse(node)[:40])
                elif name in ("getattr", "methodcaller", "operator.methodcaller") and any(
                        isinstance(a, ast.Constant) and a.value == method for a in node.args):
                    found.append(ast.unparse(node)[:40])
        return found
    module = rule
    parent, _, last = rule.rpartition(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name == module or a.name.startswith(module + ".")]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == module or node.module.startswith(module + "."):
                found.append(f"from {node.module} import ...")
            elif node.module == parent and any(a.name == last for a in node.names):
                found.append(f"from {parent} import {last}")
        elif isinstance(node, ast.Attribute) and _dotted(node) == module:
            found.append(module)
        elif isinstance(node, ast.Call) and (_dotted(node.func) in ("__import__", "importlib.import_module")):
            if any(isinstance(a, ast.Constant) and a.value in (module, parent or None) for a in node.args):
                found.append(ast.unparse(node)[:40])
    return found


def forbidden_calls(submission: NotebookNode | dict, release: NotebookNode | dict) -> list[str]:
    """Flags for tasks that use what their solution cell forbids (``:forbid: [...]`` in the source).

    The task's cell is found by grade id (or cell id) in the submission; functions it calls that
    the student defined in other cells are read too (so a helper in a scratch cell counts), but
    the scratch cells themselves may use anything. A function of another task's cell is judged by
    that task's rules only (a task that calls ``encode_codepoint`` is not flagged for what it does).
    Static analysis has limits: a name built at
    run time (``getattr(s, "enc" + "ode")``, ``eval``) is not seen.

    >>> rel = {"cells": [{"cell_type": "code", "id": "t1", "source": "",
    ...                   "metadata": {"forbid": ["str.encode"], "nbgrader": {"grade_id": "t1"}}}]}
    >>> sub = {"cells": [{"cell_type": "code", "id": "t1", "metadata": {"nbgrader": {"grade_id": "t1"}},
    ...                   "source": "utf8 = lambda s: s.encode('utf-8')"}]}
    >>> forbidden_calls(sub, rel)
    ['forbidden call in t1: str.encode (s.encode)']
    """
    sub_cells = [c for c in submission.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]
    trees = {id(c): _python(_source(c)) for c in sub_cells}
    # Functions that other task cells define are judged by their own task's rules, not followed.
    tasks = {nbgrader_metadata(c).get("grade_id") for c in release.get("cells", [])
             if nbgrader_metadata(c).get("solution")}
    defined: dict[str, ast.AST] = {}
    modules: set[str] = set()
    for cell in sub_cells:
        tree = trees[id(cell)]
        in_task = bool(tasks & {nbgrader_metadata(cell).get("grade_id"), cell.get("id")})
        for node in tree.body if tree is not None else []:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not in_task:
                defined.setdefault(node.name, node)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                modules |= {a.asname or a.name.split(".")[0] for a in node.names}
    flags = []
    for rcell in release.get("cells", []):
        rules = _rules(rcell)
        task = nbgrader_metadata(rcell).get("grade_id")
        if not rules or not task:
            continue
        cell = next((c for c in sub_cells if nbgrader_metadata(c).get("grade_id") == task), None) or next(
            (c for c in sub_cells if c.get("id") == task), None)
        tree = trees.get(id(cell)) if cell is not None else None
        if tree is None:
            continue
        todo, seen = [tree], set()
        while todo:  # this cell, and the functions of other cells that it calls, transitively
            node = todo.pop()
            for call in ast.walk(node):
                if isinstance(call, ast.Name) and call.id in defined and call.id not in seen:
                    seen.add(call.id)
                    todo.append(defined[call.id])
        bodies = [tree, *(defined[name] for name in sorted(seen))]
        found = {rule: sorted({use for body in bodies for use in _uses(body, rule, modules)}) for rule in rules}
        used = [f"{rule} ({', '.join(uses[:3])})" for rule, uses in found.items() if uses]
        if used:
            flags.append(f"forbidden call in {task}: {'; '.join(used)}")
    return flags


def tamper_flags(submission: NotebookNode | dict, release: NotebookNode | dict) -> list[str]:
    """Return the flags (sorted, human-readable) of ``submission`` compared with ``release``."""
    sub_cells = [c for c in submission.get("cells", []) if isinstance(c, dict)]
    flags: set[str] = set()

    by_grade_id = {}
    for cell in sub_cells:
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if isinstance(grade_id, str):
            by_grade_id.setdefault(grade_id, cell)
    by_cell_id = {c.get("id"): c for c in sub_cells if c.get("id")}
    sub_sources = {_norm(_source(c)) for c in sub_cells}

    locked_sources: set[str] = set()
    tokbook_imported_by_locked: set[str] = set()
    stripped = 0
    for rcell in release.get("cells", []):
        rmeta = nbgrader_metadata(rcell)
        grade_id = rmeta.get("grade_id")
        if not grade_id:
            continue
        kind = "test" if rmeta.get("grade") else "locked" if rmeta.get("locked") else None
        rsource = _norm(_source(rcell))
        if kind:
            locked_sources.add(rsource)
            tree = _python(_source(rcell))
            if tree is not None:
                tokbook_imported_by_locked |= _tokbook_names(tree)[1]
        cell = by_grade_id.get(grade_id)
        has_metadata = cell is not None
        if cell is None:
            cell = by_cell_id.get(grade_id)
            if cell is not None or (kind and rsource in sub_sources):
                stripped += 1
        received = _received_checksum(cell, rmeta) if has_metadata else None
        if cell is not None and received is not None:
            # The student got another version of this cell (the instructor changed it since):
            # judge the cell against the checksum nbgrader stored in it, not the current release.
            if kind and _checksum(cell) != received:
                flags.add(f"edited {kind} cell {grade_id}")
            continue
        if has_metadata:
            smeta = nbgrader_metadata(cell)
            changed = [k for k in _NBGRADER_KEYS if smeta.get(k) != rmeta.get(k)]
            if changed:
                flags.add(f"altered nbgrader metadata {grade_id} ({', '.join(changed)})")
        if not kind:
            continue
        if cell is None:
            if rsource not in sub_sources:
                flags.add(f"deleted {kind} cell {grade_id}")
        elif _norm(_source(cell)) != rsource:
            flags.add(f"edited {kind} cell {grade_id}")
    if stripped:
        flags.add("stripped metadata")

    tok_all, blt_all, hooks = set(), set(), set()
    for cell in sub_cells:
        if cell.get("cell_type") != "code":
            continue
        code = _source(cell)
        if _norm(code) in locked_sources:
            continue  # an untouched locked cell of the release
        hooks |= {m.group(1) for m in _HOOKS.finditer(code)}
        hooks |= {"%" + m.group(1) for m in _HOOK_MAGICS.finditer(code)}
        tree = _python(code)
        if tree is None:
            continue
        modules, imported = _tokbook_names(tree)
        # Attributes of anything taken from tokbook (``from tokbook import utf8``) count; importing
        # the same names again, as the setup cell does, does not.
        tok, blt = _patches(tree, modules | imported | {"tokbook"}, tokbook_imported_by_locked - imported)
        tok_all |= tok
        blt_all |= blt
    if tok_all:
        flags.add(f"monkeypatches tokbook ({', '.join(sorted(tok_all))})")
    if blt_all:
        flags.add(f"monkeypatches builtins ({', '.join(sorted(blt_all))})")
    if hooks:
        flags.add(f"IPython hooks ({', '.join(sorted(hooks))})")
    flags.update(forbidden_calls(submission, release))
    return sorted(flags)
