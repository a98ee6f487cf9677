"""Griffe extension: the reStructuredText bits of tfvae's docstrings, as Markdown for mkdocstrings.

A few module docstrings hold reStructuredText *simple tables* (``export``, ``sentence_export``,
``optimization``): rows between lines of ``====  ====`` column rules, a row whose first cell is blank continuing
the row above. Markdown has no such table, so the site showed each one as a single run-on paragraph. This
extension rewrites each into a Markdown table (cells of continuation rows joined to their row), and turns the
reStructuredText literal marker ``text::`` before an indented block into ``text:`` (the block itself is already
code in Markdown). The source is not touched; only the docstrings that mkdocstrings renders.
"""

import re

import griffe

RULE = re.compile(r"^(\s*)(=+)((\s+=+)+)\s*$")


def _columns(rule):
    """Start offsets of the columns of a ``====  ====`` rule line."""
    return [match.start() for match in re.finditer(r"=+", rule)]


def _cells(line, starts):
    bounds = [*starts[1:], None]
    return [line[start:end].strip() if len(line) > start else "" for start, end in zip(starts, bounds)]


def _markdown_table(rows):
    def cell(text):
        return text.replace("|", "\\|")

    header, *body = rows
    lines = ["| " + " | ".join(cell(c) for c in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in body]
    return lines


def rst_tables_to_markdown(text):
    """``text`` with every reStructuredText simple table as a Markdown table."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        if not RULE.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        starts = _columns(lines[i])
        rows, rules, j = [], 1, i + 1
        while j < len(lines) and rules < 3:
            line = lines[j]
            if RULE.match(line):
                rules += 1
            elif line.strip():
                cells = _cells(line, starts)
                if rows and not cells[0] and rules == 2:
                    rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells)]
                else:
                    rows.append(cells)
            j += 1
        if rules < 3 or len(rows) < 2:  # not a complete simple table: leave it as it was
            out.append(lines[i])
            i += 1
            continue
        if out and out[-1].strip():
            out.append("")
        out += _markdown_table(rows)
        if j < len(lines) and lines[j].strip():
            out.append("")
        i = j
    return "\n".join(out)


def rst_literal_markers(text):
    """``Writes::`` before an indented block becomes ``Writes:``."""
    return re.sub(r"(?m)(\S)::$", r"\1:", text)


class RstToMarkdown(griffe.Extension):
    def on_instance(self, *, node, obj, agent, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = rst_literal_markers(rst_tables_to_markdown(obj.docstring.value))
