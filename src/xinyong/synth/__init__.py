"""The synthetic population generator used by the demo, the tests and the benchmarks.

:func:`~xinyong.synth.service.generate_population` writes, for a seeded population of persons
and enterprises, the batch files that a set of demo furnishers (banks, a tax bureau, courts, a
market regulator, a utility, a social-insurance fund and a government office) would submit,
plus a ``labels.csv`` with each subject's outcome over the twelve months after the observation
date, for training and validating scoring models. A latent risk per subject drives both the
records and the outcome, so the records carry real signal; the outcome itself is never in
the records.
"""
