"""Contrastive Learning in Practice: the course library."""
