"""Targets turn a GE graph into something that runs."""
