"""Lists of dishonest and trustworthy subjects, joint measures, and checks against them."""
