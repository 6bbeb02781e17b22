"""Offline evaluation and calibration of Nigran's verdicts (``make eval``, ``make calibrate``).

Never imported by the service at run time: the service only reads the files
that ``make calibrate`` writes under ``service/calibration/``.
"""
