"""Records: credit records as versioned facts with provenance."""
