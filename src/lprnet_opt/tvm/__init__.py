"""TVM: graph export and rewrites, trial planning, tuning, databases, compile and profiling.

`setup` imports TVM behind the apache-tvm-ffi version guard; no module here imports TVM at
import time, so the workflow can read tuning keys without loading it.
"""
