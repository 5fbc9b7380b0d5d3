"""Measured quality: figures computed from images, never from losses. Imports families and data
(to draw and to read the real set), never training or commands."""
