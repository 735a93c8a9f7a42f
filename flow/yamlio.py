"""The one strict YAML reader of every file trigformer reads (model.yaml, sweep.yaml).

PyYAML's SafeLoader with: a size cap on the file, UTF-8 only, no anchors or aliases (so the loaded value is never
larger than the file: no alias bomb, no self-reference), a nesting limit, and no duplicate or merge keys (YAML would
silently keep the last one). Every refusal is one line naming the file and, where there is one, the line and the
dotted key. The caller passes the exception class its command maps to exit 2 (ConfigError, SweepError).
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml

MAX_YAML_BYTES = 1 << 20  # a model.yaml is well under 2 kB, a sweep.yaml a few kB
MAX_YAML_DEPTH = 8  # model.yaml needs 3 levels (section, key, list item), sweep.yaml 5 (random.space.KEY.DIST.[i])


def read_text(path: Path, error: type[Exception], kind: str = "model.yaml", max_bytes: int = MAX_YAML_BYTES,
              typical: str = "a few hundred bytes") -> str:
    """The file's text: a regular, readable, UTF-8 file of at most `max_bytes`; else `error` naming the file."""
    try:
        if path.is_dir():
            raise error(f"{path}: is a directory, not a {kind} file")
        if not path.exists():
            raise error(f"{path}: no such file")
        if not path.is_file():
            raise error(f"{path}: not a regular file")
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise error(f"{path}: cannot read it ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise error(f"{path}: larger than {max_bytes >> 10} KiB; a {kind} is {typical}")
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise error(f"{path} (line {line}): not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
                    f"save {kind} as UTF-8") from None


class _Refused(Exception):
    def __init__(self, mark, key: str, msg: str):
        super().__init__(msg)
        self.line, self.key, self.msg = mark.line + 1, key or "(top level)", msg


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader without anchors and aliases, and with a nesting limit.

    Refusing anchors (&a) and aliases (*a) outright, rather than capping the expanded size, keeps loading linear in
    the file size: a recursive alias or a billion-laughs bomb fails at its first anchor, before anything is expanded,
    and our files have nothing worth sharing. Merge keys (<<) are refused in key_lines for the same reason and
    because they silently override keys.
    """

    def __init__(self, text: str, kind: str, depth_hint: str):
        super().__init__(text)
        self.keys: list[str] = []  # dotted path of the node being composed
        self.kind, self.depth_hint = kind, depth_hint

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(parent, yaml.SequenceNode):
            part = str(index)
        elif isinstance(index, yaml.Node):  # a mapping value; index is its key node
            part = str(index.value) if isinstance(index, yaml.ScalarNode) else "?"
        else:  # the document, or a mapping key
            part = None
        dotted = ".".join(self.keys + ([part] if part is not None else []))
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(event.start_mark, dotted, "YAML anchors and aliases (&name, *name) are not accepted "
                                                     "(write the value out)")
        if len(self.keys) >= MAX_YAML_DEPTH:
            raise _Refused(event.start_mark, ".".join(self.keys[:3]) + "...",
                           f"nested too deep (more than {MAX_YAML_DEPTH} levels; {self.depth_hint})")
        if part is not None:
            self.keys.append(part)
        try:
            return super().compose_node(parent, index)
        finally:
            if part is not None:
                self.keys.pop()


def parse(path: Path, text: str, error: type[Exception], kind: str = "model.yaml",
          depth_hint: str = "model.yaml needs 3") -> tuple[Any, dict[tuple[str, ...], int]]:
    """(the YAML's Python value, line of each key path); refuses duplicates, anchors, aliases and merge keys."""
    loader = None
    try:
        loader = _StrictLoader(text, kind, depth_hint)  # the reader refuses control characters here
        root = loader.get_single_node()
        if root is None:
            return None, {}
        lines = key_lines(root)
        return loader.construct_document(root), lines
    except _Refused as e:
        raise error(f"{path} (line {e.line}): {e.key}: {e.msg}") from None
    except yaml.reader.ReaderError as e:  # a control character; the reader gives an offset, not a line
        line = text.count("\n", 0, e.position) + 1
        raise error(f"{path} line {line}: not valid YAML (character #x{e.character:04x}: {e.reason})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = " ".join(filter(None, (getattr(e, "context", None), getattr(e, "problem", None)))) or e
        raise error(f"{path}{where}: not valid YAML ({problem})") from None
    except RecursionError:  # deeply nested flow collections ([[[[...) recurse in PyYAML's parser itself
        raise error(f"{path}: nested too deep (more than {MAX_YAML_DEPTH} levels; {depth_hint})") from None
    finally:
        if loader is not None:
            loader.dispose()


def key_lines(root: yaml.Node) -> dict[tuple[str, ...], int]:
    """Map each key path in the YAML to its 1-based line number; refuse duplicate keys and merge keys."""
    out: dict[tuple[str, ...], int] = {}

    def walk(node, prefix):
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for k, v in node.value:
                key = prefix + (str(k.value) if isinstance(k, yaml.ScalarNode) else "?",)
                line = k.start_mark.line + 1
                if k.tag == "tag:yaml.org,2002:merge":
                    raise _Refused(k.start_mark, ".".join(key), "YAML merge keys (<<) are not accepted (write the "
                                                                "keys out)")
                if (k.tag, key[-1]) in seen:
                    raise _Refused(k.start_mark, ".".join(key), f"duplicate key (lines {seen[k.tag, key[-1]]} and "
                                                                f"{line}); YAML would silently keep the last one")
                seen[k.tag, key[-1]] = out[key] = line
                walk(v, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                out[prefix + (str(i),)] = v.start_mark.line + 1
                walk(v, prefix + (str(i),))

    walk(root, ())
    return out
