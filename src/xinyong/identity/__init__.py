"""Identity: subjects, identifiers, encryption of personal data, blind indexes."""
