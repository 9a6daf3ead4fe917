#!/usr/bin/python3
"""Validates a JSON document (or a part of it) against one definition of a
JSON schema; used by tests/cli/test_export.sh.

usage: validate_schema.py [--strict] FILE SCHEMA REF [POINTER]

  REF      the definition to check against, e.g. '#/definitions/ComponentSpec'
           (or "#", the whole schema)
  POINTER  optional JSON pointer into FILE selecting the part to check,
           e.g. '/items/1/spec/template/spec/containers/0'
  --strict also rejects properties the schema does not declare: the Argo
           and Kubernetes schemas allow any extra key, so a misspelt field
           ('retrystrategy') would otherwise pass unnoticed.

Exits 0 when valid, 1 with one line per error (path: message) when not,
2 on bad usage or unreadable input. The schema's draft is taken from its
"$schema" (the Kubeflow one is draft-06, the Argo one 2020-12); "#/..."
references are resolved inside the loaded schema, never fetched.
"""
import copy
import json
import sys
import warnings

import jsonschema

# RefResolver is deprecated in newer jsonschema releases but is what the
# Debian bookworm one (4.10) offers for resolving refs in a loaded schema.
warnings.filterwarnings("ignore", category=DeprecationWarning)


def strict_copy(schema):
    """Returns schema with additionalProperties: false on every object schema
    that lists properties and says nothing about extra ones."""
    schema = copy.deepcopy(schema)
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and "patternProperties" not in node):
                node["additionalProperties"] = False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return schema


def resolve_pointer(doc, pointer):
    """Follows an RFC 6901 JSON pointer into doc."""
    if pointer in ("", "/"):
        return doc
    node = doc
    for part in pointer.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def validator_for(schema, ref):
    """A validator for the definition ref, with refs resolved in schema."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    resolver = jsonschema.RefResolver.from_schema(schema)
    base = schema.get("$id", "")
    return cls({"$ref": base + ref}, resolver=resolver)


def main(argv):
    strict = "--strict" in argv
    args = [a for a in argv if a != "--strict"]
    if len(args) not in (3, 4) or not (args[2] == "#" or args[2].startswith("#/")):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    path, schema_path, ref = args[:3]
    pointer = args[3] if len(args) == 4 else ""
    try:
        with open(path) as f:
            doc = json.load(f)
        with open(schema_path) as f:
            schema = json.load(f)
        part = resolve_pointer(doc, pointer)
        resolve_pointer(schema, ref[1:])
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        print("validate_schema: %s: %s" % (path, e), file=sys.stderr)
        return 2
    if strict:
        schema = strict_copy(schema)
    errors = sorted(validator_for(schema, ref).iter_errors(part),
                    key=lambda e: list(e.absolute_path))
    for e in errors[:20]:
        where = pointer + "/" + "/".join(str(p) for p in e.absolute_path)
        print("%s: %s: %s" % (path, where, e.message[:300]))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
