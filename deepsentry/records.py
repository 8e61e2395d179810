"""Frozen dataclasses that cross a boundary, their JSON, and the JSON Schema of that JSON.

A record class lists its fields in the order the API writes them. ``to_json()`` turns nested records,
tuples and mappings into plain JSON values; a field declared with ``optional()`` is left out while it is
``None`` (so "no heatmap" is an absent key, as clients have always read it), every other field is always
written. ``json_schema(cls)`` derives the OpenAPI schema from the same annotations, so the published
contract cannot drift from what the code returns.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

_OMIT_NONE = "omit_none"
_DOC = "doc"


def field(doc: str = "", **kw: Any) -> Any:
    """A field that is always written (``null`` when it is ``None``)."""
    return dataclasses.field(metadata={_DOC: doc}, **kw)


def optional(doc: str = "") -> Any:
    """A field that defaults to ``None`` and is left out of the JSON while it is."""
    return dataclasses.field(default=None, metadata={_DOC: doc, _OMIT_NONE: True})


def json_value(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_json()
    if isinstance(value, Mapping):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return value


class Record:
    """Mixin for a frozen dataclass: ``to_json()`` in field order, optional fields left out when None."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None and f.metadata.get(_OMIT_NONE):
                continue
            out[f.name] = json_value(value)
        return out


# ---------------------------------------------------------------------------------------------- schema
_SCALARS = {float: {"type": "number"}, int: {"type": "integer"}, str: {"type": "string"},
            bool: {"type": "boolean"}}


def _type_schema(tp: Any, refs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return {}
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if tp is type(None):
        return {"type": "null"}
    if origin in (Union, types.UnionType):
        parts = [_type_schema(a, refs) for a in args]
        simple = [p["type"] for p in parts if set(p) == {"type"} and isinstance(p["type"], str)]
        if len(simple) == len(parts):
            return {"type": simple}
        return {"anyOf": parts}
    if origin is Literal:
        return {"enum": list(args)}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _type_schema(args[0], refs)}
        return {"type": "array", "prefixItems": [_type_schema(a, refs) for a in args],
                "minItems": len(args), "maxItems": len(args)}
    if origin in (list,):
        return {"type": "array", "items": _type_schema(args[0], refs) if args else {}}
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        value = _type_schema(args[1], refs) if len(args) == 2 else {}
        return {"type": "object", **({"additionalProperties": value} if value else {})}
    if dataclasses.is_dataclass(tp):
        _add_schema(tp, refs)
        return {"$ref": f"#/components/schemas/{tp.__name__}"}
    raise TypeError(f"no JSON schema for {tp!r}")


def _without_none(tp: Any) -> Any:
    if typing.get_origin(tp) in (Union, types.UnionType):
        rest = [a for a in typing.get_args(tp) if a is not type(None)]
        return rest[0] if len(rest) == 1 else Union[tuple(rest)]
    return tp


def _add_schema(cls: type, refs: dict[str, Any]) -> None:
    if cls.__name__ in refs:
        return
    refs[cls.__name__] = {}                       # placeholder: records may refer to each other
    hints = typing.get_type_hints(cls)
    props, required = {}, []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if f.metadata.get(_OMIT_NONE):            # absent rather than null: the schema is the value's own
            tp = _without_none(tp)
        schema = _type_schema(tp, refs)
        if f.metadata.get(_DOC):
            schema = {**schema, "description": f.metadata[_DOC]}
        props[f.name] = schema
        if not f.metadata.get(_OMIT_NONE):
            required.append(f.name)
    body: dict[str, Any] = {"type": "object", "required": required, "properties": props}
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    if doc and not doc.startswith(cls.__name__ + "("):
        body["description"] = " ".join(doc.split())
    refs[cls.__name__] = body


def json_schemas(*classes: type) -> dict[str, Any]:
    """The ``components/schemas`` entries of these record classes and of every record they contain."""
    refs: dict[str, Any] = {}
    for cls in classes:
        _add_schema(cls, refs)
    return refs
