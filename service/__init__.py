"""Nigran: multilingual matching of posts against a bank of known propaganda."""

import os as _os

# torch's OpenMP threads spin-wait between small matmuls; on 2-vCPU machines that
# costs ~16 ms per call (measured: 2.7 vs 16.8 sentences/s). PASSIVE must be set
# before torch is first imported, which is why it lives at package import.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# No model hub is reachable at run time; fail fast instead of retrying the network.
_os.environ.setdefault("HF_HUB_OFFLINE", "1")
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
