"""Stress scenarios for the allocation engine, written from SPEC §3 alone, and a plan checker written from SPEC §4.

Neither module imports the engine or ``bench/generate.py``: ``generate`` makes national-scale scenario folders of
shapes the bench never makes, ``check`` re-derives every rule a saved plan must keep (see README.md).
"""
