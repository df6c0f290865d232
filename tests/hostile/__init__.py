"""Hostile, load and fault runs against facesmith on loopback (issue 15): ``python -m
hostile.run`` (from tests/) prints the figures; tests/hostile/test_hostile.py runs a short
version of each."""
