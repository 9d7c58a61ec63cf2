"""The harness compares every variant with the fp32 model it was built from, through its own runtime."""

from __future__ import annotations

import pytest

from lprnet_opt.data import load_folder
from lprnet_opt.measure.accuracy import measure_variant, predict_reference, read_reference, write_reference
from lprnet_opt.record import read_record


def test_pruned_variant_is_compared_with_the_dense_model_it_came_from(measured, random_weights):
    pruned = read_record(measured / "eval" / "pruned.json")
    assert pruned.reference == str(random_weights)
    # Half the weights are gone and nothing was distilled: the logits must differ from dense.
    assert pruned.max_abs_logit_diff_vs_source > 1e-3
    assert pruned.sparsity == pytest.approx(0.5, abs=1e-3)


def test_exported_variant_is_compared_with_its_own_fp32_source(measured):
    onnx = read_record(measured / "eval" / "pruned_onnx.json")
    assert onnx.runtime == "onnx_runtime" and onnx.reference.endswith("pruned.pt")
    assert onnx.agreement_with_source == 1.0 and onnx.max_abs_logit_diff_vs_source < 1e-3
    assert onnx.sparsity == pytest.approx(0.5, abs=1e-3)  # the weights it runs are the pruned ones


def test_baseline_is_its_own_reference(measured):
    baseline = read_record(measured / "eval" / "baseline.json")
    assert baseline.reference is None and baseline.agreement_with_source is None
    assert baseline.agreement == 1.0 and baseline.sparsity == 0.0


def test_torch_compile_runs_inductor_and_is_checked_against_eager(random_weights, plate_folder):
    """Its artifact is the source checkpoint itself; the harness still runs the eager pass."""
    plates = load_folder(plate_folder)
    eager = predict_reference(random_weights, plates.images[:6], threads=1)
    record = measure_variant("compiled", "torch_compile", random_weights, eager, random_weights, eager,
                             plates.images[:6], plates.labels[:6], threads=1)
    assert record.runtime == "inductor" and record.reference == str(random_weights)
    assert record.max_abs_logit_diff_vs_source is not None and record.max_abs_logit_diff_vs_source < 1e-3


def test_a_reference_kind_mismatch_is_refused(random_weights, plate_folder):
    plates = load_folder(plate_folder)
    with pytest.raises(ValueError, match="kind 'pruned' takes a reference"):
        measure_variant("p", "pruned", random_weights, None, random_weights, None,
                        plates.images[:2], plates.labels[:2], threads=1)


def test_a_reference_file_round_trips_and_refuses_other_images(random_weights, plate_folder, tmp_path):
    """Rule reference's file holds what `measure_variant` reads; predictions of other images
    are refused with the file's name, not compared plate by plate with the wrong ones."""
    plates = load_folder(plate_folder)
    reference = predict_reference(random_weights, plates.images[:5], threads=1)
    path = tmp_path / "reference" / "baseline.npz"
    write_reference(reference, plates.images[:5], path)
    back = read_reference(path, plates.images[:5])
    assert back.weights == str(random_weights) and back.plates == reference.plates
    assert (back.logits == reference.logits).all()
    with pytest.raises(ValueError, match=r"baseline\.npz: predicted on other images"):
        read_reference(path, plates.images[1:6])
