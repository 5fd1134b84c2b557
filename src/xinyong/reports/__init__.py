"""Credit files and reports, jurisdiction profiles, consent, purposes and query records."""
