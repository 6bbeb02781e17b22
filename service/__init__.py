"""Nigran: multilingual matching of posts against a bank of known propaganda."""

import os as _os

# torch's OpenMP threads spin-wait between small matmuls; on 2-vCPU machines that
# costs ~16 ms per call (measured: 2.7 vs 16.8 sentences/s). PASSIVE must be set
# before torch is first imported, which is why it lives at package import.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# numpy's OpenBLAS threads spin after each call too, and fight torch's threads
# for the same cores: one post's Match took 65 ms with them, 35 ms without
# (the embedding alone: 26 ms). Nigran's numpy products are small (a post
# against the margin background), so one BLAS thread loses nothing.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# No model hub is reachable at run time; fail fast instead of retrying the network.
_os.environ.setdefault("HF_HUB_OFFLINE", "1")
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
