"""Read a YAML file into plain Python values plus the line of every mapping key and list item.

PyYAML's node tree keeps positions that its constructed objects lose; building the values from the
nodes ourselves keeps them, and lets us refuse duplicate keys, cycles and alias bombs.
"""

from __future__ import annotations

from typing import Any

import yaml

from nkescape.atlas.errors import Problem

Path = tuple[str | int, ...]
Lines = dict[Path, int]

# libyaml's parser is about ten times faster than the pure-Python one and keeps the same marks.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# A file of the atlas has a few thousand nodes; aliases can make a tiny file expand without bound,
# so construction stops at this many nodes (a limit on work, not a property of the data).
MAX_NODES = 1_000_000


class _Build:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: Lines = {}
        self.problems: list[Problem] = []
        self.constructor = yaml.SafeLoader("")
        self.nodes = 0
        self.stack: set[int] = set()

    def problem(self, node: yaml.Node, path: Path, message: str) -> None:
        self.problems.append(
            Problem(self.file, node.start_mark.line + 1, dotted(path) or "(file)", message)
        )

    def value(self, node: yaml.Node, path: Path) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBigError
        self.lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self.stack:
            self.problem(node, path, "an alias refers to itself (remove the recursive alias)")
            return None
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.constructor.construct_object(node, deep=True)
            except Exception as exc:  # PyYAML raises many types for bad scalars
                self.problem(node, path, f"cannot read value {node.value!r}: {_first_line(exc)}")
                return None
        self.stack.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, path)
        finally:
            self.stack.discard(id(node))
        self.problem(node, path, "unsupported YAML node")
        return None

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, path, "a key must be a plain name (not a list or mapping)")
                continue
            key = str(key_node.value)
            if key in out:
                self.problem(
                    key_node,
                    (*path, key),
                    f"duplicate key {key!r} (line {self.lines[(*path, key)]} has it already; "
                    "keep one)",
                )
                continue
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = self.value(value_node, (*path, key))
        return out


class _TooBigError(Exception):
    pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def dotted(path: Path) -> str:
    """``("legs", 3, "duration_days", "median")`` -> ``legs[3].duration_days.median``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def line_of(lines: Lines, path: Path) -> int | None:
    """The line of ``path`` in a file, or of the nearest enclosing path that has one."""
    for end in range(len(path), -1, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None


def read_yaml(text: str, file: str) -> tuple[Any, Lines, list[Problem]]:
    """Parse ``text``; return the value, the line of each path in it, and the problems found."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.reader.ReaderError as exc:
        # The reader refuses characters YAML does not allow (most control characters); its
        # position counts characters of the text, which gives the line.
        at = text.count("\n", 0, max(exc.position, 0)) + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1])
        message = f"character U+{char:04X} is not allowed in YAML ({exc.reason}; remove it)"
        return None, {}, [Problem(file, at, "(file)", message)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "invalid YAML"
        return None, {}, [Problem(file, line, "(file)", f"not valid YAML: {what} (fix the syntax)")]
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        return None, {}, [Problem(file, None, "(file)", f"not valid YAML: {_first_line(exc)}")]
    if node is None:
        return None, {}, []
    build = _Build(file)
    try:
        value = build.value(node, ())
    except _TooBigError:
        return (
            None,
            {},
            [
                Problem(
                    file,
                    None,
                    "(file)",
                    f"more than {MAX_NODES} values after expanding aliases (split the file or "
                    "remove aliases)",
                )
            ],
        )
    except RecursionError:
        return None, {}, [Problem(file, None, "(file)", "nesting too deep (flatten the file)")]
    return value, build.lines, build.problems
