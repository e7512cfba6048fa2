"""Ranking maths, distances, the ranking evaluator and feature files."""
