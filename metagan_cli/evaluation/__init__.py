"""Measuring whether adapted generators produce the class they were shown."""
