"""Compact JSON text of a row's `properties`, as both the hot store (JSONB) and the cold rows
(an Iceberg string column) take it: orjson where it writes what `json` writes, else `json`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

# One encoder for every row: json.dumps with options builds a new encoder on each call.
encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

# Values orjson writes exactly as `encode_json` does. Floats are not among them (orjson
# writes 1e-05 as 0.00001); integers beyond 64 bits make orjson fail.
_ORJSON_SAFE = frozenset({str, int, bool, type(None)})


def properties_json(properties: Mapping[str, Any]) -> str:
    """`properties` as compact JSON text: orjson's when every value is a text, an integer, a
    boolean or null, else (a float, a nested value) or when orjson refuses, json's."""
    for value in properties.values():
        if type(value) not in _ORJSON_SAFE:
            return encode_json(properties)
    try:
        return orjson.dumps(properties).decode()
    except orjson.JSONEncodeError:
        return encode_json(properties)
