"""Rewrite the template's Jinja Python files so that every bake is `ruff format`-clean.

    python scripts/format_template.py            # rewrite the files that need it
    python scripts/format_template.py --check    # list them and exit 1; change nothing

ruff cannot read Jinja, so each file is formatted in two passes over a stand-in:
  - `{{ cookiecutter.project_slug }}` becomes an identifier as long as the long slug the
    tests bake, so a line that is too long for that slug is wrapped for every slug;
  - any other `{{ ... }}` or `{% ... %}` inside a line becomes a token of the same
    length: in a string or a comment ruff changes nothing; a line with one in code is a
    whole statement that ruff is told to skip (`# fmt: skip`), written as ruff would;
  - each whole-line tag (`{% if %}`, `{% else %}`, `{% endif %}`) becomes a comment line.
Pass 1 formats that text, every branch included. Pass 2 drops the tag comments and formats
again, which only moves blank lines, so that the comments skew no blank line. The tags go
back where they were, each group with its blank lines, adjusted at its end to the number
ruff wants (a group with an else keeps the template's). A file whose Jinja cannot be
carried so is named and left alone: write its Jinja as whole-line tags (a conditional
argument on a line of its own, in an exploded call). The tool is idempotent; the bake
tests (`ruff format --check` in every combination) prove the result. It needs the ruff
version the generated hook pins (requirements-dev.txt installs it).
"""

import argparse
import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "{{cookiecutter.project_slug}}"
SLUG = "{{ cookiecutter.project_slug }}"
# As long as "a_rather_long_research_project_name", the longest slug the tests bake.
SLUG_STAND_IN = "fishbotics_slug_stand_in_" + "x" * 10
# A line that holds nothing but one Jinja tag: trim_blocks and lstrip_blocks remove it.
TAG_LINE = re.compile(r"^\s*\{%.*%\}\s*$")
ELSE_TAG = re.compile(r"\{%-?\s*(else|elif)\b")
INLINE_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")
MARKER = "# fishbotics-format-tag "
FMT_SKIP = "  # fmt: skip"
# The generated pyproject.toml's settings (line-length) and oldest Python (requires-python).
RUFF_SETTINGS = ["--isolated", "--config", "line-length=100", "--config", 'target-version="py310"']


class CannotMap(Exception):
    """The file's Jinja cannot be carried through ruff safely."""


def ruff_format(text: str, name: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", *RUFF_SETTINGS, "--stdin-filename", name, "-"],
        input=text,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise CannotMap(f"ruff cannot format it with every branch included: {result.stderr}")
    return result.stdout


def hide_inline_jinja(line: str, hidden: list[tuple[str, str]]) -> str:
    """Swap the slug for an identifier, other inline Jinja for tokens of the same length
    (`hidden` keeps each token and the Jinja it stands for)."""
    line = line.replace(SLUG, SLUG_STAND_IN)

    def token(match: re.Match) -> str:
        name = f"__jinja{len(hidden)}__"
        hidden.append((name + "_" * (len(match.group()) - len(name)), match.group()))
        return hidden[-1][0]

    return INLINE_JINJA.sub(token, line)


def show_inline_jinja(line: str, hidden: list[tuple[str, str]]) -> str:
    for token, jinja in reversed(hidden):  # __jinja12__ before __jinja1__
        line = line.replace(token, jinja)
    return line.replace(SLUG_STAND_IN, SLUG)


def stand_in(lines: list[str], hidden: list[tuple[str, str]]) -> tuple[str, list[list[str]]]:
    """The text ruff formats, and the template's tag groups: the runs of whole-line tags
    and blank lines between two code lines (a group holds at least one tag)."""
    out, groups, index = [], [], 0
    while index < len(lines):
        end = index
        while end < len(lines) and (not lines[end].strip() or TAG_LINE.match(lines[end])):
            end += 1
        run = lines[index:end]
        if any(TAG_LINE.match(line) for line in run):
            # Tags indented like the code they govern, so that ruff keeps them there.
            following = lines[end] if end < len(lines) else ""
            indent = following[: len(following) - len(following.lstrip())]
            marker = f"{indent}{MARKER}{len(groups)}"
            out += [marker if TAG_LINE.match(line) else "" for line in run]
            groups.append(run)
        else:
            out += run
        if end < len(lines):
            out.append(hide_inline_jinja(lines[end], hidden))
        index = end + 1
    return "\n".join(out) + "\n", groups


def skip_lines_with_jinja_in_code(source: str) -> str:
    """Tell ruff to leave alone each line with inline Jinja in code (`data{{ ', launch' if
    cookiecutter.multi_gpu }})`): formatted, its renderings could differ from ruff's own
    format of them. Such a line must be a whole statement, already written as ruff would
    write each rendering (the bake tests check it)."""
    lines = source.splitlines()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError) as error:
        raise CannotMap(f"not Python with every branch included: {error}") from None
    for token in tokens:
        if "__jinja" in token.string and token.type not in (tokenize.STRING, tokenize.COMMENT):
            number = token.start[0] - 1
            if "#" in lines[number] or not whole_statement(source, number + 1):
                raise CannotMap(
                    f"Jinja in code, not in a statement of one line of its own "
                    f"without a comment: line {number + 1}, {lines[number]}"
                )
            lines[number] = lines[number].removesuffix(FMT_SKIP) + FMT_SKIP
    return "\n".join(lines) + "\n"


