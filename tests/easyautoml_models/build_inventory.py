"""Build ``inventory.json`` from sections 2-8 of the inventory of the original models.

Usage (from the project root)::

    .venv/bin/python tests/easyautoml_models/build_inventory.py \\
        /work/shared/reference/easyautoml_models_inventory.md

The markdown tables (``| field | definition |``) are parsed mechanically, so the fixture says
what the inventory says, not what our models happen to do; ``test_meta_inventory.py`` compares
it with ``_meta`` and lists every intended difference with its reason.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHORT_TYPES = {
    "Char": "CharField",
    "Text": "TextField",
    "Bool": "BooleanField",
    "Int": "IntegerField",
    "Float": "FloatField",
    "DateTime": "DateTimeField",
    "D": "DecimalField",
    "J": "JSONField",
}
# heading (start) -> model names; None stops collecting.
SECTIONS = [
    ("## 2. User", ["User"]),
    ("## 3. Team", ["Team"]),
    ("## 4. Machine", ["Machine"]),
    ("### Machine behaviour", None),
    ("### NNModel", ["NNModel"]),
    ("### EncDecConfiguration", ["EncDecConfiguration"]),
    ("### Graph", ["Graph"]),
    ("### DataLinesOperation", ["DataLinesOperation"]),
    ("### MachineTableLockWrite", ["MachineTableLockWrite"]),
    ("### Server", ["Server"]),
    ("### ConsultingRequest", ["ConsultingRequest"]),
    ("### Operation", ["Operation"]),
    ("### Ledger models", ["Credit", "Debit", "CreditIXIOO", "DebitIXIOO"]),
    ("### Legacy Billing", ["Billing"]),
    ("## 7. Work", ["Work"]),
    ("### Logger", ["EasyAutoMLLogger"]),
    ("### Migrations in the original", None),
]


def _split_top(text: str) -> list[str]:
    """Split on commas outside backticks and parentheses."""
    parts, depth, tick, current = [], 0, False, ""
    for char in text:
        if char == "`":
            tick = not tick
        elif not tick and char == "(":
            depth += 1
        elif not tick and char == ")":
            depth -= 1
        if char == "," and depth == 0 and not tick:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _value(text: str) -> Any:
    text = text.strip().strip("`").strip()
    constants = {
        "True": True,
        "False": False,
        "None": None,
        "F": False,
        "T": True,
        "dict": "dict()",
        "list": "list()",
        "timezone.now": "timezone.now()",
        "uuid4": "uuid4()",
    }
    if text in constants:
        return constants[text]
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _call_args(spec: dict[str, Any], args: str) -> None:
    for index, part in enumerate(_split_top(args)):
        if "=" in part:
            key, value = part.split("=", 1)
            key = key.strip()
            if key == "on_delete":
                spec["on_delete"] = value.strip()
            else:
                spec[key] = _value(value)
        elif index == 0:
            spec["to"] = _value(part)


def parse_definition(definition: str) -> dict[str, Any]:
    """Turn a definition cell (e.g. ``"`Char(140)`, n, b"``) into a field spec."""
    definition = re.sub(r"\s*\([^`]*?\)\s*$", "", definition.strip())  # trailing remark
    definition = definition.replace("**", "")
    parts = _split_top(definition)
    head = parts[0].strip("`").strip()
    spec: dict[str, Any] = {}
    match = re.fullmatch(r"(\w+)(?:\((.*)\))?(?:\s*\(.*\))?", head)
    if not match:
        raise ValueError(f"cannot parse {definition!r}")
    name, args = match.group(1), match.group(2)
    if name in SHORT_TYPES:
        spec["type"] = SHORT_TYPES[name]
        if args and re.fullmatch(r"\d+", args):
            spec["max_length"] = int(args)
        elif args:
            _call_args(spec, args)
    else:
        spec["type"] = name
        if args:
            _call_args(spec, args)
    for part in parts[1:]:
        part = part.strip()
        bare = re.sub(r"\s*\(.*\)$", "", part).strip()
        if bare in ("n", "also n"):
            spec["null"] = True
        elif bare == "b":
            spec["blank"] = True
        elif bare == "unique":
            spec["unique"] = True
        elif bare.startswith("default"):
            spec["default"] = _value(bare.removeprefix("default").lstrip("= "))
        elif bare.startswith("`default="):
            spec["default"] = _value(bare.strip("`").removeprefix("default="))
        elif bare.startswith("`choices="):
            spec["choices"] = bare.strip("`").removeprefix("choices=")
        elif bare.startswith("choices 1"):
            spec["choices"] = [[n, n] for n in range(1, 6)]
        elif bare.startswith("related_name of the form"):
            spec["related_name_suffix"] = "_operation"
        else:
            raise ValueError(f"unknown part {part!r} in {definition!r}")
    if spec["type"] == "DecimalField":
        spec.update(max_digits=20, decimal_places=8)
    if spec["type"] == "JSONField" and name == "J":
        spec["encoder"] = "JsonEncoderExtended"
    return spec


def build(markdown: str) -> dict[str, Any]:
    models: dict[str, Any] = {}
    current: list[str] | None = None
    column_configuration = False
    ledger_tables: dict[str, str] = {}
    graph_types, categories = [], []
    field_table = False
    for line in markdown.splitlines():
        for heading, names in SECTIONS:
            if line.startswith(heading):
                current = names
                for name in names or []:
                    models.setdefault(name, {"db_table": None, "fields": {}})
        if current is None:
            continue
        if line.startswith("### "):
            column_configuration = line.startswith("### Column configuration")
        table = re.search(r'`db_table = "([^"]+)"`|db_table `([^`]+)`', line)
        if table and line.startswith(("#", "**Meta")):
            for name in current:
                models[name]["db_table"] = table.group(1) or table.group(2)
        row = re.fullmatch(r"\|\s*(.+?)\s*\|\s*(.+?)\s*\|(?:\s*(.+?)\s*\|)?", line.strip())
        if not row or set(row.group(1)) <= set("-|: "):
            continue
        first, second, third = row.group(1), row.group(2), row.group(3)
        if third is not None:  # | model | db_table | manager |
            if first in models:
                ledger_tables[first] = second.strip("`")
            continue
        if not line.strip().startswith("| `") and not re.match(r"\| \d+ \|", line.strip()):
            field_table = first in ("field", "fields")  # a header row
            continue
        if re.fullmatch(r"\d+", first):
            graph_types.append([int(first), second])
            continue
        if not field_table:
            continue
        names = re.findall(r"`(\w+)`", first)
        if not names:
            continue
        definition = second
        if column_configuration and not definition.startswith("**`Int`"):
            definition = "J, `default=dict`, b" + definition[1:]
        spec = parse_definition(definition)
        for model in current:
            for field in names:
                models[model]["fields"][field] = dict(spec)
    for name, ledger_table in ledger_tables.items():
        models[name]["db_table"] = ledger_table
    found = re.search(r"\*\*`CATEGORIES`\*\* \(verbatim\): (.+?)\.\n", markdown, re.S)
    if found:
        categories = [list(pair) for pair in re.findall(r'\("(\d)", "([^"]+)"\)', found.group(1))]
    return {"models": models, "GRAPH_TYPES": graph_types, "CATEGORIES": categories}


def main() -> None:
    source = Path(sys.argv[1])
    fixture = build(source.read_text(encoding="utf-8"))
    target = HERE / "inventory.json"
    target.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    counts = {name: len(model["fields"]) for name, model in fixture["models"].items()}
    print(f"wrote {target}: {counts}")


if __name__ == "__main__":
    main()
