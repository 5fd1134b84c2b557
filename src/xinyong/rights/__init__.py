"""Data subjects' rights over their credit file: statements attached to items, disputes with
their verification tasks and deadlines, and the holiday calendar those are counted in."""
