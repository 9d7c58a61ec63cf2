"""lprnet-opt: build, measure and compare optimized variants of LPRNet."""

__version__ = "0.1.0"
