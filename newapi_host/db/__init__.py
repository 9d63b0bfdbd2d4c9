"""Data layer: Piccolo tables, engine selection and migrations."""
