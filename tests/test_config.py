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


def test_schema_kind_enum_is_the_registry():
    from lprnet_opt.kinds import KINDS

    assert SCHEMA["$defs"]["variant"]["properties"]["kind"]["enum"] == list(KINDS)


def test_source_cycle_names_the_key():
    variants = {"baseline": {"kind": "baseline"}, "a": {"kind": "pruned", "ratio": 0.3, "source": "b"},
                "b": {"kind": "pruned", "ratio": 0.3, "source": "a"}}
    with pytest.raises(ConfigError, match=r"config key variants\.a\.source: sources form a cycle a -> b -> a"):
        validate_config({"variants": variants})


@pytest.mark.parametrize("source", ["mlc", "onnxruntime"])
def test_source_without_fp32_weights_names_the_key(source):
    variants = {"baseline": {"kind": "baseline"}, "mlc": {"kind": "tvm"}, "onnxruntime": {"kind": "onnx"},
                "q": {"kind": "quantized", "source": source}}
    with pytest.raises(ConfigError, match=rf"config key variants\.q\.source: '{source}' is of kind"):
        validate_config({"variants": variants})


def test_ratio_on_a_kind_that_ignores_it_names_the_key():
    variants = {"baseline": {"kind": "baseline"}, "q": {"kind": "quantized", "ratio": 0.5}}
    with pytest.raises(ConfigError, match=r"config key variants\.q\.ratio: kind 'quantized' takes no 'ratio'"):
        validate_config({"variants": variants})


def test_baseline_takes_no_source():
    with pytest.raises(ConfigError, match=r"config key variants\.baseline\.source"):
        validate_config({"variants": {"baseline": {"kind": "baseline", "source": "baseline"}}})


def test_pruned_needs_its_ratio():
    with pytest.raises(ConfigError, match=r"config key variants\.p\.ratio: required"):
        validate_config({"variants": {"baseline": {"kind": "baseline"}, "p": {"kind": "pruned"}}})


def test_sources_default_to_the_baseline():
    config = validate_config({"variants": {"baseline": {"kind": "baseline"}, "mlc": {"kind": "tvm"}}})
    assert config["variants"] == {"baseline": {"kind": "baseline"}, "mlc": {"kind": "tvm", "source": "baseline"}}
