"""Config validation against the JSON schema, with defaults filled in and one-line errors."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import jsonschema

from .targets import TargetError, check_target
from .kinds import KindError, check_variants, onnxruntime_peer, with_sources

SCHEMA: dict = json.loads(resources.files(__package__).joinpath("config.schema.json").read_text())


class ConfigError(ValueError):
    """A config value that breaks the schema or a workflow rule; the message names the key."""


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def key_name(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `config` with defaults filled in, or raise ConfigError naming the key."""
    filled = copy.deepcopy(dict(config))
    errors = sorted(_Validator(SCHEMA).iter_errors(filled), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        raise ConfigError(f"config key {key_name(err.absolute_path)}: {err.message}")
    filled["variants"] = with_sources(filled["variants"])
    try:
        check_variants(filled["variants"])
        if filled["target"]:
            check_target(filled["target"])
            if filled["target"]["device"] and not onnxruntime_peer(filled["variants"]):
                raise TargetError("config key target.device: the device's timings are ratios to the ONNX Runtime "
                                  "fp32 bundle of the baseline; add a variant of kind onnx to config variants")
    except (KindError, TargetError) as err:
        raise ConfigError(str(err)) from None
    return filled
