"""Stage compress: pruning, channel pruning, distillation and the three INT8 builds (rules prune, channel_prune, quantize, onnx_int8, openvino_int8)."""
