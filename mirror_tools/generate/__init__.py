"""A synthetic world of Comtrade final-data files with planted distortions and ground truth.

``mirror generate`` (see :mod:`mirror_tools.generate.cli`) writes, for N reporters x P HS6
products x Y years, the 47-column Comtrade CSV files the landing zone ingests, streaming one
exporter x year chunk at a time, and writes beside the landing folder (never inside
``<landing>/comtrade/``) the ground truth: true flows, every planted distortion with the flow
keys it affects and the status that names its cause, the corridors and re-export arrangements
(for scoring only: the pipeline is given the landing files and nothing else), the reporters'
roles and import valuation, and the files written.

The generator itself is :mod:`mirror_tools.generate.world` (numpy, pandas). This package does
not import it, so that ``mirror --help`` and the ``generate`` parser load without numpy.
"""
