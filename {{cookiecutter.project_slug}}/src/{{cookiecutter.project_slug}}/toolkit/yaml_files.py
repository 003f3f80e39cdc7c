"""Reading the YAML files that users write (run configs) and that runs record
(metadata.yaml), so that any file, however broken, gives a value or a short reason.

- `1e-4` is the float it looks like. YAML 1.1, which PyYAML follows, wants `1.0e-4`
  and reads `1e-4` as a string, which an optimizer then rejects with a traceback.
- A duplicate key is an error, not a silent choice of the last one.
- Aliases (`*name`) may repeat values in a config, adding up to MAX_NODES values in
  all: nine levels of ten aliases each make a 10**9-value "alias bomb" from a few lines.
  A file without aliases is never refused for its size, however long: its values are
  no more than its text. A record never has aliases, since runs write theirs with
  `dump` below (which also quotes a string such as "1e-4", so that it reads back as a
  string).
- Nesting deeper than MAX_DEPTH is refused: no config or record comes near it.
- Only regular files are read (a FIFO would block the reader forever), as UTF-8 with
  or without a byte-order mark.
"""

import itertools
import os
import re
import reprlib
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import yaml

METADATA_FILE = "metadata.yaml"  # a run's record, in its run directory
MAX_NODES = 10_000
MAX_DEPTH = 100
FLOAT_TAG = "tag:yaml.org,2002:float"
# YAML 1.2's floats (an exponent without a dot: 1e-4, 1E+6, .5e3), and YAML 1.1's
# base-60 floats, which PyYAML also reads.
FLOAT = re.compile(
    r"""^(?:
    [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
  | [-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
  | [-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
  | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
  | [-+]?\.(?:inf|Inf|INF)
  | \.(?:nan|NaN|NAN)
)$""",
    re.VERBOSE,
)
# libyaml's parser where PyYAML has it: about 7x faster, which shows on a long logs/.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# How values appear in error messages: a few items of a list, the ends of a long text.
SHORT = reprlib.Repr()
SHORT.maxlevel, SHORT.maxlist, SHORT.maxdict, SHORT.maxstring, SHORT.maxother = 3, 6, 4, 60, 60


class YAMLRefused(yaml.YAMLError):
    """Text that is YAML, but not what a config or a record may hold."""


class Loader(SafeLoader):
    """PyYAML's safe loader with YAML 1.2 floats and no duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # a list or a mapping as a key
                raise yaml.constructor.ConstructorError(
                    None, None, f"a {type(key).__name__} cannot be a key", key_node.start_mark
                ) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {shown(key)}", key_node.start_mark
                )
        return super().construct_mapping(node, deep)


Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != FLOAT_TAG]
    for first, resolvers in SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(FLOAT_TAG, FLOAT, list("-+0123456789."))


class Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting what Loader would not read back as it was written
    (the string "1e-4")."""


Dumper.yaml_implicit_resolvers = Loader.yaml_implicit_resolvers


def dump(value: object) -> str:
    """YAML text that parse_config and parse_record read back as `value`."""
    return yaml.dump(value, Dumper=Dumper, sort_keys=False, allow_unicode=True)


def parse_config(text: str) -> object:
    """The value of a config's text (or of a --modify value): aliases allowed, within
    MAX_NODES values."""
    return parse(text, aliases=True)


def parse_record(text: str) -> object:
    """The value of a record's text (metadata.yaml): aliases refused."""
    return parse(text, aliases=False)


def parse(text: str, aliases: bool) -> object:
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_shape(node, aliases)
        return construct(loader, node)
    except RecursionError:  # the pure-Python parser, where libyaml is missing
        raise YAMLRefused(f"nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()


def construct(loader: Loader, node: yaml.Node) -> object:
    try:
        return loader.construct_document(node)
    except yaml.YAMLError:
        raise
    except Exception as error:
        # PyYAML's constructors raise whatever a bad value trips them on: ValueError for
        # 2024-13-45, KeyError for `!!bool maybe`, AttributeError for `!!timestamp x`.
        raise YAMLRefused(
            f"a value YAML cannot read ({type(error).__name__}: {str(error)[:100]})"
        ) from None


def check_shape(root: yaml.Node, aliases: bool) -> None:
    """Refuse nesting deeper than MAX_DEPTH, a value that contains itself, and aliases
    (or, where `aliases`, aliases that add more than MAX_NODES values once expanded).

    Walks the parsed nodes without recursion, counting each shared node once."""
    sizes: dict[int, int] = {}  # id(node) -> values in it, aliases expanded
    ancestors: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children = inside(node)
        if children_done:
            ancestors.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            # The values the aliases add so far: those expanded, less those written.
            if sizes[id(node)] - len(sizes) > MAX_NODES:
                raise YAMLRefused(
                    f"aliases expand to more than {MAX_NODES} values "
                    f"(line {node.start_mark.line + 1})"
                )
            continue
        if id(node) in sizes:
            if not aliases:
                raise YAMLRefused(
                    "YAML aliases (*name), which runs never write "
                    f"(the value of line {node.start_mark.line + 1} appears twice)"
                )
            continue
        if id(node) in ancestors:
            raise YAMLRefused(f"a value that contains itself (line {node.start_mark.line + 1})")
        if len(ancestors) >= MAX_DEPTH:
            raise YAMLRefused(
                f"nested more than {MAX_DEPTH} levels deep (line {node.start_mark.line + 1})"
            )
        ancestors.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children)


def inside(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def read_text(path: Path) -> str:
    """The text of a regular file, as UTF-8 (a byte-order mark is dropped).

    Raises OSError (with `strerror` for the message) for a file that is missing, not a
    regular file, unreadable or not UTF-8."""
    # Checked before opening: opening a FIFO blocks until something writes into it.
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise OSError(None, f"it is {kind}", str(path))
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        encoding = "UTF-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "not UTF-8"
        raise OSError(
            None, f"it is {encoding} text (byte {error.start}); save it as UTF-8", str(path)
        ) from None


def located(error: yaml.YAMLError, path: Path) -> str:
    """PyYAML's message for `error`, naming `path` where it names its input."""
    return str(error).replace('"<unicode string>"', f'"{path}"')


def shown(value: object) -> str:
    """repr(value), shortened for an error message."""
    return SHORT.repr(value)


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write `path` through `write(file)` so that it is either complete or unchanged."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    # The rename is durable only once the directory entry itself is on disk.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def value_as_typed(text: str, key: str) -> str | None:
    """The text after `key:` at the start of a line, with its indented continuation
    lines: what was typed there, in a file that is no longer YAML."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(f"{key}:"):
            typed = [line.removeprefix(f"{key}:").strip()]
            typed += [
                more.strip()
                for more in itertools.takewhile(
                    lambda more: more.startswith((" ", "\t")), lines[index + 1 :]
                )
            ]
            return "\n".join(filter(None, typed)) or None
    return None