def whole_statement(source: str, number: int) -> bool:
    """Whether line `number` is a statement, or a compound statement's header, by itself."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        # Both branches together can be refused by Python's own parser (a keyword given
        # twice) though not by ruff's: then the bake tests alone check the line.
        return True
    containing = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.stmt) and node.lineno <= number <= node.end_lineno
    ]
    innermost = max(containing, key=lambda node: node.lineno)
    body = getattr(innermost, "body", None)
    if isinstance(body, list) and body:  # a def, class, if, for, with...: its header
        return innermost.lineno == number < body[0].lineno
    return innermost.lineno == innermost.end_lineno == number


def gaps_with_tags(formatted: str) -> dict[int, int]:
    """Which tag group sits before each code line (by its number among the code lines)."""
    gaps, code_lines = {}, 0
    for line in formatted.splitlines():
        if line.strip().startswith(MARKER):
            group = int(line.strip()[len(MARKER) :])
            if gaps.setdefault(code_lines, group) != group:
                raise CannotMap(f"ruff brought two tag groups together at {line!r}")
        elif line.strip():
            code_lines += 1
    if sorted(gaps.values()) != list(range(len(set(gaps.values())))):
        raise CannotMap("ruff split a tag group or changed the tag groups' order")
    return gaps


def drop_tags(formatted: str, groups: list[list[str]]) -> str:
    """The formatted text without its tag comments. Each run of tag comments and blank
    lines becomes the blank lines the template had there: ruff put blank lines around
    the comments (after an import, say) that it would not put around the tags' code."""
    out, run = [], []
    for line in formatted.splitlines() + ["end of file"]:
        if not line.strip() or line.strip().startswith(MARKER):
            run.append(line)
            continue
        tags = [x.strip() for x in run if x.strip()]
        if tags:
            group = groups[int(tags[0][len(MARKER) :])]
            out += [""] * sum(1 for x in group if not x.strip())
        else:
            out += run
        out.append(line)
        run = []
    return "\n".join(out[:-1]) + "\n"


def with_tags(group: list[str], blank_lines: int) -> list[str]:
    """A tag group as the template had it, with as many blank lines as ruff wants there."""
    group = list(group)
    while group and not group[-1].strip():  # trailing blank lines are recounted below
        group.pop()
    extra = blank_lines - sum(1 for line in group if not line.strip())
    while extra < 0 and "" in [line.strip() for line in group]:
        # Fewer wanted: drop the blank line nearest the end.
        last_blank = max(i for i, line in enumerate(group) if not line.strip())
        del group[last_blank]
        extra += 1
    return group + [""] * max(extra, 0)


def format_file(text: str, name: str) -> str:
    hidden: list[tuple[str, str]] = []
    lines = text.splitlines()
    source, groups = stand_in(lines, hidden)
    source = skip_lines_with_jinja_in_code(source)
    first_pass = ruff_format(source, name)
    gaps = gaps_with_tags(first_pass)
    if len(gaps) != len(groups):
        raise CannotMap("ruff lost a tag group")
    without_tags = drop_tags(first_pass, groups)
    second_pass = ruff_format(without_tags, name)
    code = [line for line in second_pass.splitlines() if line.strip()]
    if code != [line for line in without_tags.splitlines() if line.strip()]:
        raise CannotMap("ruff changed code, not only blank lines, once the tags were gone")
    out, blank_lines, code_lines = [], 0, 0
    for line in second_pass.splitlines() + ["end of file"]:
        if not line.strip():
            blank_lines += 1
            continue
        if code_lines in gaps and ELSE_TAG.search("".join(groups[gaps[code_lines]])):
            # ruff saw both branches, one after the other, which no bake has: the blank
            # lines it wants between them mean nothing, so the template's stay.
            out += groups[gaps[code_lines]]
        elif code_lines in gaps:
            out += with_tags(groups[gaps[code_lines]], blank_lines)
        else:
            out += [""] * blank_lines
        out.append(show_inline_jinja(line.removesuffix(FMT_SKIP), hidden))
        blank_lines, code_lines = 0, code_lines + 1
    out.pop()  # "end of file"
    return "\n".join(out).rstrip("\n") + "\n"


def check_ruff_version() -> None:
    """Another ruff version may lay code out otherwise than the generated hook's."""
    hooks = (TEMPLATE / ".pre-commit-config.yaml").read_text()
    pinned = re.search(r"ruff==([0-9.]+)", hooks)[1]
    found = subprocess.run(
        [sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True
    ).stdout.split()
    if found != ["ruff", pinned]:
        sys.exit(
            f"format_template.py needs ruff {pinned}, as the generated hook pins; "
            f"this Python has {' '.join(found) or 'none'}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list the files; change none")
    check = parser.parse_args().check
    check_ruff_version()
    changed, failed = [], []
    # Python files, some named in Jinja (`{% if cookiecutter.slurm %}slurm.py{% endif %}`).
    paths = [p for p in TEMPLATE.rglob("*") if INLINE_JINJA.sub("", p.name).endswith(".py")]
    for path in sorted(paths):
        name = str(path.relative_to(TEMPLATE.parent))
        text = path.read_text()
        try:
            formatted = format_file(text, INLINE_JINJA.sub("", path.name))
        except CannotMap as error:
            failed.append(f"{name}: {error}")
            continue
        if formatted != text:
            changed.append(name)
            if not check:
                path.write_text(formatted)
    for name in changed:
        print(("would reformat " if check else "reformatted ") + name)
    for message in failed:
        print("cannot format, fix its Jinja by hand: " + message, file=sys.stderr)
    print(f"{len(changed)} changed, {len(failed)} not formatted", file=sys.stderr)
    return 1 if failed or (check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
