"""Evaluations that run through the same engine as the API and write JSON reports."""
