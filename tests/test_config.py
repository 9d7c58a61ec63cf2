import pytest

from lprnet_opt.config import SCHEMA, ConfigError, validate_config


def test_defaults_fill_every_key():
    config = validate_config({})
    assert config["threads"] == 2 and config["variants"]["baseline"]["kind"] == "baseline"


def test_every_schema_key_has_description_and_default():
    for name, spec in SCHEMA["properties"].items():
        assert "description" in spec and "default" in spec, name
        for sub, subspec in spec.get("properties", {}).items():
            assert "description" in subspec and "default" in subspec, f"{name}.{sub}"


def test_typo_names_the_key():
    with pytest.raises(ConfigError, match="'treads' was unexpected"):
        validate_config({"treads": 2})


@pytest.mark.parametrize("ratio", [1.0, 1.5, -0.1])
def test_pruning_ratio_outside_range_names_the_key(ratio):
    variants = {"baseline": {"kind": "baseline"}, "pruned": {"kind": "pruned", "ratio": ratio}}
    with pytest.raises(ConfigError, match="config key variants.pruned.ratio"):
        validate_config({"variants": variants})


def test_unknown_source_names_the_key():
    variants = {"baseline": {"kind": "baseline"}, "q": {"kind": "quantized", "source": "nope"}}
    with pytest.raises(ConfigError, match="config key variants.q.source"):
        validate_config({"variants": variants})
