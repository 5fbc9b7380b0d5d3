"""Measured quality: figures computed from images, never from losses."""
