"""LPRNet's input geometry, for torch-free code (runtimes, TVM set-up) and the model alike."""

IMAGE_WIDTH, IMAGE_HEIGHT = 94, 24
# Compiled libraries (TVM) are built for batch 1, the deployment setting.
BATCH1_SHAPE = (1, 3, IMAGE_HEIGHT, IMAGE_WIDTH)

# fp32 lanes of one AVX-512 vector: NHWC kernels (TVM's, oneDNN's) vectorise channels this wide.
VECTOR_LANES = 16


def padded_width(channels: int, multiple: int = VECTOR_LANES) -> int:
    return -(-channels // multiple) * multiple
