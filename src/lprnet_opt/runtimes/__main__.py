"""The peak-RSS probe: python -m lprnet_opt.runtimes RUNTIME ARTIFACT BATCH.npy THREADS

Loads the artifact with its runtime alone, runs the batch once, and prints the process's
peak resident memory in MB. Nothing else of the project is imported, so torch's memory is
counted only for the runtimes that use torch.
"""

import resource
import sys

import numpy as np

from . import load_runner

runtime, artifact, batch, threads = sys.argv[1:5]
load_runner(runtime, artifact, int(threads))(np.load(batch))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
