#!/usr/bin/env python3
"""Inputs and outputs tables of a Terraform root, between markers in its README.md.

  terraform-docs.py ROOT           rewrite ROOT/README.md between the markers
  terraform-docs.py ROOT --check   exit 1 if the README is out of date (terraform-checks.sh)

Reads variables.tf and outputs.tf with python-hcl2 (installed with checkov in .venv).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import hcl2

BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def unwrap(value: object) -> object:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def expr(value: object) -> str:
    """An HCL value as it would be written, compactly."""
    value = unwrap(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\$\{(.*)\}", value, re.S)
        return m.group(1) if m else f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(expr(v) for v in value) + "]"
    if isinstance(value, dict):
        items = [f"{k} = {expr(v)}" for k, v in value.items() if not k.startswith("__")]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    return str(value)


def cell(text: str, limit: int = 0) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    if limit and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def tables(root: Path) -> str:
    variables = hcl2.load(open(root / "variables.tf")).get("variable", [])
    outputs = hcl2.load(open(root / "outputs.tf")).get("output", [])
    lines = ["## Inputs", "", "| Name | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for block in variables:
        for name, body in block.items():
            default = f"`{cell(expr(body['default']), 60)}`" if "default" in body else "required"
            # python-hcl2 renders object types as Python dicts; the full type is in variables.tf.
            vtype = re.sub(r"object\(\{.*\}\)", "object({...})", expr(body.get("type", "any")), flags=re.S)
            lines.append(f"| `{name}` | `{cell(vtype, 60)}` | {default} | {cell(unwrap(body.get('description', '')))} |")
    lines += ["", "## Outputs", "", "| Name | Description |", "| --- | --- |"]
    for block in outputs:
        for name, body in block.items():
            lines.append(f"| `{name}` | {cell(unwrap(body.get('description', '')))} |")
    return "\n".join(lines)


def main() -> int:
    root = Path(sys.argv[1])
    readme = root / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        print(f"{readme}: no {BEGIN} ... {END} markers", file=sys.stderr)
        return 1
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{tables(root)}\n{END}{tail}"
    if "--check" in sys.argv[2:]:
        if new != text:
            print(f"{readme} is out of date: run .venv/bin/python .ci/lib/terraform-docs.py {root}", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
