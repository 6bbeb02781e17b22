"""LoRA adapters for the bundled model (``make adapt``, evaluation/adapt.py), one directory each; merged at provisioning."""
