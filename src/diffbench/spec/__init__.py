"""spec: the matrix as data. Scenarios and their ids, the dimensions, schemes, models, rules and quality gates.

Importing it imports no torch; nothing else of diffbench is imported from here.
"""
